// Install.swift: `zm install [--prefix DIR]` and `zm uninstall [--prefix DIR]`.
//
// Owns: what an install puts under the prefix (default /usr/local), where each part comes
// from, the pkg-config file, and running ldconfig.
//   lib/libzonemalloc.so.0       the library `zm run` preloads (zm lib: next to zm in the
//                                build folder, or in an installed prefix); SONAME
//                                libzonemalloc.so.0, set when it is linked
//   lib/libzonemalloc.so         a symbolic link to it, for -lzonemalloc
//   include/zonemalloc.h         the first include/zonemalloc.h in zm's folder or one above
//                                it: the package root when zm runs from .build/<triple>/
//                                release, the prefix when zm is an installed copy
//   lib/pkgconfig/zonemalloc.pc  written for this prefix; outside /usr and /usr/local it
//                                adds -Wl,-rpath, so programs find the library at run time
//   bin/zm                       this executable; it finds ../lib/libzonemalloc.so there
//   share/zonemalloc/install-manifest  what was installed (Manifest.swift)
// Each file is written beside its destination and renamed over it, so programs running the
// old library or zm keep their copy. A reinstall keeps the folders the first install made.
// uninstall removes the files in the manifest and the manifest, then the folders install
// created that are now empty: a prefix that was empty is empty again. Both run ldconfig
// when the prefix is /usr or /usr/local (the dynamic loader's cache lists those).
// Touches: Library, Manifest, FileSystem, Console; spawns ldconfig.
#if canImport(Glibc)
import Glibc
#endif

enum Install {
  private static let installUsage = """
    usage: zm install [--prefix DIR]

    Installs zonemalloc under DIR (default /usr/local): lib/libzonemalloc.so.0 and the
    libzonemalloc.so link, include/zonemalloc.h, lib/pkgconfig/zonemalloc.pc and bin/zm,
    from the build folder that holds this zm (or from the prefix it is installed in).
    Programs then build with `cc app.c $(pkg-config --cflags --libs zonemalloc)`
    (PKG_CONFIG_PATH=DIR/lib/pkgconfig outside the system prefixes).
    """

  private static let uninstallUsage = """
    usage: zm uninstall [--prefix DIR]

    Removes what `zm install --prefix DIR` installed (default /usr/local), as listed in
    DIR/share/zonemalloc/install-manifest, and the folders it created if they are empty.
    """

  private static let systemPrefixes = ["/usr", "/usr/local"]

  /// One installed file or link, relative to the prefix.
  private struct Item {
    enum Content {
      case copy(from: String, mode: mode_t)
      case text(String)
      case link(to: String)
    }
    let path: String
    let content: Content
  }

  /// Where the installed files come from.
  private struct Sources {
    let library: String
    let header: String
    let zm: String

    /// The library zm run preloads, the nearest header, this executable; exits 1 if one
    /// is missing.
    static func find() -> Sources {
      let library = Library.locate()
      guard let header = findHeader() else {
        Console.fail("include/zonemalloc.h not found in \(FileSystem.executableDirectory() ?? "zm's folder") "
          + "or any folder above it: run the zm of a build folder or of an installed prefix", status: 1)
      }
      guard let zm = FileSystem.realPath("/proc/self/exe") else { Console.fail("cannot find zm itself", status: 1) }
      return Sources(library: library, header: header, zm: zm)
    }

    func items(prefix: String) -> [Item] {
      [
        Item(path: "lib/libzonemalloc.so.0", content: .copy(from: library, mode: 0o755)),
        Item(path: "lib/libzonemalloc.so", content: .link(to: "libzonemalloc.so.0")),
        Item(path: "include/zonemalloc.h", content: .copy(from: header, mode: 0o644)),
        Item(path: "lib/pkgconfig/zonemalloc.pc", content: .text(pkgConfig(prefix: prefix))),
        Item(path: "bin/zm", content: .copy(from: zm, mode: 0o755)),
      ]
    }
  }

  static func install(_ args: ArraySlice<String>) -> Int32 {
    let requested = parsePrefix(args, usage: installUsage)
    let sources = Sources.find()
    return perform("install") { () throws(FileError) in
      let prefix = try makePrefix(requested)
      let items = sources.items(prefix: prefix)
      var manifest = try Manifest.read(prefix: prefix) ?? Manifest()
      manifest.files = items.map(\.path)
      manifest.folders += try makeFolders(for: manifest.files + [Manifest.path], in: prefix)
      for item in items { try put(item, in: prefix) }
      try manifest.write(prefix: prefix)
      runLdconfig(ifSystem: prefix)
      Console.out("installed zonemalloc \(version) in \(prefix); `zm uninstall --prefix \(prefix)` removes it")
    }
  }

