// FaultInjectionTests.swift: the allocator under failing mmap, munmap, mremap and madvise
// (issue 23, part 2), through Tests/faults/fault_shim.c preloaded in front of it.
//
// - 1% of the library's calls fail: the stress programs (stress_handoff, thread_storm,
//   fork_threads, linked), fault_churn (every API call, NULLs tolerated, recovery checked
//   with the injection paused) and the drop-in commands (python3, perl, bash, sort, git,
//   as_limit with 32 threads, preloaded) each finish with the output they have without
//   failures, or exit non-zero with an out-of-memory message of their own; never a signal,
//   a timeout (a hang), or a message of corruption. Each run has its own seed, named in
//   a failure (ZF_FAULT_SEED) with the command to reproduce it.
// - The Nth call fails, for every N after the library's constructor: fault_churn with two
//   threads survives each, and allocates again once the calls succeed.
// - Each of the constructor's calls fails once: the allocator boots again at the next
//   allocation and works (the 1% runs spare any constructor call found fatal that way,
//   ZF_FAULT_SPARE; none is).
// - madvise(MADV_DONTNEED) fails often while depots return empty slabs and spans: calloc
//   never hands out old bytes (a unit whose pages did not go back stays dirty).
// The default run counts keep the suite short; ZONEMALLOC_FAULTS_FULL=1 runs the issue's
// 20 runs per program and 150 values of N (about 10 minutes).
import Foundation
import Testing

extension Heavy {
  @Suite("injected system-call failures")
  struct FaultInjectionTests {
    static let full = ProcessInfo.processInfo.environment["ZONEMALLOC_FAULTS_FULL"] == "1"

    static func shim() throws -> String {
      try TestProgram.build("../faults/fault_shim.c", linkage: .plain, flags: ["-shared", "-fPIC"])
    }

    static func churn() throws -> String { try TestProgram.build("../faults/fault_churn.c", linkage: .plain) }

    /// How many of the library's calls its constructor makes (the shim's trace lines
    /// before fault_churn's "main" line).
    static func constructorCalls() throws -> Int {
      let outcome = try Subprocess.run([try churn(), "0"], env: try preloaded(["ZF_FAULT_TRACE": "1"]), timeout: 30)
      let lines = outcome.stderr.split(separator: "\n")
      guard outcome.succeeded, let main = lines.firstIndex(of: "fault_churn: main") else {
        throw HarnessError("cannot count the constructor's calls:\n\(outcome)")
      }
      return lines[..<main].filter { $0.hasPrefix("fault_shim: call ") }.count
    }

    /// Runs fault_churn with the Nth call of the library failing; nil when it survived
    /// and allocated again afterwards, else the outcome.
    static func nthFailure(_ n: Int, threads: String) throws -> String? {
      let outcome = try Subprocess.run([try churn(), threads, "2000"], env: try preloaded(["ZF_FAULT_NTH": "\(n)"]),
                                       timeout: 60)
      let ok = outcome.succeeded && outcome.stdout.contains("recovered=1")
      return ok ? nil : "ZF_FAULT_NTH=\(n): \(outcome)"
    }

    /// The constructor's calls whose failure the allocator does not survive.
    static func fatalConstructorCalls() throws -> [Int] {
      try (1...constructorCalls()).filter { try nthFailure($0, threads: "0") != nil }
    }

    /// The environment that puts the shim in front of the library (linked programs load
    /// the library themselves), plus `extra`.
    static func preloaded(_ extra: [String: String], linked: Bool = false) throws -> [String: String] {
      let preload = linked ? try shim() : "\(try shim()) \(try Paths.library())"
      return ["LD_PRELOAD": preload].merging(extra) { _, new in new }
    }

    /// A program run under failures: how to start it and what a correct run prints.
    struct Case: CustomStringConvertible {
      let name: String
      let argv: [String]
      let linked: Bool
      let env: [String: String]
      let correct: (Outcome) -> Bool
      var description: String { name }
    }

