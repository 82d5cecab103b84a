// Allocators.swift: the five allocators compared and how each is put under a program.
//
// Every allocator but glibc is a shared library placed in front of libc with
// LD_PRELOAD; glibc is the program with no preload. An allocator whose library is
// missing is skipped (with a line saying so) rather than failing the suite.
// Variants, the same library with a setting in the environment, run only when named
// in --allocators. Two measure what a zonemalloc feature costs: `zonemalloc-prof` is
// zonemalloc with the heap profiler on (profiles go to /dev/null), `zonemalloc-noguard`
// zonemalloc with guarded sampling off (ZONEMALLOC_GUARD_RATE=0). Four are each
// allocator's huge-page setting (issue 24), also selected together by --huge-pages:
// `glibc-hugetlb` (GLIBC_TUNABLES=glibc.malloc.hugetlb=1: madvise(MADV_HUGEPAGE) on
// its heaps), `jemalloc-thp` (MALLOC_CONF=thp:always), `mimalloc-large`
// (MIMALLOC_LARGE_OS_PAGES=1: hugetlbfs pages where reserved, else THP) and
// `zonemalloc-thp-never` (ZONEMALLOC_THP=never, zonemalloc with huge pages off, the
// reference for its RSS; an older library ignores the variable).

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
                       "zonemalloc-noguard"] + hugePageVariants
  /// The huge-page settings of the allocators, added to the selection by --huge-pages.
  static let hugePageVariants = ["glibc-hugetlb", "jemalloc-thp", "mimalloc-large", "zonemalloc-thp-never"]
  /// Run only when named (or, for the huge-page variants, with --huge-pages).
  static let optIn = Set(["zonemalloc-prof", "zonemalloc-noguard"] + hugePageVariants)

  /// All allocators in the fixed interleaving order, zonemalloc first.
  static func all(zonemallocLib: String) -> [Allocator] {
    let sys = "/usr/lib/x86_64-linux-gnu"
    let jemalloc = sys + "/libjemalloc.so.2", mimalloc = sys + "/libmimalloc.so.2"
    return [
      Allocator(name: "zonemalloc", library: zonemallocLib),
      Allocator(name: "glibc", library: nil),
      Allocator(name: "jemalloc", library: jemalloc),
      Allocator(name: "mimalloc", library: mimalloc),
      Allocator(name: "tcmalloc", library: sys + "/libtcmalloc_minimal.so.4"),
      Allocator(name: "zonemalloc-prof", library: zonemallocLib,
                env: ["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_FILE": "/dev/null"]),
      Allocator(name: "zonemalloc-noguard", library: zonemallocLib, env: ["ZONEMALLOC_GUARD_RATE": "0"]),
      Allocator(name: "glibc-hugetlb", library: nil, env: ["GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"]),
      Allocator(name: "jemalloc-thp", library: jemalloc, env: ["MALLOC_CONF": "thp:always"]),
      Allocator(name: "mimalloc-large", library: mimalloc, env: ["MIMALLOC_LARGE_OS_PAGES": "1"]),
      Allocator(name: "zonemalloc-thp-never", library: zonemallocLib, env: ["ZONEMALLOC_THP": "never"]),
    ]
  }

  /// The selected allocators that are installed, in the interleaving order: those
  /// named (all but the opt-in ones when nil), plus the huge-page variants when
  /// hugePages; prints a line for each one skipped.
  static func select(_ names: [String]?, hugePages: Bool, zonemallocLib: String) throws -> [Allocator] {
    let every = all(zonemallocLib: zonemallocLib)
    if let names {
      for n in names where !order.contains(n) {
        throw OptionError.badValue("--allocators", n)
      }
    }
    let wanted = every.filter {
      (names?.contains($0.name) ?? !optIn.contains($0.name)) || (hugePages && hugePageVariants.contains($0.name))
    }
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
