// Library.swift: which libzonemalloc.so zm preloads and installs, and whether it can be
// preloaded at all.
//
// Owns: the lookup, in order: $ZONEMALLOC_LIB; libzonemalloc.so next to zm (the build
// folder, .build/release); ../lib/libzonemalloc.so and then ../lib/libzonemalloc.so.0
// relative to zm (an installed prefix). The check that the file found is an ELF shared
// library (not a program, not even a position-independent one) for the machine zm runs
// on: the dynamic loader would skip anything else with a warning of its own and run the
// program without zonemalloc, so zm refuses it (exit 2).
// `zm lib` prints the result.
// Touches: FileSystem, ELFFile, Console.
#if canImport(Glibc)
import Glibc
#endif

enum Library {
  private static let fileNames = ["libzonemalloc.so", "libzonemalloc.so.0"]

  /// The library as an absolute canonical path; exits 127 if there is none, 2 if it is
  /// not a shared object for this machine.
  static func locate() -> String {
    let path = find()
    check(path)
    return path
  }

  /// `zm lib`.
  static func printPath(_ args: ArraySlice<String>) -> Int32 {
    _ = OptionParser(usage: usage, accepted: [:]).parse(args)
    Console.out(locate())
    return 0
  }

  private static let usage = """
    usage: zm lib

    Prints the library that `zm run` preloads and `zm install` installs: $ZONEMALLOC_LIB,
    else libzonemalloc.so next to zm, else ../lib/libzonemalloc.so or
    ../lib/libzonemalloc.so.0 relative to zm.
    """

  private static func find() -> String {
    if let explicit = getenv("ZONEMALLOC_LIB").map({ String(cString: $0) }), !explicit.isEmpty {
      guard FileSystem.isFile(explicit), let path = FileSystem.realPath(explicit) else {
        Console.fail("ZONEMALLOC_LIB=\(explicit): no such library", status: 127)
      }
      return path
    }
    let dir = FileSystem.executableDirectory() ?? "."
    let candidates = [dir + "/" + fileNames[0]] + fileNames.map { dir + "/../lib/" + $0 }
    for candidate in candidates where FileSystem.isFile(candidate) {
      if let path = FileSystem.realPath(candidate) { return path }
    }
    Console.fail("libzonemalloc.so not found (tried \(candidates.joined(separator: ", "))); set ZONEMALLOC_LIB",
                 status: 127)
  }

  private static func check(_ path: String) {
    guard let library = ELFFile(path: path) else {
      Console.fail("\(path) is not a shared library (not an ELF file); set ZONEMALLOC_LIB to libzonemalloc.so",
                   status: 2)
    }
    guard library.isLoadableLibrary else {
      Console.fail("\(path) is an ELF program, not a shared library; set ZONEMALLOC_LIB to libzonemalloc.so",
                   status: 2)
    }
    if let zm = ELFFile(path: "/proc/self/exe"), !library.sameMachine(as: zm) {
      Console.fail("\(path) is built for \(library.machineName), this machine runs \(zm.machineName)", status: 2)
    }
    guard library.soname?.hasPrefix("libzonemalloc.so") == true else {
      Console.fail("\(path) is not zonemalloc (its SONAME is \(library.soname.map { "\($0.printable)" } ?? "missing"), "
                   + "not libzonemalloc.so.N); set ZONEMALLOC_LIB to libzonemalloc.so", status: 2)
    }
  }
}
