// GuardSamplingTests.swift: guarded sampling at the rates programs run with (issue 16).
//
// - The catch rate: Tests/programs/guard_rate_runs.c runs a program that frees a 64-byte
//   block and reads it, 4,000 times, each a fresh process (about 20 s). At rate N an
//   allocation of a chunk of s bytes is guarded with probability
//   p = (1 - exp(-s / 16N)) x 16 / s (docs/CONFIGURATION.md); at N = 20 and s = 64 that
//   is 4.53%. The number of reports is binomial(4000, p): the test accepts it within 5
//   standard deviations of 4000 p (181 +- 66; a correct allocator fails this about once
//   in 1.7 million runs), and no run may end in anything but silence or a
//   use-after-free report naming that block. The default rate (about one in 100,000)
//   would need millions of runs to tell anything; the issue allows a higher rate.
// - Real programs: python3, perl, git, g++ and sqlite3 under LD_PRELOAD, at the default
//   rate and at rate 50, print exactly what they print under glibc; at rate 50 their
//   summaries must count guarded blocks (thousands each).
import Foundation
import Testing

extension Heavy {
  @Suite("guarded sampling at program rates")
  struct GuardSamplingTests {
    static let rate = 20.0
    static let runs = 4000

    @Test func useAfterFreeIsCaughtAtTheSamplingRate() throws {
      let program = try TestProgram.build("guard_rate_runs.c", linkage: .plain)
      let env = try preloadEnvironment(["ZONEMALLOC_GUARD_RATE": "\(Int(Self.rate))"])
      let outcome = try Subprocess.run([program, "\(Self.runs)"], env: env, timeout: 180)
      let fields = expectReport(outcome, prefix: "runs=")
      let caught = Double(fields["caught"] ?? -1)
      let p = (1 - exp(-64 / (16 * Self.rate))) * 16 / 64
      let expected = Double(Self.runs) * p
      let bound = 5 * (expected * (1 - p)).squareRoot()
      #expect(abs(caught - expected) <= bound,
              "caught \(caught) of \(Self.runs), expected \(expected) +- \(bound):\n\(outcome)")
      #expect(fields["false"] == 0, "false reports:\n\(outcome)")
    }

    /// A program's stdout without preloading, then preloaded at the default rate and at
    /// rate 50: the three must be equal and non-empty, and every run must succeed. At rate
    /// 50 the processes' summaries (one file each) must count guarded blocks: the output
    /// matched with guarding at work, not with guarding silently off.
    func expectSameOutput(_ argv: [String], env: [String: String] = [:], input: String? = nil,
                          sourceLocation: SourceLocation = #_sourceLocation) throws {
      func run(_ extra: [String: String]) throws -> Outcome {
        let command = input.map { ["/bin/sh", "-c", "exec \"$@\" < '\($0)'", "sh"] + argv } ?? argv
        return try Subprocess.run(command, env: env.merging(extra) { _, new in new }, timeout: 300)
      }
      let glibc = try run([:])
      expectSuccess(glibc, sourceLocation: sourceLocation)
      #expect(!glibc.stdout.isEmpty, "no output:\n\(glibc)", sourceLocation: sourceLocation)
      expectSuccess(try run(try preloadEnvironment()), stdout: glibc.stdoutLines, sourceLocation: sourceLocation)
      let summaries = try Paths.makeTempDir("guarded")
      let guarded = try run(try preloadEnvironment(["ZONEMALLOC_GUARD_RATE": "50",
                                                    "ZONEMALLOC_STATS": summaries + "/%p.txt"]))
      expectSuccess(guarded, stdout: glibc.stdoutLines, sourceLocation: sourceLocation)
      var blocks = 0
      for file in try FileManager.default.contentsOfDirectory(atPath: summaries) {
        let text = try String(contentsOfFile: summaries + "/" + file, encoding: .utf8)
        for line in text.split(separator: "\n") where line.hasPrefix("zonemalloc: guarded_allocs ") {
          blocks += Int(line.split(separator: " ")[2]) ?? 0
        }
      }
      #expect(blocks > 0, "no block was guarded at rate 50", sourceLocation: sourceLocation)
      print("measured: \(argv.first ?? "") at ZONEMALLOC_GUARD_RATE=50: \(blocks) guarded blocks, output as under glibc")
    }

    @Test func python() throws {
      let script = """
        import sys; sys.path.insert(0, '\(Paths.programs)'); import workload
        for step in (workload.dicts, workload.strings, workload.threads, workload.forked): print(step(), flush=True)
        """
      try expectSameOutput(["python3", "-c", script], env: ["PYTHONMALLOC": "malloc"])
    }

    @Test func perl() throws {
      try expectSameOutput(["perl", Paths.programs + "/workload.pl"])
    }

    @Test func git() throws {
      let dir = try Paths.makeTempDir("git")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      // Each run makes its own repository under dir.
      try expectSameOutput(["/bin/sh", "-c", "sh '\(Paths.programs)/git_workload.sh' \"$(mktemp -d -p '\(dir)')\""])
    }

    @Test func gxx() throws {
      let dir = try Paths.makeTempDir("gxx")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      // g++ compiles (every compiler process preloaded alike), then the program runs.
      let script = """
        out=$(mktemp -p '\(dir)') && g++ -O2 -pthread '\(Paths.programs)/threaded_workload.cpp' -o "$out" && "$out"
        """
      try expectSameOutput(["/bin/sh", "-c", script])
    }

    @Test func sqlite() throws {
      try expectSameOutput(["sqlite3", ":memory:"], input: Paths.programs + "/workload.sql")
    }
  }
}
