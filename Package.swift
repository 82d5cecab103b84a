// swift-tools-version: 6.1
// zonemalloc: a drop-in malloc written in Embedded Swift.
//
// Layout (see README.md, "How it is built"):
//   ZoneSupport  C: the initial-exec TLS slot, locks, atomics Swift cannot spell, the sampled
//                features' stack walker, libnuma bridge.
//   ZoneCore     Embedded Swift: the allocator. Depends on libc and libnuma only.
//   ZoneExports  C: the library constructor, _exit, the C++ operators, libc-name aliases,
//                the version script and the SONAME libzonemalloc.so.0.
//   zonemalloc-static  the same objects archived as they are (libzonemalloc-static.a):
//                `zm install` joins them into lib/libzonemalloc.a, one object with the
//                aliases and only the exported symbols global (ZoneLauncher/StaticArchive.swift).
//   ZoneLauncher the `zm` launcher (ordinary Swift, the runtime linked in statically):
//                `zm run [--stats] -- CMD`, `zm install`, `zm prof -- CMD`, `zm stats PID`,
//                `zm top PID`. It is not named `zonemalloc` because SwiftPM drops one of two
//                products that share a name.
//   ZoneBench    the `zonemalloc-bench` driver for bench/.
//   ZoneHost     a small threaded Swift program that the preload tests run.
//
// The unsafeFlags below keep this package from being a versioned dependency of another
// SwiftPM package. That is accepted: zonemalloc is consumed as a built .so.
// ZoneSupport and ZoneCore keep frame pointers (SwiftPM's default on Linux, made explicit):
// the sampled features' stacks walk through the allocator's own frames by them, since
// Swift emits no unwind tables (Backtrace.c).
import PackageDescription

let package = Package(
  name: "zonemalloc",
  products: [
    .library(name: "zonemalloc", type: .dynamic, targets: ["ZoneExports", "ZoneCore"]),
    .library(name: "zonemalloc-static", type: .static, targets: ["ZoneExports", "ZoneCore"]),
    .executable(name: "zm", targets: ["ZoneLauncher"]),
    .executable(name: "zonemalloc-bench", targets: ["ZoneBench"]),
    .executable(name: "zonemalloc-host", targets: ["ZoneHost"]),
  ],
  targets: [
    .target(
      name: "ZoneSupport",
      cSettings: [.unsafeFlags(["-fno-builtin-malloc", "-fno-builtin-free", "-fno-omit-frame-pointer"])],
      linkerSettings: [.linkedLibrary("pthread")]),
    .target(
      name: "ZoneCore",
      dependencies: ["ZoneSupport"],
      swiftSettings: [
        .enableExperimentalFeature("Embedded"),
        // SwiftPM asks for frame pointers everywhere (the sampled features' stacks follow
        // them through the allocator's frames); leaf functions need none, and the fast
        // paths end in tail calls, where a frame costs three instructions per call.
        .unsafeFlags(["-Xfrontend", "-disable-stack-protector", "-Xcc", "-fPIC",
                      "-Xcc", "-fno-omit-frame-pointer", "-Xcc", "-momit-leaf-frame-pointer"]),
        .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
      ]),
    .target(
      name: "ZoneExports",
      dependencies: ["ZoneCore", "ZoneSupport"],
      cSettings: [.unsafeFlags(["-fno-builtin", "-fno-omit-frame-pointer"])],
      linkerSettings: [
        .unsafeFlags([
          "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/ZoneExports/exports.map",
          "-Xlinker", "--defsym=malloc=zm_malloc",
          "-Xlinker", "--defsym=free=zm_free",
          "-Xlinker", "--defsym=calloc=zm_calloc",
          "-Xlinker", "--defsym=realloc=zm_realloc",
          "-Xlinker", "--defsym=reallocarray=zm_reallocarray",
          "-Xlinker", "--defsym=posix_memalign=zm_posix_memalign",
          "-Xlinker", "--defsym=aligned_alloc=zm_aligned_alloc",
          "-Xlinker", "--defsym=memalign=zm_memalign",
          "-Xlinker", "--defsym=valloc=zm_valloc",
          "-Xlinker", "--defsym=pvalloc=zm_pvalloc",
          "-Xlinker", "--defsym=malloc_usable_size=zm_malloc_usable_size",
          "-Xlinker", "--defsym=malloc_trim=zm_malloc_trim",
          "-Xlinker", "--defsym=malloc_stats=zm_malloc_stats",
          "-Xlinker", "--defsym=mallinfo=zm_mallinfo",
          "-Xlinker", "--defsym=mallinfo2=zm_mallinfo2",
          "-Xlinker", "--defsym=malloc_info=zm_malloc_info",
          "-Xlinker", "--defsym=mallopt=zm_mallopt",
          "-Xlinker", "-z", "-Xlinker", "nodelete", "-use-ld=lld",
          // zm install puts it in a prefix as lib/libzonemalloc.so.0 (and the .so link).
          "-Xlinker", "-soname", "-Xlinker", "libzonemalloc.so.0",
        ]),
        // Symbols stay; DWARF 5 debug info goes (valgrind 3.19 cannot read it).
        .unsafeFlags(["-Xlinker", "--strip-debug"], .when(configuration: .release)),
      ]),
    // zm runs from any prefix without the toolchain: the Swift runtime is linked in.
    .executableTarget(name: "ZoneLauncher", linkerSettings: [.unsafeFlags(["-static-stdlib"])]),
    .executableTarget(name: "ZoneBench"),
    .executableTarget(name: "ZoneHost"),
    .testTarget(name: "ZoneMallocTests"),
    // The allocator's pure files (size classes, the remote word, the lazy cache's bins,
    // settings and cgroup parsing, the lists), compiled again as ordinary Swift through
    // symbolic links: an Embedded Swift module cannot be imported by a test target.
    .testTarget(name: "ZoneUnitTests", dependencies: ["ZoneSupport"], exclude: ["README.md"]),
    // The slab protocol's exhaustive test (Tests/ZoneProtocolTests/README.md): SlabState.swift
    // and what it needs, compiled again with ZONE_PROTOCOL_MODEL, the modelled threads run
    // as fibers on one thread (ZoneProtocolFibers, C). It imports Synchronization (and so
    // Glibc) beside ZoneSupport, whose header asks for _GNU_SOURCE: the C modules of this
    // target are built with it too, or the two disagree about glibc's types.
    .target(name: "ZoneProtocolFibers", path: "Tests/ZoneProtocolFibers"),
    .testTarget(name: "ZoneProtocolTests", dependencies: ["ZoneSupport", "ZoneProtocolFibers"], exclude: ["README.md"],
                swiftSettings: [.define("ZONE_PROTOCOL_MODEL"), .unsafeFlags(["-Xcc", "-D_GNU_SOURCE"])]),
  ]
)
