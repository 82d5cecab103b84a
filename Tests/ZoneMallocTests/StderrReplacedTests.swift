// StderrReplacedTests.swift: zonemalloc's messages go to the stderr the program had when
// the library was loaded, not to whatever file holds fd 2 later.
//
// stderr_replaced.c closes stderr and opens a data file, which gets fd 2. Under
// ZONEMALLOC_STATS=1 the summary already goes to the stderr duplicated at load; the
// profiler's line ("heap profile written to ...", or the error for an unwritable
// ZONEMALLOC_PROF_FILE, with strerror's text) and the guarded-slot report must do the
// same. In each case the data file holds exactly what the program wrote, and the
// message is on the stderr the test captured.
import Foundation
import Testing

@Suite("messages reach the stderr a program started with")
struct StderrReplacedTests {
  /// Runs the program in mode with the environment; its outcome and the data file.
  func run(_ mode: String, _ env: [String: String], optimize: String = "-O2") throws -> (Outcome, String) {
    let program = try TestProgram.build("stderr_replaced.c", linkage: .plain, optimize: optimize)
    let data = try Paths.makeTempDir("stderr") + "/data.txt"
    let outcome = try Subprocess.run([program, data, mode], env: try preloadEnvironment(env))
    return (outcome, (try? String(contentsOfFile: data, encoding: .utf8)) ?? "<missing>")
  }

  @Test func theSummarySkipsAReplacedStderr() throws {
    let (outcome, data) = try run("exit", ["ZONEMALLOC_STATS": "1"])
    expectSuccess(outcome)
    #expect(data == "data\n", "the data file: \(data)")
    #expect(outcome.stderr.hasPrefix("zonemalloc: statistics for pid \(outcome.pid) "), "\(outcome)")
  }

  @Test func profilerMessagesSkipAReplacedStderr() throws {
    let dir = try Paths.makeTempDir("stderrprof")
    let (written, data) = try run("exit", ["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_FILE": dir + "/p.%p.prof"])
    expectSuccess(written)
    #expect(data == "data\n", "the data file: \(data)")
    #expect(written.stderr.contains("zonemalloc: heap profile written to \(dir)/p.\(written.pid).prof"), "\(written)")
    let unwritable = "/nonexistent/dir/p.prof"
    let (failed, failedData) = try run("exit", ["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_FILE": unwritable])
    expectSuccess(failed)
    #expect(failedData == "data\n", "the data file: \(failedData)")
    #expect(failed.stderr.contains("zonemalloc: cannot write the heap profile to \(unwritable): "
                                   + "No such file or directory"), "\(failed)")
  }

  @Test func theGuardReportSkipsAReplacedStderr() throws {
    let (outcome, data) = try run("uaf", ["ZONEMALLOC_GUARD_RATE": "1"], optimize: "-O0")
    #expect(outcome.signal == SIGABRT, "\(outcome)")
    #expect(data == "data\n", "the data file: \(data)")
    #expect(outcome.stderr.contains("zonemalloc: use-after-free on address 0x"), "\(outcome)")
  }
}
