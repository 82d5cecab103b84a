// SummaryTests.swift: where the ZONEMALLOC_STATS summary goes and what it holds, with
// the library preloaded into real programs (Sources/ZoneCore/Reporting/Summary.swift).
//
// - It arrives when the program closed fd 2 first (dash leaves through _exit, coreutils
//   close stderr in an atexit handler), and never lands in a file the program has put
//   on its stderr descriptor since.
// - ZONEMALLOC_STATS=<path with %p> appends it to that file, not to stderr, even when the
//   program has overwritten its environment strings (setproctitle).
// - Both formats hold every field of zm_stats_t, read from include/zonemalloc.h; the JSON
//   form is parsed by python3's json module.
// - The header names the program (comm) beside the pid; ZONEMALLOC_STATS_PID keeps
//   every other process quiet.
import Foundation
import Testing

/// The field names of zm_stats_t, in order, from the public header.
enum StatsFields {
  static func fromHeader() throws -> [String] {
    let header = try String(contentsOfFile: Paths.include + "/zonemalloc.h", encoding: .utf8)
    guard let start = header.range(of: "typedef struct zm_stats {"),
          let end = header.range(of: "} zm_stats_t;", range: start.upperBound..<header.endIndex) else {
      throw HarnessError("no zm_stats_t in zonemalloc.h")
    }
    return header[start.upperBound..<end.lowerBound].split(separator: "\n").compactMap { line in
      let words = line.split(whereSeparator: { $0 == " " || $0 == ";" })
      return words.first == "uint64_t" && words.count > 1 ? String(words[1]) : nil
    }
  }
}

@Suite("statistics summary: destinations and formats")
struct SummaryTests {
  /// The header line of a text block: "zonemalloc: statistics for pid N (comm)".
  static func headers(_ text: String) -> [String] {
    text.split(separator: "\n").filter { $0.hasPrefix("zonemalloc: statistics for pid ") }.map(String.init)
  }

