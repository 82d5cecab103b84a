// PreloadTests.swift: real programs run with LD_PRELOAD=<library>, each checked for exit
// status 0 and its exact, allocator-independent output: a probe proving the preload is
// active, python3 (dicts, strings, threads, multiprocessing with fork), perl, a git
// session, g++ compiling a threaded C++ program (g++ itself preloaded) and that program,
// a sort pipeline, and the Swift program zonemalloc-host.
import Foundation
import Testing

extension Heavy {
  @Suite("real programs under LD_PRELOAD")
  struct PreloadTests {
    /// The value zonemalloc-host prints; Sources/ZoneHost computes it independently too.
    static let hostChecksum = "zonemalloc-host ok 205877130444"

    @Test func preloadIsActive() throws {
      let probe = try TestProgram.build("preload_probe.c", linkage: .plain)
      let outcome = try Subprocess.run([probe], env: try preloadEnvironment())
      expectSuccess(outcome)
      #expect(outcome.stdout.hasPrefix("preload active "), "\(outcome)")
    }

    @Test func python() throws {
      // PYTHONMALLOC=malloc: every Python object, not only large ones, comes from malloc.
      let env = try preloadEnvironment(["PYTHONMALLOC": "malloc"])
      let outcome = try Subprocess.run(["python3", Paths.programs + "/workload.py"], env: env)
      expectSuccess(outcome, stdout: [
        "preload True", "dicts 200000 4355549 199853", "strings 593018 100000 27bfc",
        "threads 202561890", "fork 1330668333000",
      ])
    }

    @Test func perl() throws {
      let outcome = try Subprocess.run(["perl", Paths.programs + "/workload.pl"], env: try preloadEnvironment())
      expectSuccess(outcome, stdout: ["hash 133334 1399988", "string 599999 00000 99999 2800"])
    }

    @Test func git() throws {
      let dir = try Paths.makeTempDir("git")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let outcome = try Subprocess.run(["/bin/sh", Paths.programs + "/git_workload.sh", dir],
                                       env: try preloadEnvironment())
      expectSuccess(outcome, stdout: ["commits 3", "status clean", "diff 1 file changed, 1000 insertions(+)"])
    }

    @Test func gxxCompilesAndRunsAThreadedProgram() throws {
      let dir = try Paths.makeTempDir("cxx")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let binary = dir + "/threaded_workload"
      let compile = try Subprocess.run(
        ["g++", "-O2", "-pthread", Paths.programs + "/threaded_workload.cpp", "-o", binary],
        env: try preloadEnvironment(), timeout: 180)
      expectSuccess(compile)
      guard compile.succeeded else { return }
      expectSuccess(try Subprocess.run([binary], env: try preloadEnvironment()), stdout: ["cpp ok 8 22755200"])
    }

    @Test func sortPipeline() throws {
      let tmp = try Paths.makeTempDir("sort")
      defer { try? FileManager.default.removeItem(atPath: tmp) }
      let script = """
        seq 1 200000 | shuf | sort -n -S 2M -T '\(tmp)' --parallel=2 \
          | awk 'NR == 1 { first = $1 } { sum += $1 } END { printf "%d %d %d %.0f\\n", first, $1, NR, sum }'
        """
      expectSuccess(try Subprocess.shell(script, env: try preloadEnvironment()), stdout: ["1 200000 200000 20000100000"])
    }

    @Test func swiftHostProgram() throws {
      let outcome = try Subprocess.run([try Paths.host()], env: try preloadEnvironment())
      expectSuccess(outcome, stdout: [Self.hostChecksum])
    }
  }
}
