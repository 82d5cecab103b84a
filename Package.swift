// swift-tools-version: 6.1
// zonemalloc: a drop-in malloc written in Embedded Swift.
//
// Layout (see README.md, "How it is built"):
//   ZoneSupport  C: the initial-exec TLS slot, locks, atomics Swift cannot spell, the profiler's stack
//                walker, libnuma bridge.
//   ZoneCore     Embedded Swift: the allocator. Depends on libc and libnuma only.
//   ZoneExports  C: the library constructor, libc-name aliases, and the version script.
//   ZoneLauncher the `zm` launcher (ordinary Swift): `zm run [--stats] -- CMD`, `zm prof -- CMD`,
//                `zm stats PID`, `zm top PID`. It is not named
//                `zonemalloc` because SwiftPM drops one of two products that share a name.
//   ZoneBench    the `zonemalloc-bench` driver for bench/.
//   ZoneHost     a small threaded Swift program that the preload tests run.
//
// The unsafeFlags below keep this package from being a versioned dependency of another
// SwiftPM package. That is accepted: zonemalloc is consumed as a built .so.
import PackageDescription

let package = Package(
  name: "zonemalloc",
  products: [
    .library(name: "zonemalloc", type: .dynamic, targets: ["ZoneExports", "ZoneCore"]),
    .executable(name: "zm", targets: ["ZoneLauncher"]),
    .executable(name: "zonemalloc-bench", targets: ["ZoneBench"]),
    .executable(name: "zonemalloc-host", targets: ["ZoneHost"]),
  ],
  targets: [
    .target(
      name: "ZoneSupport",
      // Frame pointers: the profiler walks the allocator's own frames by rbp (Backtrace.c).
      cSettings: [.unsafeFlags(["-fno-builtin-malloc", "-fno-builtin-free", "-fno-omit-frame-pointer"])],
      linkerSettings: [.linkedLibrary("pthread")]),
    .target(
      name: "ZoneCore",
      dependencies: ["ZoneSupport"],
      swiftSettings: [
        .enableExperimentalFeature("Embedded"),
        .unsafeFlags(["-Xfrontend", "-disable-stack-protector", "-Xcc", "-fPIC"]),
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
          "-Xlinker", "--defsym=mallinfo2=zm_mallinfo2",
          "-Xlinker", "--defsym=mallopt=zm_mallopt",
          "-Xlinker", "-z", "-Xlinker", "nodelete", "-use-ld=lld",
        ]),
        // Symbols stay; DWARF 5 debug info goes (valgrind 3.19 cannot read it).
        .unsafeFlags(["-Xlinker", "--strip-debug"], .when(configuration: .release)),
      ]),
    .executableTarget(name: "ZoneLauncher"),
    .executableTarget(name: "ZoneBench"),
    .executableTarget(name: "ZoneHost"),
    .testTarget(name: "ZoneMallocTests"),
  ]
)