  @Test func arrivesWhenTheShellClosedStderr() throws {
    let outcome = try Subprocess.run(["/bin/sh", "-c", "exec 2>&-; true"],
                                     env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
    expectSuccess(outcome)
    #expect(Self.headers(outcome.stderr) == ["zonemalloc: statistics for pid \(outcome.pid) (sh)"], "\(outcome)")
    _ = StatsSummary.require(outcome)
  }

  @Test func arrivesWhenCoreutilsCloseStderrAtExit() throws {
    let outcome = try Subprocess.run(["ls", "/"], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
    expectSuccess(outcome)
    #expect(Self.headers(outcome.stderr) == ["zonemalloc: statistics for pid \(outcome.pid) (ls)"], "\(outcome)")
    #expect((StatsSummary.require(outcome)["malloc_count"] ?? 0) > 0, "\(outcome)")
  }

  @Test func neverWritesIntoAFileThatReplacedStderr() throws {
    let dir = try Paths.makeTempDir("replaced")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // The saved duplicate is fd 3 (the lowest free): the shell replaces it and fd 2.
    let script = "exec 3>'\(dir)/three' 2>'\(dir)/two'; exit 0"
    let outcome = try Subprocess.run(["bash", "-c", script], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
    expectSuccess(outcome)
    for name in ["three", "two"] {
      let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
      #expect(text.isEmpty, "the summary went into \(name):\n\(text)")
    }
  }

  @Test func pathWithPidGetsTheSummaryInstead() throws {
    let dir = try Paths.makeTempDir("statsfile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let program = try TestProgram.build("stats_balanced.c", linkage: .plain)
    let outcome = try Subprocess.run([program, "1000"],
                                     env: try preloadEnvironment(["ZONEMALLOC_STATS": dir + "/stats-%p.txt"]))
    expectSuccess(outcome, stdout: ["balanced 3000"])
    #expect(StatsSummary.parse(outcome.stderr).isEmpty, "summary on stderr too:\n\(outcome)")
    let text = try String(contentsOfFile: dir + "/stats-\(outcome.pid).txt", encoding: .utf8)
    #expect(Self.headers(text).count == 1, "\(text)")
    let fields = StatsSummary.parse(text)
    #expect(fields["malloc_count"] == fields["free_count"] && (fields["malloc_count"] ?? 0) >= 3000, "\(text)")
  }

  @Test func pathSurvivesTheProgramOverwritingItsEnvironment() throws {
    let dir = try Paths.makeTempDir("setproctitle")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let program = try TestProgram.build("overwrites_environment.c", linkage: .plain)
    let outcome = try Subprocess.run(["/bin/sh", "-c", "cd '\(dir)' && exec '\(program)'"],
                                     env: try preloadEnvironment(["ZONEMALLOC_STATS": dir + "/%p.txt"]))
    expectSuccess(outcome)
    #expect(outcome.stdout.hasPrefix("overwritten "), "\(outcome)")
    let files = try FileManager.default.contentsOfDirectory(atPath: dir)
    #expect(files == ["\(outcome.pid).txt"], "files in the program's folder: \(files)")
    let text = (try? String(contentsOfFile: dir + "/\(outcome.pid).txt", encoding: .utf8)) ?? ""
    #expect(Self.headers(text).count == 1, "\(text)")
  }

  @Test func unwritablePathFallsBackToStderrWithAWarning() throws {
    let outcome = try Subprocess.run(["/bin/true"],
                                     env: try preloadEnvironment(["ZONEMALLOC_STATS": "/nonexistent/dir/s.txt"]))
    expectSuccess(outcome)
    #expect(outcome.stderr.hasPrefix("zonemalloc: cannot open ZONEMALLOC_STATS=/nonexistent/dir/s.txt"), "\(outcome)")
    _ = StatsSummary.require(outcome)
  }

  /// A message longer than the 128-byte line buffer is cut, but still ends its line.
  @Test func aCutWarningStillEndsItsLine() throws {
    let junk = String(repeating: "junk", count: 30)
    let outcome = try Subprocess.run(["/bin/true"], env: try preloadEnvironment(
      ["ZONEMALLOC_STATS": junk, "ZONEMALLOC_LIMIT": "lots"]))
    expectSuccess(outcome)
    let lines = outcome.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 3 && lines[2].isEmpty, "\(outcome)")
    #expect(lines.prefix(2).allSatisfy { $0.hasPrefix("zonemalloc: ignoring ZONEMALLOC_") }, "\(outcome)")
  }

  @Test func textHasEveryField() throws {
    let program = try TestProgram.build("stats_balanced.c", linkage: .plain)
    let outcome = try Subprocess.run([program, "1000"], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
    expectSuccess(outcome, stdout: ["balanced 3000"])
    let fields = StatsSummary.parse(outcome.stderr)
    let names = try StatsFields.fromHeader()
    #expect(names.count >= 36 && names.last == "huge_splits", "header fields: \(names)")
    #expect(names.filter { fields[$0] == nil }.isEmpty, "missing: \(names.filter { fields[$0] == nil })\n\(outcome)")
    #expect(fields["version"] == 3)
    #expect((fields["peak_mapped"] ?? 0) >= (fields["mapped"] ?? .max) && (fields["peak_mapped"] ?? 0) > 0, "\(fields)")
  }

  @Test func jsonParsesWithEveryField() throws {
    let dir = try Paths.makeTempDir("json")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let file = dir + "/stats.json"
    let env = ["ZONEMALLOC_STATS": file, "ZONEMALLOC_STATS_FORMAT": "json", "PYTHONMALLOC": "malloc"]
    let run = try Subprocess.run(["python3", "-c", "print(len({i: str(i) for i in range(50000)}))"],
                                 env: try preloadEnvironment(env))
    expectSuccess(run, stdout: ["50000"])
    // Unpreloaded python3 reads it: each object in the file, one per process.
    let reader = """
      import json, sys
      text, decoder, i, objects = open(sys.argv[1]).read(), json.JSONDecoder(), 0, []
      while i < len(text.rstrip()):
          obj, i = decoder.raw_decode(text, i)
          objects.append(obj)
          while i < len(text) and text[i].isspace(): i += 1
      for obj in objects: print(obj["pid"], obj["program"], " ".join(k for k, v in obj.items() if isinstance(v, int)))
      """
    let parsed = try Subprocess.run(["python3", "-c", reader, file])
    expectSuccess(parsed)
    let names = try StatsFields.fromHeader()
    let python = parsed.stdoutLines.first { $0.hasPrefix("\(run.pid) ") }
    #expect(python != nil, "no object for the python process \(run.pid):\n\(parsed)")
    guard let words = python?.split(separator: " ").map(String.init) else { return }
    let keys = Set(words.dropFirst(2))
    #expect(Set(names + ["pid"]) == keys, "keys \(keys.sorted()) vs fields \(names)")
    #expect(words[1] == "python3" || words[1].hasPrefix("python"), "program \(words[1])")
  }

  @Test func onlyTheNamedProcessPrints() throws {
    // The outer shell execs an inner one with ZONEMALLOC_STATS_PID set to its pid (exec
    // keeps it); the inner shell's two children must stay quiet.
    let script = #"ZONEMALLOC_STATS_PID=$$ exec /bin/sh -c '/bin/true; /bin/true; exit 0'"#
    let outcome = try Subprocess.run(["/bin/sh", "-c", script], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
    expectSuccess(outcome)
    #expect(Self.headers(outcome.stderr) == ["zonemalloc: statistics for pid \(outcome.pid) (sh)"], "\(outcome)")
  }

  @Test func everyProcessPrintsWithoutAPid() throws {
    let outcome = try Subprocess.run(["/bin/sh", "-c", "/bin/true; /bin/true; exit 0"],
                                     env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
    expectSuccess(outcome)
    #expect(Self.headers(outcome.stderr).map { $0.hasSuffix("(true)") } == [true, true, false], "\(outcome)")
  }
}
