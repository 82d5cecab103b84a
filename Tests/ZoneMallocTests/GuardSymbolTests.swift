// GuardSymbolTests.swift: the names and source lines of the guarded reports (issue 28).
//
// Tests/programs/symbol_faults.c, built with -g -O0 -fno-omit-frame-pointer and without
// -rdynamic, frees a 64-byte block and reads it, the allocation, the free and the read
// each in a static function of its own (only .symtab names them) on a line marked by a
// comment. Run under LD_PRELOAD with ZONEMALLOC_GUARD_RATE=1, the report must name each
// function with that line ("symbol_allocate+0x.. (program) at .../symbol_faults.c:29")
// in the allocating, freeing and faulting access's stacks, and say nothing of the
// program being stripped. Built with -s (stripped), the program's frames are unnamed,
// its path is named once in a warning though it appears in three stacks, and libc's
// __libc_start_main is still named from the dynamic symbols. The program can also put
// another file in its own place before the fault: its first 4 KiB (section headers cut
// off), which is refused (names then come from /proc/self/exe, the file that runs), or a
// copy whose section headers claim offsets near 2^64, which is read without a fault and
// names nothing. Each run gets a copy of the program of its own, since runs replace it.
import Foundation
import Testing

@Suite("guarded reports: function names and source lines")
struct GuardSymbolTests {
  static let source = "symbol_faults.c"

  /// A copy of the program (stripped with -s when asked) that this run alone uses.
  static func program(stripped: Bool = false) throws -> String {
    let built = try TestProgram.build(source, linkage: .plain, optimize: "-O0",
                                      flags: ["-fno-omit-frame-pointer"] + (stripped ? ["-s"] : []))
    let copy = try Paths.makeTempDir("symbols") + "/symbol_faults"
    try FileManager.default.copyItem(atPath: built, toPath: copy)
    return copy
  }

  static func run(_ program: String, _ mode: String) throws -> Outcome {
    try Subprocess.run([program, mode], env: try preloadEnvironment(["ZONEMALLOC_GUARD_RATE": "1"]), timeout: 30)
  }

  /// The line of symbol_faults.c that carries the comment `/* <marker> */`.
  static func line(_ marker: String) throws -> Int {
    let text = try String(contentsOfFile: Paths.programs + "/" + source, encoding: .utf8)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    return try #require(lines.firstIndex { $0.contains("/* \(marker) */") }, "no `\(marker)` in \(source)") + 1
  }

  /// The frame lines of a report's stack that name function and, when given, end at line.
  static func frames(_ stderr: String, _ title: String, naming function: String, line: Int? = nil) -> [Substring] {
    GuardTests.section(stderr, title).split(separator: "\n").filter { frame in
      frame.contains(" \(function)+0x") && line.map { frame.hasSuffix("/\(source):\($0)") } ?? true
    }
  }

  @Test func staticFunctionsAreNamedWithTheirLinesInAllThreeStacks() throws {
    let outcome = try Self.run(try Self.program(), "uaf")
    #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    let announced = try Announced(outcome)
    #expect(outcome.stderr.contains("zonemalloc: use-after-free on address \(announced.fault) (read)"), "\(outcome)")
    let expected = [(GuardMessages.allocated, "symbol_allocate", "the allocation"),
                    (GuardMessages.freed, "symbol_release", "the free"),
                    (GuardMessages.accessed, "symbol_touch", "the access")]
    for (title, function, marker) in expected {
      let line = try Self.line(marker)
      #expect(Self.frames(outcome.stderr, title, naming: function, line: line).count == 1,
              "`\(title)` does not name \(function) at \(Self.source):\(line):\n\(outcome)")
      #expect(!Self.frames(outcome.stderr, title, naming: "main").isEmpty, "`\(title)` does not reach main:\n\(outcome)")
    }
    // The faulting instruction itself is the access stack's first frame.
    let first = GuardTests.section(outcome.stderr, GuardMessages.accessed).split(separator: "\n").first ?? ""
    #expect(first.hasPrefix("zonemalloc:   #0 ") && first.contains(" symbol_touch+0x"), "\(outcome)")
    #expect(!outcome.stderr.contains("symbol_faults has no symbol table"), "\(outcome)")
  }

  @Test func aStrippedProgramIsNamedOnceInAWarning() throws {
    let program = try Self.program(stripped: true)
    let outcome = try Self.run(program, "uaf")
    #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    let warning = "zonemalloc: \(program) has no symbol table (stripped): its frames are named from its dynamic symbols only"
    let warnings = outcome.stderr.split(separator: "\n").filter { $0 == warning }
    #expect(warnings.count == 1, "expected `\(warning)` once:\n\(outcome)")
    #expect(!outcome.stderr.contains("symbol_touch"), "a stripped program's static function was named:\n\(outcome)")
    #expect(GuardTests.section(outcome.stderr, GuardMessages.accessed).contains(" ?+0x"), "\(outcome)")
    #expect(GuardTests.section(outcome.stderr, GuardMessages.allocated).contains(" __libc_start_main+0x"),
            "libc's exported function is not named from its dynamic symbols:\n\(outcome)")
  }

  @Test func aTruncatedFileInThePlaceOfTheProgramIsRefused() throws {
    let outcome = try Self.run(try Self.program(), "truncated")
    #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    let line = try Self.line("the access")
    #expect(Self.frames(outcome.stderr, GuardMessages.accessed, naming: "symbol_touch", line: line).count == 1,
            "the running program (/proc/self/exe) should name the access:\n\(outcome)")
  }

  @Test func sectionHeadersPointingOutsideTheFileAreNotRead() throws {
    let outcome = try Self.run(try Self.program(), "corrupt")
    #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    let accessed = GuardTests.section(outcome.stderr, GuardMessages.accessed).split(separator: "\n")
    #expect(accessed.count >= 3 && accessed.allSatisfy { $0.contains(" (") }, "the report is cut short:\n\(outcome)")
    #expect(!outcome.stderr.contains("symbol_touch"), "names were read from a corrupt file:\n\(outcome)")
  }
}
