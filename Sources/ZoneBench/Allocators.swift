// Allocators.swift: the five allocators compared and how each is put under a program.
//
// Every allocator but glibc is a shared library placed in front of libc with
// LD_PRELOAD; glibc is the program with no preload. An allocator whose library is
// missing is skipped (with a line saying so) rather than failing the suite.
// Two variants run only when named in --allocators, to measure what a feature costs:
// `zonemalloc-prof` is zonemalloc with the heap profiler on (profiles go to /dev/null),
// `zonemalloc-noguard` zonemalloc with guarded sampling off (ZONEMALLOC_GUARD_RATE=0).

import Foundation

struct Allocator: Hashable {
  let name: String
  /// The library to preload; nil for glibc's own malloc.
  let library: String?
  /// Variables the allocator runs with.
  var env: [String: String] = [:]

  var isAvailable: Bool { library.map { FileManager.default.fileExists(atPath: $0) } ?? true }
}

enum Allocators {
  static let order = ["zonemalloc", "glibc", "jemalloc", "mimalloc", "tcmalloc", "zonemalloc-prof",
                       "zonemalloc-noguard"]
  /// Run only when named.
  static let optIn: Set<String> = ["zonemalloc-prof", "zonemalloc-noguard"]

  /// All allocators in the fixed interleaving order, zonemalloc first.
  static func all(zonemallocLib: String) -> [Allocator] {
    let sys = "/usr/lib/x86_64-linux-gnu"
    return [
      Allocator(name: "zonemalloc", library: zonemallocLib),
      Allocator(name: "glibc", library: nil),
      Allocator(name: "jemalloc", library: sys + "/libjemalloc.so.2"),
      Allocator(name: "mimalloc", library: sys + "/libmimalloc.so.2"),
      Allocator(name: "tcmalloc", library: sys + "/libtcmalloc_minimal.so.4"),
      Allocator(name: "zonemalloc-prof", library: zonemallocLib,
                env: ["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_FILE": "/dev/null"]),
      Allocator(name: "zonemalloc-noguard", library: zonemallocLib, env: ["ZONEMALLOC_GUARD_RATE": "0"]),
    ]
  }

  /// The selected allocators that are installed; prints a line for each one skipped.
  static func select(_ names: [String]?, zonemallocLib: String) throws -> [Allocator] {
    let every = all(zonemallocLib: zonemallocLib)
    if let names {
      for n in names where !order.contains(n) {
        throw OptionError.badValue("--allocators", n)
      }
    }
    let wanted = every.filter { names?.contains($0.name) ?? !optIn.contains($0.name) }
    var usable: [Allocator] = []
    for a in wanted {
      if a.isAvailable {
        usable.append(a)
      } else if a.name == "zonemalloc" {
        print("skipping zonemalloc: \(a.library ?? "") not found (run `swift build -c release` first, or pass --lib)")
      } else {
        print("skipping \(a.name): \(a.library ?? "") is not installed")
      }
    }
    return usable
  }
}
