// swift-tools-version: 6.1
// zonemalloc: a drop-in malloc written in Embedded Swift.
//
// Layout (see README.md, "How it is built"):
//   ZoneSupport  C: the initial-exec TLS slot, locks, atomics Swift cannot spell, libnuma bridge.
//   ZoneCore     Embedded Swift: the allocator. Depends on libc and libnuma only.
//   ZoneExports  C: the library constructor, libc-name aliases, and the version script.
//   ZoneLauncher the `zonemalloc` command (ordinary Swift): `zonemalloc run -- CMD`.
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
    .executable(name: "zonemalloc", targets: ["ZoneLauncher"]),
    .executable(name: "zonemalloc-bench", targets: ["ZoneBench"]),
    .executable(name: "zonemalloc-host", targets: ["ZoneHost"]),
  ],
  targets: [
    .target(
      name: "ZoneSupport",
      cSettings: [.unsafeFlags(["-fno-builtin-malloc", "-fno-builtin-free"])],
      linkerSettings: [.linkedLibrary("numa"), .linkedLibrary("pthread")]),
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
      cSettings: [.unsafeFlags(["-fno-builtin"])],
      linkerSettings: [
        .unsafeFlags([
          "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/ZoneExports/exports.map",
          "-Xlinker", "--defsym=malloc=zm_malloc",
          "-Xlinker", "--defsym=free=zm_free",
          "-Xlinker", "--defsym=calloc=zm_calloc",
          "-Xlinker", "--defsym=realloc=zm_realloc",
          "-Xlinker", "-z", "-Xlinker", "nodelete",
        ])
      ]),
    .executableTarget(name: "ZoneLauncher"),
    .executableTarget(name: "ZoneBench"),
    .executableTarget(name: "ZoneHost"),
    .testTarget(name: "ZoneMallocTests"),
  ]
)