    static func prefix(_ p: String) -> (Outcome) -> Bool { { ($0.stdoutLines.last ?? "").hasPrefix(p) } }

    static func cases(dir: String) throws -> [Case] {
      func linked(_ source: String) throws -> String { try TestProgram.build(source, linkage: .linked) }
      var all = [
        Case(name: "stress_handoff", argv: [try linked("stress_handoff.c"), "8", "1"], linked: true, env: [:],
             correct: prefix("stress ok threads=8 ")),
        Case(name: "thread_storm", argv: [try linked("thread_storm.c"), "2000", "100"], linked: true, env: [:],
             correct: prefix("storm ok threads=2000 ")),
        Case(name: "fork_threads", argv: [try linked("fork_threads.c"), "20", "4"], linked: true, env: [:],
             correct: prefix("fork ok children=20")),
        Case(name: "fault_churn", argv: [try churn(), "4", "4000"], linked: false, env: [:],
             correct: { $0.stdoutLines.last?.hasPrefix("faults ok threads=4 ") == true && $0.stdout.contains("recovered=1") }),
      ]
      // The drop-in commands: correct is what they print under glibc.
      let dropIn = DropInHeavyTests()
      let commands: [(String, [String])] = [
        ("python3", try dropIn.argv(.python3, dir: dir)), ("perl", try dropIn.argv(.perl, dir: dir)),
        ("bash", try dropIn.argv(.bash, dir: dir)), ("sort", try dropIn.argv(.sort, dir: dir)),
        ("as_limit", try dropIn.argv(.threads32, dir: dir)),
        ("git", ["/bin/sh", "-c", "sh '\(Paths.programs)/git_workload.sh' \"$(mktemp -d -p '\(dir)')\""]),
      ]
      for (name, argv) in commands {
        // Each of the command's processes fails its own calls (ZF_FAULT_PID), not the same
        // call numbers as its siblings: such a run is reproduced only statistically.
        let env = ["PYTHONMALLOC": "malloc", "ZF_FAULT_PID": "1"]
        let reference = try Subprocess.run(argv, env: ["PYTHONMALLOC": "malloc"], timeout: 120)
        guard reference.succeeded else { throw HarnessError("\(name) fails under glibc:\n\(reference)") }
        all.append(Case(name: name, argv: argv, linked: false, env: env, correct: { $0.stdout == reference.stdout }))
      }
      return all
    }

