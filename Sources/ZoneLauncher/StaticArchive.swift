// StaticArchive.swift: lib/libzonemalloc.a, the library for static linking, as
// `zm install` makes it.
//
// Owns: where the archive comes from and how it is made. SwiftPM's product
// zonemalloc-static (.build/release/libzonemalloc-static.a, next to zm) archives the
// objects of ZoneCore, ZoneSupport and ZoneExports as they are; linked like that, a
// program would get no malloc (the libc names are linker aliases, Package.swift), no
// constructor unless something named its object, and every internal symbol, the weak
// swift_* functions that Embedded Swift emits among them, which would take the place of
// a Swift program's own runtime. So install makes an archive of one object, zonemalloc.o:
//  - `ld -r` joins the objects, the libc names defined as their zm_* functions (the
//    aliases Package.swift gives the shared library);
//  - `objcopy --keep-global-symbols` leaves global only what the shared library exports
//    (`exported`, the names of Sources/ZoneExports/exports.map); the rest becomes local;
//    --strip-debug drops the DWARF 5 debug info, as the shared library's link does
//    (valgrind 3.19 cannot read it, and it would be in every program linked);
//  - `ar` archives it. One object: a program that names malloc (or any export) links
//    all of it, the constructor and destructor included.
// The tools are binutils' (ld, objcopy, ar: the Swift toolchain needs them), else
// LLVM's (ld.lld, llvm-objcopy, llvm-ar), from $PATH, run in a private scratch folder.
// An installed zm, with no build folder, copies ../lib/libzonemalloc.a.
// Touches: FileSystem, ChildProcess, Console (paths in messages).
#if canImport(Glibc)
import Glibc
#endif

enum StaticArchive {
  /// The libc names of the malloc family, each an alias of zm_<name>.
  static let aliased = ["malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
                        "memalign", "valloc", "pvalloc", "malloc_usable_size", "malloc_trim", "malloc_stats",
                        "mallinfo", "mallinfo2", "malloc_info", "mallopt"]

  /// The exported names, as objcopy wildcards: those of exports.map.
  static let exported = aliased + ["zm_*", "_exit", "_Exit", "_Znwm*", "_Znam*", "_ZdlPv*", "_ZdaPv*"]

  private static let buildProduct = "libzonemalloc-static.a"

  /// The archive to install: made from the build folder's product, else the prefix's
  /// own copy; throws when there is neither, or a tool fails.
  static func bytes() throws(FileError) -> [UInt8] {
    let dir = FileSystem.executableDirectory() ?? "."
    if FileSystem.isFile(dir + "/" + buildProduct) { return try make(from: dir + "/" + buildProduct) }
    if FileSystem.isFile(dir + "/../lib/libzonemalloc.a") { return try FileSystem.read(dir + "/../lib/libzonemalloc.a") }
    throw FileError(message: "neither \(dir)/\(buildProduct) (run `swift build -c release`) "
                    + "nor \(dir)/../lib/libzonemalloc.a exists")
  }

  private static func make(from product: String) throws(FileError) -> [UInt8] {
    let scratch = try FileSystem.makeScratchFolder("zm-archive")
    defer { FileSystem.removeScratchFolder(scratch) }
    let joined = scratch + "/joined.o", object = scratch + "/zonemalloc.o", archive = scratch + "/libzonemalloc.a"
    let keep = scratch + "/exported"
    try FileSystem.replace(keep, with: Array(exported.map { $0 + "\n" }.joined().utf8), mode: 0o600)
    try run(["ld", "ld.lld"], ["-r", "-o", joined, "--whole-archive", product, "--no-whole-archive"]
                                + aliased.map { "--defsym=\($0)=zm_\($0)" })
    try run(["objcopy", "llvm-objcopy"], ["--strip-debug", "--wildcard", "--keep-global-symbols=" + keep, joined, object])
    try run(["ar", "llvm-ar"], ["rcs", archive, object])
    return try FileSystem.read(archive)
  }

  /// Runs the first of the tools found on $PATH with the arguments; throws unless it
  /// exits with 0 (the tool's own message is on stderr).
  private static func run(_ tools: [String], _ arguments: [String]) throws(FileError) {
    guard let tool = tools.first(where: { FileSystem.findCommand($0) != nil }) else {
      throw FileError(message: "cannot make lib/libzonemalloc.a: none of \(tools.joined(separator: ", ")) "
                      + "is on PATH (binutils)")
    }
    guard let end = ChildProcess.run([tool] + arguments) else {
      throw FileError(message: "cannot make lib/libzonemalloc.a: cannot run \(tool): \(errorText())")
    }
    guard case .exited(0) = end else {
      throw FileError(message: "cannot make lib/libzonemalloc.a: \(tool) failed (exit status \(end.status))")
    }
  }
}
