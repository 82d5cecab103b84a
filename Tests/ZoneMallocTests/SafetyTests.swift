// SafetyTests.swift: heap misuse must make zonemalloc abort with a one-line message.
//
// Tests/programs/safety_faults.c (run under LD_PRELOAD) prints the pointer it misuses
// with "%p", then double-frees, frees a stack address, frees an interior pointer (of a
// small block or a span), frees a chunk start its slab never carved, or
// corrupts a freed chunk's free-list link and allocates twice. Each run must die of
// SIGABRT with stderr containing `SafetyMessages.prefix`, one of the case's words, and
// a hex number (any spelling: 0x1f, 0x000000000000001f) equal to the printed pointer.
// A block from glibc's own __libc_malloc freed with free() must be let go quietly.
// link_attack.c reads one freed block's encoded link (its slab's key) and writes a
// crafted link into another freed block: across slabs malloc must never hand out an
// address outside the attacked slab's chunks; within one slab the attack must abort.
import Foundation
import Testing

/// What the allocator's abort messages must contain. Align these with the allocator.
enum SafetyMessages {
  static let prefix = "zonemalloc:"
  static let doubleFree = "double free"
  static let invalidPointer = "free(): invalid pointer"
  static let heapCorruption = "heap corruption detected"
  /// The word written over the freed chunk's link; the message may name it instead of the chunk.
  static let corruptLink: UInt64 = 0x4141_4141_4141_4141
}

@Suite("heap misuse aborts")
struct SafetyTests {
  static let cases: [(mode: String, words: [String])] = [
    ("double_free", [SafetyMessages.doubleFree]),
    ("free_stack", [SafetyMessages.invalidPointer]),
    ("free_interior", [SafetyMessages.invalidPointer]),
    ("free_uncarved", [SafetyMessages.invalidPointer]),
    ("free_span_inner", [SafetyMessages.invalidPointer]),
    ("free_span_granule", [SafetyMessages.invalidPointer]),
    ("corrupt_freelist", [SafetyMessages.heapCorruption]),
  ]

  @Test(arguments: cases)
  func misuseAborts(mode: String, words: [String]) throws {
    let program = try TestProgram.build("safety_faults.c", linkage: .plain, optimize: "-O0")
    let outcome = try Subprocess.run([program, mode], env: try preloadEnvironment(), timeout: 30)
    #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    #expect(outcome.stderr.contains(SafetyMessages.prefix), "no `\(SafetyMessages.prefix)` message:\n\(outcome)")
    #expect(words.contains { outcome.stderr.contains($0) }, "message lacks \(words):\n\(outcome)")
    let pointer = try #require(outcome.stdoutLines.first.flatMap(hexValue), "no pointer printed:\n\(outcome)")
    let named = hexNumbers(in: outcome.stderr)
    let acceptable: Set<UInt64> = mode == "corrupt_freelist" ? [pointer, SafetyMessages.corruptLink] : [pointer]
    #expect(!named.isDisjoint(with: acceptable),
            "message does not name \(String(format: "%#lx", pointer)):\n\(outcome)")
  }

  @Test func leakOneLinkAttackNeverYieldsAnotherSlabsAddress() throws {
    let program = try TestProgram.build("link_attack.c", linkage: .plain)
    var aborted = [String: Int]()
    for mode in ["cross", "same"] {
      for _ in 0..<100 {
        let outcome = try Subprocess.run([program, mode], env: try preloadEnvironment(["ZONEMALLOC_GUARD_RATE": "0"]))
        #expect(!outcome.stdout.contains("outside"), "malloc handed out an address outside the attacked slab:\n\(outcome)")
        if outcome.signal == SIGABRT && outcome.stderr.contains(SafetyMessages.heapCorruption) { aborted[mode, default: 0] += 1 }
      }
    }
    #expect((aborted["same"] ?? 0) >= 99, "the attack within one slab aborted in \(aborted["same"] ?? 0) of 100 runs")
    print("measured: leak-one-link attack: across slabs \(aborted["cross"] ?? 0) of 100 runs aborted (none yielded "
          + "an address outside the slab); within a slab \(aborted["same"] ?? 0) of 100 aborted")
  }

  @Test func freeingAGlibcBlockIsHarmless() throws {
    let program = try TestProgram.build("foreign_free.c", linkage: .plain)
    expectSuccess(try Subprocess.run([program], env: try preloadEnvironment()), stdout: ["foreign free ok"])
  }
}