    /// Messages with which a program reports an allocation that failed (dash, git's shell, says
    /// "Out of space").
    static var outOfMemory: Regex<Substring> {
      #/allocation of \d+ bytes failed|malloc\(\d+\) failed|realloc to \d+ failed|MemoryError|[Oo]ut of memory|memory exhausted|[Cc]annot allocate|xmalloc|Out of space/#
    }
    /// Messages that say a block was wrong: never acceptable.
    static var corruption: Regex<Substring> { #/corrupt|changed|lost the contents|not zeroed|does not read back|gave 0x|zonemalloc: /# }

    /// nil when the run is acceptable, else why not.
    static func verdict(_ o: Outcome, _ c: Case) -> String? {
      if o.timedOut { return "hung (killed after \(Int(o.seconds)) s)" }
      if let signal = o.signal { return "was killed by signal \(signal)" }
      if o.stderr.contains(corruption) { return "reported corruption" }
      if o.exitCode == 0 { return c.correct(o) ? nil : "exited 0 with wrong output" }
      return o.stderr.contains(outOfMemory) ? nil : "exited \(o.exitCode ?? -1) without an out-of-memory message"
    }

    /// The library's calls the shim saw, and those it failed, summed over the report
    /// lines of every process of a run ("fault_shim: pid P library 1 candidates C mmap
    /// calls/failed munmap ...").
    static func injected(_ o: Outcome) -> (candidates: Int, failed: Int) {
      var total = (candidates: 0, failed: 0)
      for line in o.stderr.split(separator: "\n") where line.hasPrefix("fault_shim: pid ") {
        let words = line.split(separator: " ")
        if let i = words.firstIndex(of: "candidates"), i + 1 < words.count { total.candidates += Int(words[i + 1]) ?? 0 }
        for word in words where word.contains("/") { total.failed += Int(word.split(separator: "/").last ?? "") ?? 0 }
      }
      return total
    }

    @Test func onePercentOfTheCallsFail() throws {
      let dir = try Paths.makeTempDir("faults")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let spare = try Self.fatalConstructorCalls().map(String.init).joined(separator: ",")
      let runs = Self.full ? 20 : 2
      var lines: [String] = []
      for c in try Self.cases(dir: dir) {
        var clean = 0, enomem = 0, failed: [String] = [], seen = 0, injected = 0
        for run in 0..<runs {
          let seed = "\(run + 1)"
          let env = try Self.preloaded(["ZF_FAULT_RATE": "1", "ZF_FAULT_SEED": seed, "ZF_FAULT_SPARE": spare,
                                        "ZF_FAULT_REPORT": "1"], linked: c.linked).merging(c.env) { _, new in new }
          let outcome = try Subprocess.run(c.argv, env: env, timeout: 180)
          let counts = Self.injected(outcome)
          seen += counts.candidates
          injected += counts.failed
          if let why = Self.verdict(outcome, c) {
            failed.append("seed \(seed): \(why); reproduce with " +
                          env.map { "\($0.key)='\($0.value)'" }.sorted().joined(separator: " ") + "\n\(outcome)")
          } else if outcome.exitCode == 0 {
            clean += 1
          } else {
            enomem += 1
          }
        }
        #expect(failed.isEmpty, "\(c.name): \(failed.count) of \(runs) runs failed:\n\(failed.prefix(2).joined(separator: "\n"))")
        #expect(seen > 0, "\(c.name): the shim saw none of the library's calls (no interposition)")
        lines.append("\(c.name) \(clean) correct, \(enomem) clean ENOMEM, \(failed.count) failed "
                     + "(\(injected) of \(seen) calls failed)")
      }
      print("measured: 1% of mmap/munmap/mremap/madvise failing (sparing call \(spare)), "
            + "\(runs) runs each: " + lines.joined(separator: "; "))
    }

    @Test func everyCallAfterTheConstructorMayFailOnce() throws {
      let first = try Self.constructorCalls() + 1
      let last = first + (Self.full ? 150 : 30)
      var failures: [String] = []
      for n in first...last { if let f = try Self.nthFailure(n, threads: "2") { failures.append(f) } }
      #expect(failures.isEmpty, "\(failures.count) of \(last - first + 1) calls:\n\(failures.prefix(3).joined(separator: "\n"))")
      print("measured: Nth call fails, N = \(first)...\(last) (fault_churn, 2 threads): \(failures.count) failures")
    }

    @Test
    func aFailedConstructorCallIsNotPermanent() throws {
      let calls = try Self.constructorCalls()
      let failures = try (1...calls).compactMap { try Self.nthFailure($0, threads: "0") }
      #expect(failures.isEmpty, "\(failures.count) of the constructor's \(calls) calls:\n\(failures.joined(separator: "\n"))")
    }

    @Test
    func aFailedMadviseNeverMakesCallocReturnOldBytes() throws {
      var failures: [String] = []
      for seed in 1...4 {
        let env = try Self.preloaded(["ZONEMALLOC_RELEASE_DELAY": "1", "ZF_FAULT_CALLS": "madvise", "ZF_FAULT_RATE": "20",
                                      "ZF_FAULT_SEED": "\(seed)"])
        let outcome = try Subprocess.run([try Self.churn(), "4", "6000"], env: env, timeout: 120)
        if !outcome.succeeded { failures.append("ZF_FAULT_SEED=\(seed): \(outcome)") }
      }
      #expect(failures.isEmpty, "\(failures.count) of 4 runs:\n\(failures.prefix(2).joined(separator: "\n"))")
    }
  }
}
