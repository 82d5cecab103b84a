// StatsTests.swift: the ZONEMALLOC_STATS=1 summary printed to stderr at exit.
//
// The summary is lines of the form `zonemalloc: <name> <value> [anything]`, names being
// the field names of zm_stats_t (include/zonemalloc.h), for example
// `zonemalloc: allocated 1234 (1.2 KiB)`. `StatsSummary.parse` reads them by name (other
// lines are ignored). The tests check python3's summary for consistency
// (allocated <= active <= mapped) and that a C program that frees everything it
// allocated ends with exactly as many frees as mallocs and nothing allocated. (libnuma,
// whose constructor leaks a few blocks, is loaded only when NUMA placement is on, and
// the background thread's own blocks are not counted as the program's.)
import Foundation
import Testing

enum StatsSummary {
  static let linePrefix = "zonemalloc: "
  static let requiredFields = ["allocated", "active", "mapped", "malloc_count", "free_count"]

  /// The `name value` pairs of every `zonemalloc: <name> <value> ...` line whose value is an integer.
  static func parse(_ stderr: String) -> [String: UInt64] {
    var fields: [String: UInt64] = [:]
    for line in stderr.split(separator: "\n") where line.hasPrefix(linePrefix) {
      let words = line.dropFirst(linePrefix.count).split(separator: " ")
      if words.count >= 2, let value = UInt64(words[1]) { fields[String(words[0])] = value }
    }
    return fields
  }

  /// Parses and expects every required field to be present.
  static func require(_ outcome: Outcome, sourceLocation: SourceLocation = #_sourceLocation) -> [String: UInt64] {
    let fields = parse(outcome.stderr)
    let missing = requiredFields.filter { fields[$0] == nil }
    #expect(missing.isEmpty, "summary lacks \(missing):\n\(outcome)", sourceLocation: sourceLocation)
    return fields
  }
}

@Suite("ZONEMALLOC_STATS summary")
struct StatsTests {
  @Test func pythonSummaryIsConsistent() throws {
    let script = "d = {i: str(i) * 3 for i in range(100000)}; print(len(d), sum(map(len, d.values())))"
    let env = try preloadEnvironment(["ZONEMALLOC_STATS": "1", "PYTHONMALLOC": "malloc"])
    let outcome = try Subprocess.run(["python3", "-c", script], env: env)
    expectSuccess(outcome, stdout: ["100000 1466670"])
    let stats = StatsSummary.require(outcome)
    guard let allocated = stats["allocated"], let active = stats["active"], let mapped = stats["mapped"] else { return }
    #expect(allocated <= active && active <= mapped, "allocated \(allocated) active \(active) mapped \(mapped)")
    #expect((stats["malloc_count"] ?? 0) > 100_000, "python made 100000 strings: \(stats)")
  }

  /// Runs stats_balanced allocating `count` blocks per round, with the summary on.
  func balancedRun(_ count: Int) throws -> [String: UInt64] {
    let program = try TestProgram.build("stats_balanced.c", linkage: .plain)
    let outcome = try Subprocess.run([program, "\(count)"], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
    expectSuccess(outcome, stdout: ["balanced \(3 * count)"])
    return StatsSummary.require(outcome)
  }

  @Test func balancedProgramFreesAsManyAsItAllocates() throws {
    let stats = try balancedRun(5000)
    guard let mallocs = stats["malloc_count"], let frees = stats["free_count"],
          let allocated = stats["allocated"] else { return }
    #expect(mallocs >= 15000, "15000 blocks allocated, malloc_count \(mallocs)")
    #expect(mallocs == frees, "a program that frees everything: \(mallocs) mallocs, \(frees) frees")
    #expect(allocated == 0, "nothing is live at exit, allocated \(allocated)")
  }

  @Test func noSummaryWithoutTheVariable() throws {
    let program = try TestProgram.build("stats_balanced.c", linkage: .plain)
    let outcome = try Subprocess.run([program, "100"], env: try preloadEnvironment())
    expectSuccess(outcome, stdout: ["balanced 300"])
    #expect(StatsSummary.parse(outcome.stderr).isEmpty, "summary printed without ZONEMALLOC_STATS:\n\(outcome)")
  }
}
