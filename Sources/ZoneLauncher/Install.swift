// Install.swift: `zm install [--prefix DIR]`.
//
// Owns: what an install puts under the prefix (default /usr/local), where each part comes
// from, the prefix itself, the pkg-config file, and running ldconfig.
//   lib/libzonemalloc.so.0       the library `zm run` preloads (zm lib: next to zm in the
//                                build folder, or in an installed prefix); SONAME
//                                libzonemalloc.so.0, set when it is linked
//   lib/libzonemalloc.so         a symbolic link to it, for -lzonemalloc
//   include/zonemalloc.h         the first include/zonemalloc.h in zm's folder or one above
//                                it: the package root when zm runs from .build/<triple>/
//                                release, the prefix when zm is an installed copy
//   lib/libzonemalloc.a          the library for static linking, made from the build
//                                folder's objects (StaticArchive), or the prefix's copy
//   lib/pkgconfig/zonemalloc.pc  written for this prefix; outside /usr and /usr/local it
//                                adds -Wl,-rpath, so programs find the library at run time;
//                                Libs.private for `pkg-config --static`
//   lib/cmake/zonemalloc/zonemallocConfig.cmake, zonemallocConfigVersion.cmake
//                                the CMake package (CMakePackage)
//   bin/zm                       this executable; it finds ../lib/libzonemalloc.so there
//   share/zonemalloc/install-manifest  what was installed (Manifest.swift)
// The prefix is created if it is missing, then resolved once with realpath: a prefix
// given through a symbolic link is installed into the folder the link names, and zm
// says so. Inside it nothing is followed: everything is written through an
// InstallTransaction, all of it or none (a failed install leaves the prefix as it was).
// Each file is created beside its destination and renamed over it, so programs running
// the old library or zm keep their copy. A reinstall keeps the folders the first install
// made (from the manifest, of either format). A prefix may hold spaces and the other
// characters a shell treats specially: the pkg-config file escapes them with
// backslashes, as pkg-config expects. It may not hold a control character, "(", ")" or
// "$" (pkg-config cannot escape them), ":" (the dynamic loader splits run paths at
// colons) or "," (the compiler splits -Wl, options at commas). ldconfig runs when the
// prefix is /usr or /usr/local (the dynamic loader's cache lists those).
// Touches: Library, StaticArchive, CMakePackage, InstallTransaction, Manifest, Folder,
// FileSystem, Console; spawns ldconfig (and, through StaticArchive, ld, objcopy, ar). Uninstall.swift removes an install.
#if canImport(Glibc)
import Glibc
#endif

enum Install {
  private static let usage = """
    usage: zm install [--prefix DIR]

    Installs zonemalloc under DIR (default /usr/local): lib/libzonemalloc.so.0 and the
    libzonemalloc.so link, lib/libzonemalloc.a, include/zonemalloc.h,
    lib/pkgconfig/zonemalloc.pc, the CMake package in lib/cmake/zonemalloc and bin/zm,
    from the build folder that holds this zm (or from the prefix it is installed in), and
    records them in DIR/share/zonemalloc/install-manifest for `zm uninstall`. Nothing
    inside DIR is reached through a symbolic link; if anything fails, DIR is left as it
    was. Programs then build with `cc app.c $(pkg-config --cflags --libs zonemalloc)`
    (PKG_CONFIG_PATH=DIR/lib/pkgconfig outside the system prefixes), or link the archive
    (`cc app.c DIR/lib/libzonemalloc.a`); CMake projects use find_package(zonemalloc)
    (CMAKE_PREFIX_PATH=DIR) and the targets zonemalloc::zonemalloc and
    zonemalloc::zonemalloc-static.
    """

  /// The files and links install writes, relative to the prefix, in the order it writes them.
  static let files = ["lib/libzonemalloc.so.0", "lib/libzonemalloc.so", "lib/libzonemalloc.a", "include/zonemalloc.h",
                      "lib/pkgconfig/zonemalloc.pc", CMakePackage.configPath, CMakePackage.versionPath, "bin/zm"]

  /// Every folder that holds one of them or the manifest.
  static let folders: Set<String> = Set((files + [Manifest.path]).flatMap { path in
    let components = path.split(separator: "/").dropLast()
    return components.indices.map { components[...$0].joined(separator: "/") }
  })

  static let systemPrefixes = ["/usr", "/usr/local"]

  /// Where the installed files come from.
  private struct Sources {
    let library: String
    let archive: [UInt8]
    let header: String
    let zm: String

    /// The library zm run preloads, the static archive, the nearest header, this
    /// executable; exits 1 if one is missing or the archive cannot be made.
    static func find() -> Sources {
      let library = Library.locate()
      let archive: [UInt8]
      do throws(FileError) { archive = try StaticArchive.bytes() } catch {
        Console.fail("install failed: \(error.message)", status: 1)
      }
      guard let header = findHeader() else {
        Console.fail("include/zonemalloc.h not found in \(FileSystem.executableDirectory() ?? "zm's folder") "
          + "or any folder above it: run the zm of a build folder or of an installed prefix", status: 1)
      }
      guard let zm = FileSystem.realPath("/proc/self/exe") else { Console.fail("cannot find zm itself", status: 1) }
      return Sources(library: library, archive: archive, header: header, zm: zm)
    }

