// Symbols.swift: the library's zm_* functions, reached in-process through dlopen/dlsym.
//
// The library is opened with RTLD_LOCAL, so its malloc does not replace the test
// process's own: only the typed zm_* entry points below are called, and every block
// they return goes back through zm_free. `ZM.load()` resolves them all and throws one
// error naming every symbol that is missing.
import Foundation

/// A size_t value for the Int parameters below (size_t imports as Int): sizeT(UInt.max)
/// is SIZE_MAX. Arithmetic on sizes near SIZE_MAX must be done on UInt before this.
func sizeT(_ value: UInt) -> Int { Int(bitPattern: value) }

struct ZM {
  typealias Malloc = @convention(c) (Int) -> UnsafeMutableRawPointer?
  typealias Free = @convention(c) (UnsafeMutableRawPointer?) -> Void
  typealias Calloc = @convention(c) (Int, Int) -> UnsafeMutableRawPointer?
  typealias Realloc = @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer?
  typealias ReallocArray = @convention(c) (UnsafeMutableRawPointer?, Int, Int) -> UnsafeMutableRawPointer?
  typealias PosixMemalign = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int, Int) -> Int32
  typealias Aligned = @convention(c) (Int, Int) -> UnsafeMutableRawPointer?
  typealias UsableSize = @convention(c) (UnsafeMutableRawPointer?) -> Int
  typealias Trim = @convention(c) (Int) -> Int32
  typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
  typealias Owns = @convention(c) (UnsafeRawPointer?) -> Int32
  typealias Version = @convention(c) () -> UnsafePointer<CChar>?

  let malloc: Malloc
  let free: Free
  let calloc: Calloc
  let realloc: Realloc
  let reallocarray: ReallocArray
  let posixMemalign: PosixMemalign
  let alignedAlloc: Aligned
  let memalign: Aligned
  let valloc: Malloc
  let pvalloc: Malloc
  let usableSize: UsableSize
  let mallocTrim: Trim
  let mallopt: Mallopt
  let owns: Owns
  let version: Version

  static func load() throws -> ZM {
    let resolver = try Resolver(path: Paths.library())
    let zm = ZM(
      malloc: resolver["zm_malloc"], free: resolver["zm_free"], calloc: resolver["zm_calloc"],
      realloc: resolver["zm_realloc"], reallocarray: resolver["zm_reallocarray"],
      posixMemalign: resolver["zm_posix_memalign"], alignedAlloc: resolver["zm_aligned_alloc"],
      memalign: resolver["zm_memalign"], valloc: resolver["zm_valloc"], pvalloc: resolver["zm_pvalloc"],
      usableSize: resolver["zm_malloc_usable_size"], mallocTrim: resolver["zm_malloc_trim"],
      mallopt: resolver["zm_mallopt"], owns: resolver["zm_owns"], version: resolver["zm_version"])
    try resolver.checkComplete()
    return zm
  }
}

/// dlsym with the result cast to the wanted C function type. A missing symbol yields a
/// stand-in that traps if called, and is reported by `checkComplete()`.
final class Resolver {
  private let handle: UnsafeMutableRawPointer
  private let path: String
  private var missing: [String] = []

  init(path: String) throws {
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      throw HarnessError("dlopen(\(path)) failed: \(String(cString: dlerror()))")
    }
    self.handle = handle
    self.path = path
  }

  subscript<F>(name: String) -> F {
    guard let symbol = dlsym(handle, name) else {
      missing.append(name)
      return unsafeBitCast(Resolver.abortFunction(), to: F.self)
    }
    return unsafeBitCast(symbol, to: F.self)
  }

  func checkComplete() throws {
    guard missing.isEmpty else { throw HarnessError("\(path) does not export \(missing.joined(separator: ", "))") }
  }

  private static func abortFunction() -> UnsafeMutableRawPointer { dlsym(dlopen(nil, RTLD_NOW), "abort")! }
}
