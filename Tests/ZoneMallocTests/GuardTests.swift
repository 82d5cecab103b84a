// GuardTests.swift: guarded sampling (ZONEMALLOC_GUARD_RATE), issue 16.
//
// Tests/programs/guard_faults.c, run under LD_PRELOAD with ZONEMALLOC_GUARD_RATE=1 (every
// allocation that fits a slot is guarded), misuses a 64-byte block: a read and a write
// after free, a one-byte overflow (64 is a multiple of 16, so the block ends flush
// against the guard page), a one-byte underflow with ZONEMALLOC_GUARD_UNDERFLOW=1, a
// double free and an invalid free. Each run must die of SIGABRT with a report that names
// the kind, the faulting address the program printed, the block and its size, the
// allocating and freeing stacks with the program's own functions (guard_allocate,
// guard_release) in them, and the faulting access's stack with guard_touch first. The
// program is built with -O0, so the misuses stay as written, and without -rdynamic: the
// reports name its functions from its file's static symbol table (GuardSymbolTests
// checks the names and lines closely). The same program checks that a handler of its own still gets the faults that
// are not in guarded slots, and that guarded blocks behave like any other.
// Tests/programs/guard_rate_runs.c measures how often a use-after-free is caught.
import Foundation
import Testing

/// What the guarded reports say. Align these with Sampling/GuardReport.swift.
enum GuardMessages {
  static let allocated = "zonemalloc: allocated by thread "
  static let freed = "zonemalloc: freed by thread "
  static let notFreed = "zonemalloc: not freed"
  static let badCall = "zonemalloc: the bad call was made by thread "
  static let accessed = "zonemalloc: accessed by thread "

  /// "0x... is 8 bytes into the 64-byte block at 0x... (guarded slot"
  static func block(_ size: Int, at block: String, offset: String) -> String {
    "is \(offset) the \(size)-byte block at \(block) (guarded slot"
  }
}

/// "block=0x... size=64 fault=0x..." from guard_faults' stdout.
struct Announced {
  let block: String
  let size: Int
  let fault: String

  init(_ outcome: Outcome) throws {
    let line = try #require(outcome.stdoutLines.first { $0.hasPrefix("block=") }, "nothing announced:\n\(outcome)")
    let fields = Dictionary(uniqueKeysWithValues: line.split(separator: " ").compactMap { word -> (String, String)? in
      let parts = word.split(separator: "=", maxSplits: 1)
      return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
    })
    block = fields["block"] ?? ""
    size = Int(fields["size"] ?? "") ?? -1
    fault = fields["fault"] ?? ""
  }
}

@Suite("guarded sampling")
struct GuardTests {
  static func program() throws -> String {
    try TestProgram.build("guard_faults.c", linkage: .plain, optimize: "-O0")
  }

  static func run(_ mode: String, _ env: [String: String] = [:]) throws -> Outcome {
    try Subprocess.run([try program(), mode],
                       env: try preloadEnvironment(["ZONEMALLOC_GUARD_RATE": "1"].merging(env) { _, new in new }),
                       timeout: 30)
  }

  /// The lines of a report section: from its title to the next "zonemalloc: <word>" title.
  static func section(_ stderr: String, _ title: String) -> String {
    guard let start = stderr.range(of: title) else { return "" }
    let rest = stderr[start.upperBound...]
    let lines = rest.split(separator: "\n").dropFirst().prefix { $0.hasPrefix("zonemalloc:   ") }
    return lines.joined(separator: "\n")
  }

  static let faults: [(mode: String, kind: String, offset: String, env: [String: String])] = [
    ("uaf_read", "use-after-free", "8 bytes into", [:]),
    ("uaf_write", "use-after-free", "8 bytes into", [:]),
    ("overflow", "heap-buffer-overflow", "0 bytes past the end of", [:]),
    ("underflow", "heap-buffer-underflow", "1 byte before", ["ZONEMALLOC_GUARD_UNDERFLOW": "1"]),
  ]