    /// Stages the files (in the order of `files`) and the manifest.
    func stage(in transaction: InstallTransaction, prefix: String, keeping folders: [String]) throws(FileError) {
      var manifest = Manifest()
      manifest.entries = [
        try transaction.stageFile(files[0], bytes: FileSystem.read(library), mode: 0o755),
        try transaction.stageLink(files[1], to: "libzonemalloc.so.0"),
        try transaction.stageFile(files[2], bytes: archive, mode: 0o644),
        try transaction.stageFile(files[3], bytes: FileSystem.read(header), mode: 0o644),
        try transaction.stageFile(files[4], bytes: Array(pkgConfig(prefix: prefix).utf8), mode: 0o644),
        try transaction.stageFile(files[5], bytes: Array(CMakePackage.config().utf8), mode: 0o644),
        try transaction.stageFile(files[6], bytes: Array(CMakePackage.configVersion(version).utf8), mode: 0o644),
        try transaction.stageFile(files[7], bytes: FileSystem.read(zm), mode: 0o755),
      ]
      _ = try transaction.folder(for: Manifest.path)
      manifest.folders = folders + transaction.createdFolders.filter { !folders.contains($0) }
      _ = try transaction.stageFile(Manifest.path, bytes: Array(manifest.text(prefix: prefix).utf8), mode: 0o644)
    }
  }

  static func install(_ args: ArraySlice<String>) -> Int32 {
    let requested = FileSystem.absolute(prefixOption(args, usage: usage))
    checkCharacters(requested)
    let sources = Sources.find()
    return perform("install") { () throws(FileError) in
      let (prefix, createdPrefix) = try makePrefix(requested)
      do throws(FileError) {
        let root = try Folder.open(prefix)
        let keeping = switch try Manifest.read(in: root) {
        case .current(let old, _)?: old.folders
        case .formatOne(let folders)?: folders
        case .unknown?, nil: [String]()
        }
        let transaction = InstallTransaction(root: root)
        try transaction.run { () throws(FileError) in
          try sources.stage(in: transaction, prefix: prefix, keeping: keeping)
        }
      } catch {
        for folder in createdPrefix.reversed() { rmdir(folder) }
        throw error
      }
      runLdconfig(ifSystem: prefix)
      let through = lexicallyNormal(requested) == prefix ? "" : " (\(requested) resolves to it)"
      Console.out("installed zonemalloc \(version) in \(prefix)\(through); "
                  + "`zm uninstall --prefix \(prefix.shellQuoted)` removes it")
    }
  }

  /// Runs body; a FileError ends the command with status 1 and its message.
  static func perform(_ verb: String, _ body: () throws(FileError) -> Void) -> Int32 {
    do {
      try body()
      return 0
    } catch {
      Console.fail("\(verb) failed: \(error.message)", status: 1)
    }
  }

  static func prefixOption(_ args: ArraySlice<String>, usage: String) -> String {
    let (options, operands) = OptionParser(usage: usage, accepted: ["--prefix": .value]).parse(args)
    if let extra = operands.first { Console.usageError("unexpected argument \(extra)", usage: usage) }
    return options.last?.value ?? "/usr/local"
  }

  /// Exits 2 when the prefix holds a character an install cannot pass on (see above).
  private static func checkCharacters(_ prefix: String) {
    for scalar in prefix.unicodeScalars {
      let reason: String? = switch scalar {
      case _ where scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value): "a control character"
      case "(", ")", "$": "\"\(scalar)\", which pkg-config cannot escape"
      case ":": "\":\", at which the dynamic loader splits run paths"
      case ",": "\",\", at which the compiler splits -Wl, options"
      default: nil
      }
      if let reason { Console.fail("cannot install into \(prefix.printable): it contains \(reason)", status: 2) }
    }
  }

  /// The prefix as a canonical absolute path, created (with its parents) if missing; the
  /// folders it created, parents first.
  private static func makePrefix(_ absolute: String) throws(FileError) -> (String, [String]) {
    var partial = ""
    var created: [String] = []
    for component in absolute.split(separator: "/") {
      partial += "/" + component
      if !FileSystem.isDirectory(partial) {
        try FileSystem.makeDirectory(partial)
        created.append(partial)
      }
    }
    return (FileSystem.realPath(absolute) ?? absolute, created)
  }

  /// The path with "." and empty components dropped and ".." applied, links untouched.
  private static func lexicallyNormal(_ path: String) -> String {
    var components: [Substring] = []
    for component in path.split(separator: "/") where component != "." {
      if component == ".." { _ = components.popLast() } else { components.append(component) }
    }
    return "/" + components.joined(separator: "/")
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

  /// The .pc file; the prefix's shell-special characters escaped with backslashes.
  private static func pkgConfig(prefix: String) -> String {
    let rpath = systemPrefixes.contains(prefix) ? "" : " -Wl,-rpath,${libdir}"
    let escaped = prefix.unicodeScalars.map { " \t\\'\"#`;&|<>*?[]{}~!=%@+^".unicodeScalars.contains($0) ? "\\\($0)" : "\($0)" }
    return """
      prefix=\(escaped.joined())
      libdir=${prefix}/lib
      includedir=${prefix}/include

      Name: zonemalloc
      Description: A drop-in malloc for Linux, written in Embedded Swift
      Version: \(version)
      Libs: -L${libdir}\(rpath) -lzonemalloc
      Libs.private: -lpthread -ldl
      Cflags: -I${includedir}

      """
  }

  /// ldconfig, for /usr and /usr/local; a failure is only a warning.
  static func runLdconfig(ifSystem prefix: String) {
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
