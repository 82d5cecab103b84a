// ExportTests.swift: what libzonemalloc.so shows to the programs that load it.
//
// Only the malloc family, the zm_ API, _exit/_Exit (which print the statistics summary)
// and the C++ operators (CxxOperatorTests) may be exported: Embedded Swift emits weak
// swift_retain/swift_once and similar names, which would break a Swift program that
// preloads the library if they leaked. No Swift runtime library may be a dependency,
// and nothing in the allocator may call an allocation entry point of its own runtime.
// Every function that makes a call keeps a frame pointer: the heap profiler walks the
// allocator's own frames by rbp (ZoneSupport/Backtrace.c).
import Testing

@Suite("exported surface of libzonemalloc.so")
struct ExportTests {
  static let libcNames: Set<String> = [
    "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "malloc_usable_size", "malloc_trim", "malloc_stats",
    "mallinfo", "mallinfo2", "malloc_info", "mallopt",
  ]

  /// Exported besides the malloc family and zm_*.
  static let otherNames = Set(["_exit", "_Exit"] + CxxOperatorTests.operators)

  @Test func onlyTheMallocFamilyAndZmAreExported() throws {
    let outcome = try Subprocess.run(["nm", "-D", "--defined-only", try Paths.library()])
    #expect(outcome.succeeded, "\(outcome)")
    let names = outcome.stdoutLines.compactMap { $0.split(separator: " ").last.map(String.init) }
    let unexpected = names.filter { !Self.libcNames.contains($0) && !$0.hasPrefix("zm_") && !Self.otherNames.contains($0) }
    #expect(unexpected.isEmpty, "exported beyond the C API: \(unexpected)")
    #expect(Self.libcNames.isSubset(of: Set(names)), "missing: \(Self.libcNames.subtracting(names))")
    for name in Self.libcNames {
      #expect(names.contains("zm_" + name), "no zm_\(name)")
    }
  }

  @Test func libcNamesAreAliasesOfTheZmFunctions() throws {
    let outcome = try Subprocess.run(["nm", "-D", "--defined-only", try Paths.library()])
    var address: [String: String] = [:]
    for line in outcome.stdoutLines {
      let fields = line.split(separator: " ")
      if fields.count == 3 { address[String(fields[2])] = String(fields[0]) }
    }
    for name in Self.libcNames {
      #expect(address[name] != nil && address[name] == address["zm_" + name],
              "\(name) is not an alias of zm_\(name)")
    }
  }

  @Test func noSwiftRuntimeIsLoaded() throws {
    let outcome = try Subprocess.run(["ldd", try Paths.library()])
    #expect(outcome.succeeded, "\(outcome)")
    #expect(!outcome.stdout.lowercased().contains("swift"), "ldd shows a Swift library:\n\(outcome.stdout)")
    #expect(!outcome.stdout.contains("libnuma"), "libnuma must be loaded on demand, not linked:\n\(outcome.stdout)")
  }

  /// The Embedded Swift runtime links in stub bodies (swift_allocObject and friends, which
  /// call posix_memalign), and PLT trampolines are not callers. The stubs must be dead: no
  /// code outside them may call them, or call
  /// an allocation entry point, or the allocator would re-enter itself.
  @Test func theAllocatorNeverCallsAnAllocator() throws {
    let outcome = try Subprocess.run(["objdump", "-d", "--no-show-raw-insn", try Paths.library()], timeout: 120)
    #expect(outcome.succeeded, "\(outcome)")
    let forbidden = ["<malloc", "<calloc", "<realloc", "<free", "<posix_memalign", "<aligned_alloc",
                     "<swift_"]
    var function = ""
    var calls: [String] = []
    for line in outcome.stdoutLines {
      if line.hasSuffix(">:"), let open = line.firstIndex(of: "<") {
        function = String(line[open...].dropLast()) // "<name>" without the colon
        continue
      }
      let isRuntimeStub = function.hasPrefix("<swift_") || function.hasPrefix("<_swift") || function.hasSuffix("@plt>")
      guard !isRuntimeStub, line.contains("call") || line.contains("jmp") else { continue }
      if forbidden.contains(where: { line.contains($0) }) { calls.append("\(function) \(line)") }
    }
    #expect(calls.isEmpty, "allocating calls in the allocator:\n\(calls.prefix(10).joined(separator: "\n"))")
  }

  @Test func everyFunctionThatMakesACallKeepsAFramePointer() throws {
    let outcome = try Subprocess.run(["objdump", "-d", "--no-show-raw-insn", try Paths.library()], timeout: 120)
    #expect(outcome.succeeded, "\(outcome)")
    var frameless: [String] = []
    var function = "", calls = false, framePointer = false
    func finish() {
      let startup = ["<_init>", "<_fini>"].contains(function) || function.hasSuffix("@plt>")
      if calls && !framePointer && !startup { frameless.append(function) }
    }
    for line in outcome.stdoutLines {
      if line.hasSuffix(">:"), let open = line.firstIndex(of: "<") {
        finish()
        (function, calls, framePointer) = (String(line[open...].dropLast()), false, false)
      } else if line.contains("\tcall ") || line.contains("\tcall\t") {
        calls = true
      } else if line.contains("mov    %rsp,%rbp") {
        framePointer = true
      }
    }
    finish()
    #expect(frameless.isEmpty, "functions that call without a frame pointer: \(frameless.prefix(10))")
  }
}
