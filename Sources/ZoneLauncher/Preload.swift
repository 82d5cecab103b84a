// Preload.swift: putting the library in front of a command, for `zm run` and `zm prof`,
// and telling when the dynamic loader will not honour it.
//
// Owns: the LD_PRELOAD value (the library first, then what LD_PRELOAD held; kept as is
// when the library already comes first), the form the library's path takes in it, and
// the warnings about commands the loader will not preload (the command still runs).
//  - The loader splits LD_PRELOAD at spaces and colons and knows no escape. A library
//    whose path holds either goes in as a symbolic link with a plain path:
//    /tmp/zm-<uid>/libzonemalloc-<16 hex digits of the path's SHA-256>.so, pointing to
//    the library. The folder is created with mode 0711 (a program that changed user can
//    still follow the link; only its owner can list or write it) and used only if it is
//    a real folder of this user that no one else can write; else zm stops (exit 2). The
//    link stays: a process the command starts may load it long after zm has gone; links
//    whose library is gone are removed when zm makes a new one. The
//    other forms measured: /proc/self/fd/N of a descriptor left open for the command
//    reaches it, but not the children of a program that closes inherited descriptors
//    (python's subprocess does by default), which then run without zonemalloc after an
//    ld.so error; a bare libzonemalloc.so.0 with the library's folder in
//    LD_LIBRARY_PATH reaches every process, but puts every other library of that
//    folder in front of the system's.
//  - The loader ignores LD_PRELOAD in a command it runs in secure mode (AT_SECURE): a
//    file that is setuid to an owner other than the real user, setgid to a group other
//    than the real group (with group execute), or, for a user other than root, a file
//    with capabilities; not on a file system mounted nosuid. zm warns and runs it.
//  - So it does for a statically linked command (no program interpreter) and for one
//    built for another machine.
// Touches: ELFFile, Folder, FileSystem, SHA256, Console, the environment.
#if canImport(Glibc)
import Glibc
#endif

enum Preload {
  /// LD_PRELOAD for the library: its preloadable path first, then `existing`.
  static func value(library: String, existing: String) -> String {
    let path = preloadablePath(library)
    let entries = existing.split { $0 == ":" || $0 == " " }
    if entries.first.map(String.init) == path { return existing }
    return entries.isEmpty ? path : path + ":" + existing
  }

  /// The library's path, or a link to it with a path the loader does not split.
  static func preloadablePath(_ library: String) -> String {
    guard library.contains(where: { $0 == " " || $0 == ":" }) else { return library }
    let uid = getuid()
    let name = "libzonemalloc-" + SHA256.hex(Array(library.utf8)).prefix(16) + ".so"
    do throws(FileError) {
      guard let (folder, _) = try Folder.open("/tmp").subfolder("zm-\(uid)", createMode: 0o711) else {
        throw FileError(message: "/tmp/zm-\(uid) vanished while zm created it")
      }
      var info = stat()
      guard fstat(folder.fd, &info) == 0, info.st_uid == uid, info.st_mode & 0o022 == 0 else {
        throw FileError(message: "\(folder.path) belongs to someone else or others can write it")
      }
      if folder.linkTarget(name) != library {
        removeDanglingLinks(in: folder)
        let temporary = try folder.createLink(to: library).name
        do throws(FileError) { try folder.rename(temporary, to: name) } catch {
          folder.remove(temporary)
          throw error
        }
      }
      return folder.pathOf(name)
    } catch {
      Console.fail("cannot preload \(library.printable): the dynamic loader splits LD_PRELOAD at spaces and colons, "
                   + "and the link zm makes instead failed: \(error.message)", status: 2)
    }
  }

  /// Removes the links of the folder whose library no longer exists.
  private static func removeDanglingLinks(in folder: Folder) {
    for name in FileSystem.list(folder.path) ?? [] where name.hasPrefix("libzonemalloc-") {
      var info = stat()
      if fstatat(folder.fd, name, &info, 0) != 0 && errno == ENOENT { folder.remove(name) }
    }
  }

  /// Warns when the dynamic loader will not preload the library into the program.
  static func warnIfIgnored(_ program: String, library: String) {
    guard let path = FileSystem.findCommand(program), let elf = ELFFile(path: path),
          let lib = ELFFile(path: library) else { return } // scripts, or not found: exec decides
    if !elf.sameMachine(as: lib) {
      Console.warn("\(path) is built for \(elf.machineName), the library for \(lib.machineName): "
        + "it will run without zonemalloc")
    } else if elf.hasInterpreter == false && !elf.hasSoname {
      Console.warn("\(path) is statically linked (no program interpreter): LD_PRELOAD cannot reach it, "
        + "so it will run without zonemalloc")
    } else if let reason = secureMode(path) {
      Console.warn("\(path) is \(reason): the dynamic loader ignores LD_PRELOAD for it, "
        + "so it will run without zonemalloc")
    }
  }

  /// Why the kernel runs the file in secure mode for this user, or nil.
  private static func secureMode(_ path: String) -> String? {
    var info = stat(), mount = statvfs()
    guard stat(path, &info) == 0, statvfs(path, &mount) == 0, mount.f_flag & UInt(ST_NOSUID) == 0 else { return nil }
    if info.st_mode & S_ISUID != 0 && info.st_uid != getuid() {
      return "setuid to \(name(of: info.st_uid, in: getpwuid(info.st_uid)?.pointee.pw_name)), not you"
    }
    if info.st_mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP && info.st_gid != getgid() {
      return "setgid to group \(name(of: info.st_gid, in: getgrgid(info.st_gid)?.pointee.gr_name)), not yours"
    }
    if getuid() != 0 && hasCapabilities(path) { return "given capabilities (setcap)" }
    return nil
  }

  private static func name(of id: UInt32, in entry: UnsafeMutablePointer<CChar>?) -> String {
    entry.map { String(cString: $0) } ?? String(id)
  }

  /// Whether the file has a security.capability attribute. getxattr is in glibc but not
  /// in Swift's Glibc module, so it is looked up by name.
  private static func hasCapabilities(_ path: String) -> Bool {
    typealias GetAttribute = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "getxattr") else { return false }
    return unsafeBitCast(symbol, to: GetAttribute.self)(path, "security.capability", nil, 0) > 0
  }
}