  @Test(arguments: faults)
  func faultIsReported(mode: String, kind: String, offset: String, env: [String: String]) throws {
    let outcome = try Self.run(mode, env)
    #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    let announced = try Announced(outcome)
    let access = mode.hasSuffix("read") ? "(read)" : "(write)"
    #expect(outcome.stderr.contains("zonemalloc: \(kind) on address \(announced.fault) \(access)"),
            "no \(kind) report for \(announced.fault):\n\(outcome)")
    #expect(outcome.stderr.contains(GuardMessages.block(64, at: announced.block, offset: offset)),
            "the report does not place the address in the block:\n\(outcome)")
    #expect(Self.section(outcome.stderr, GuardMessages.allocated).contains(" guard_allocate+"),
            "the allocation stack does not name guard_allocate:\n\(outcome)")
    #expect(Self.section(outcome.stderr, GuardMessages.accessed).hasPrefix("zonemalloc:   #0 ")
            && Self.section(outcome.stderr, GuardMessages.accessed).split(separator: "\n").first?.contains(" guard_touch+") == true,
            "the access stack does not start in guard_touch:\n\(outcome)")
    if kind == "use-after-free" {
      #expect(Self.section(outcome.stderr, GuardMessages.freed).contains(" guard_release+"),
              "the free stack does not name guard_release:\n\(outcome)")
    } else {
      #expect(outcome.stderr.contains(GuardMessages.notFreed), "a live block must be reported not freed:\n\(outcome)")
    }
  }

  static let badFrees: [(mode: String, header: String, offset: String)] = [
    ("double_free", "free(): double free of", "0 bytes into"),
    ("invalid_free", "free(): invalid pointer", "16 bytes into"),
  ]

  @Test(arguments: badFrees)
  func badFreeIsReported(mode: String, header: String, offset: String) throws {
    let outcome = try Self.run(mode)
    #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    let announced = try Announced(outcome)
    #expect(outcome.stderr.contains("zonemalloc: \(header) \(announced.fault)"), "no `\(header)` line:\n\(outcome)")
    #expect(outcome.stderr.contains(GuardMessages.block(64, at: announced.block, offset: offset)),
            "the report does not describe the block:\n\(outcome)")
    #expect(Self.section(outcome.stderr, GuardMessages.allocated).contains(" guard_allocate+"), "\(outcome)")
    #expect(Self.section(outcome.stderr, GuardMessages.badCall).contains(" guard_release+"), "\(outcome)")
    if mode == "double_free" {
      #expect(Self.section(outcome.stderr, GuardMessages.freed).contains(" guard_release+"), "\(outcome)")
    }
  }

  @Test func programHandlerStillGetsOtherFaults() throws {
    let outcome = try Self.run("own_handler")
    expectSuccess(outcome)
    #expect(outcome.stdout.contains("own handler ran"), "the program's handler did not run:\n\(outcome)")
    #expect(!outcome.stderr.contains("zonemalloc"), "a fault outside the slots was reported:\n\(outcome)")
  }

  @Test func programHandlerDoesNotHideAReport() throws {
    let outcome = try Self.run("own_handler_uaf")
    #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    #expect(outcome.stderr.contains("zonemalloc: use-after-free on address"), "\(outcome)")
    #expect(!outcome.stdout.contains("own handler ran"), "the program's handler got a guarded fault:\n\(outcome)")
  }

  @Test func otherFaultsKeepTheDefaultAction() throws {
    let outcome = try Self.run("wild_fault")
    #expect(outcome.signal == SIGSEGV, "expected death by SIGSEGV:\n\(outcome)")
    #expect(!outcome.stderr.contains("zonemalloc"), "a fault outside the slots was reported:\n\(outcome)")
  }

  @Test(arguments: ["0", "1"])
  func guardedBlocksBehaveLikeOthers(underflow: String) throws {
    let outcome = try Self.run("correct", ["ZONEMALLOC_GUARD_UNDERFLOW": underflow, "ZONEMALLOC_STATS": "1"])
    expectSuccess(outcome, stdout: ["guard correct ok"])
    let stats = StatsSummary.parse(outcome.stderr)
    #expect((stats["guarded_allocs"] ?? 0) >= 300, "most blocks should have been guarded: \(stats)")
  }

  /// Slots claimed and quarantined by several threads at once, blocks freed by threads
  /// that did not allocate them: every block keeps its contents, every guarded block is
  /// freed exactly once.
  @Test func guardedBlocksAcrossThreads() throws {
    let outcome = try Self.run("threads", ["ZONEMALLOC_GUARD_RATE": "2", "ZONEMALLOC_STATS": "1"])
    expectSuccess(outcome, stdout: ["guard threads ok"])
    let stats = StatsSummary.parse(outcome.stderr)
    let allocs = stats["guarded_allocs"] ?? 0
    #expect(allocs > 1000, "too few guarded blocks: \(stats)")
    // The program frees all its blocks; the few still live are libc's, from before main.
    #expect(allocs - (stats["guarded_frees"] ?? 0) < 20, "guarded blocks not freed: \(stats)")
  }

  @Test func rateZeroGuardsNothing() throws {
    let outcome = try Self.run("uaf_read", ["ZONEMALLOC_GUARD_RATE": "0", "ZONEMALLOC_STATS": "1"])
    expectSuccess(outcome)
    #expect(outcome.stdout.contains("survived"), "\(outcome)")
    #expect(StatsSummary.parse(outcome.stderr)["guarded_allocs"] == 0, "guarding is off at rate 0:\n\(outcome)")
  }
}