  static func uninstall(_ args: ArraySlice<String>) -> Int32 {
    let requested = FileSystem.absolute(parsePrefix(args, usage: uninstallUsage))
    return perform("uninstall") { () throws(FileError) in
      guard let prefix = FileSystem.realPath(requested), let manifest = try Manifest.read(prefix: prefix) else {
        throw FileError(message: "nothing to uninstall: no \(requested)/\(Manifest.path)")
      }
      for file in manifest.files { FileSystem.remove(prefix + "/" + file) }
      FileSystem.remove(prefix + "/" + Manifest.path)
      for folder in manifest.folders.reversed() { FileSystem.removeDirectoryIfEmpty(prefix + "/" + folder) }
      runLdconfig(ifSystem: prefix)
      Console.out("removed zonemalloc from \(prefix)")
    }
  }

  /// Runs body; a FileError ends the command with status 1 and its message.
  private static func perform(_ verb: String, _ body: () throws(FileError) -> Void) -> Int32 {
    do {
      try body()
      return 0
    } catch {
      Console.fail("\(verb) failed: \(error.message)", status: 1)
    }
  }

  private static func parsePrefix(_ args: ArraySlice<String>, usage: String) -> String {
    let (options, operands) = OptionParser(usage: usage, accepted: ["--prefix": .value]).parse(args)
    if let extra = operands.first { Console.usageError("unexpected argument \(extra)", usage: usage) }
    return options.last?.value ?? "/usr/local"
  }

  /// The prefix as a canonical absolute path, created (with its parents) if missing.
  private static func makePrefix(_ path: String) throws(FileError) -> String {
    let absolute = FileSystem.absolute(path)
    var partial = ""
    for component in absolute.split(separator: "/") {
      partial += "/" + component
      if !FileSystem.isDirectory(partial) { try FileSystem.makeDirectory(partial) }
    }
    return FileSystem.realPath(absolute) ?? absolute
  }

  /// Creates the folders that hold the paths and are missing, parents first; returns them.
  private static func makeFolders(for paths: [String], in prefix: String) throws(FileError) -> [String] {
    var created: [String] = []
    for path in paths {
      let components = path.split(separator: "/").dropLast()
      for depth in components.indices {
        let folder = components[...depth].joined(separator: "/")
        guard !FileSystem.isDirectory(prefix + "/" + folder) else { continue }
        try FileSystem.makeDirectory(prefix + "/" + folder)
        created.append(folder)
      }
    }
    return created
  }

  private static func put(_ item: Item, in prefix: String) throws(FileError) {
    let path = prefix + "/" + item.path
    switch item.content {
    case let .copy(source, mode): try FileSystem.replace(path, with: FileSystem.read(source), mode: mode)
    case let .text(text): try FileSystem.replace(path, with: Array(text.utf8), mode: 0o644)
    case let .link(target): try FileSystem.replaceWithLink(path, to: target)
    }
  }

  /// include/zonemalloc.h in zm's folder or the nearest folder above it.
  private static func findHeader() -> String? {
    var dir = FileSystem.executableDirectory() ?? "."
    while true {
      if FileSystem.isFile(dir + "/include/zonemalloc.h") { return dir + "/include/zonemalloc.h" }
      if dir == "/" { return nil }
      dir = FileSystem.parent(dir)
    }
  }

  private static func pkgConfig(prefix: String) -> String {
    let rpath = systemPrefixes.contains(prefix) ? "" : " -Wl,-rpath,${libdir}"
    return """
      prefix=\(prefix)
      libdir=${prefix}/lib
      includedir=${prefix}/include

      Name: zonemalloc
      Description: A drop-in malloc for Linux, written in Embedded Swift
      Version: \(version)
      Libs: -L${libdir}\(rpath) -lzonemalloc
      Cflags: -I${includedir}

      """
  }

  /// ldconfig, for /usr and /usr/local; a failure is only a warning.
  private static func runLdconfig(ifSystem prefix: String) {
    guard systemPrefixes.contains(prefix) else { return }
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("ldconfig"), nil]
    defer { free(argv[0]) }
    let spawned = posix_spawnp(&pid, "ldconfig", nil, nil, argv, environ)
    var status: Int32 = 0
    if spawned != 0 {
      Console.warn("cannot run ldconfig: \(errorText(spawned)); run it yourself")
    } else if waitpid(pid, &status, 0) != pid || status != 0 {
      Console.warn("ldconfig failed (wait status \(status)); run it yourself")
    }
  }
}
