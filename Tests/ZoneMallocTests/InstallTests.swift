// InstallTests.swift: `zm install --prefix` and `zm uninstall --prefix`
// (Sources/ZoneLauncher/Install.swift), run by the zm of the build folder.
//
// An install into a new prefix must hold the library as lib/libzonemalloc.so.0 with that
// SONAME, the libzonemalloc.so link, the static lib/libzonemalloc.a, the header, a
// pkg-config file (with --static's libraries), the CMake package and bin/zm
// (StaticLinkTests links programs with the last two). A C program
// built with `cc demo.c $(pkg-config --cflags --libs zonemalloc)` must run against the
// prefix's library (ldd says so, and zm_owns agrees); the installed zm, with the toolchain
// neither on PATH nor in LD_LIBRARY_PATH, must preload the prefix's library into python3
// (its /proc/self/maps shows it) and can install itself into another prefix; uninstall
// must leave the prefix empty, and leave alone what it did not install.
import Foundation
import Testing

@Suite("zm install and uninstall")
struct InstallTests {
  static let installed = [
    "bin/zm", "include/zonemalloc.h", "lib/libzonemalloc.so", "lib/libzonemalloc.so.0", "lib/libzonemalloc.a",
    "lib/pkgconfig/zonemalloc.pc", "lib/cmake/zonemalloc/zonemallocConfig.cmake",
    "lib/cmake/zonemalloc/zonemallocConfigVersion.cmake", "share/zonemalloc/install-manifest",
  ]

  let launcher: String
  let library: String

  init() throws {
    launcher = try Paths.launcher()
    library = try Paths.resolved(try Paths.library())
  }

  /// The build folder's zm, installing the library under test.
  func zm(_ args: [String]) throws -> Outcome {
    try Subprocess.run([launcher] + args, env: ["ZONEMALLOC_LIB": library])
  }

  /// The installed zm, as on a machine without the toolchain: no Swift on PATH or in
  /// LD_LIBRARY_PATH, and no ZONEMALLOC_LIB.
  func installedZM(_ prefix: String, _ args: [String]) throws -> Outcome {
    try Subprocess.run([prefix + "/bin/zm"] + args, env: ["PATH": "/usr/bin:/bin"],
                       unset: ["LD_LIBRARY_PATH", "ZONEMALLOC_LIB"])
  }

  /// Every file, link and folder under root, as paths relative to it.
  func contents(_ root: String) throws -> [String] {
    (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted()
  }

  @Test func installBuildRunAndUninstall() throws {
    let tmp = try Paths.resolved(try Paths.makeTempDir("install"))
    defer { try? FileManager.default.removeItem(atPath: tmp) }
    let prefix = tmp + "/p"
    let install = try zm(["install", "--prefix", prefix])
    expectSuccess(install)
    let files = try contents(prefix)
    #expect(Set(Self.installed).isSubset(of: Set(files)), "installed: \(files)\n\(install)")
    try checkLibraryAndHeader(prefix)
    try checkPkgConfigBuild(prefix, scratch: tmp)
    try checkInstalledLauncher(prefix)
    try checkReinstallFromThePrefix(prefix, into: tmp + "/q")
    expectSuccess(try installedZM(prefix, ["uninstall", "--prefix", prefix]))
    let left = try contents(prefix)
    #expect(left == [], "left after uninstall: \(left)")
  }

  func checkLibraryAndHeader(_ prefix: String) throws {
    let fm = FileManager.default
    #expect(fm.contentsEqual(atPath: prefix + "/lib/libzonemalloc.so.0", andPath: library))
    #expect(try fm.destinationOfSymbolicLink(atPath: prefix + "/lib/libzonemalloc.so") == "libzonemalloc.so.0")
    #expect(fm.contentsEqual(atPath: prefix + "/include/zonemalloc.h", andPath: Paths.include + "/zonemalloc.h"))
    let readelf = try Subprocess.run(["readelf", "-d", prefix + "/lib/libzonemalloc.so.0"])
    #expect(readelf.stdout.contains("Library soname: [libzonemalloc.so.0]"), "\(readelf)")
  }

  /// demo.c calls zm_stats and zm_owns; built with pkg-config's flags, run as is.
  func checkPkgConfigBuild(_ prefix: String, scratch: String) throws {
    let demo = scratch + "/demo.c"
    try """
      #include <stdio.h>
      #include <stdlib.h>
      #include <zonemalloc.h>
      int main(void) {
        void *p = malloc(100);
        zm_stats_t s;
        zm_stats(&s);
        printf("demo version %llu owns %d mallocs %d\\n", (unsigned long long)s.version, zm_owns(p), s.malloc_count > 0);
        free(p);
        return 0;
      }
      """.write(toFile: demo, atomically: false, encoding: .utf8)
    let env = ["PKG_CONFIG_PATH": prefix + "/lib/pkgconfig"]
    let build = try Subprocess.shell("cc '\(demo)' $(pkg-config --cflags --libs zonemalloc) -o '\(scratch)/demo'", env: env)
    expectSuccess(build)
    expectSuccess(try Subprocess.run([scratch + "/demo"]), stdout: ["demo version 3 owns 1 mallocs 1"])
    let ldd = try Subprocess.run(["ldd", scratch + "/demo"])
    #expect(ldd.stdoutLines.contains { $0.contains("libzonemalloc.so.0 => \(prefix)/lib/libzonemalloc.so.0") }, "\(ldd)")
  }

  /// The installed zm finds the prefix's library and preloads it into python3, with the
  /// toolchain out of reach.
  func checkInstalledLauncher(_ prefix: String) throws {
    let ldd = try Subprocess.run(["ldd", prefix + "/bin/zm"])
    #expect(ldd.succeeded && !ldd.stdout.lowercased().contains("swift"), "\(ldd)")
    expectSuccess(try installedZM(prefix, ["lib"]), stdout: [prefix + "/lib/libzonemalloc.so.0"])
    let script = "print([l.split()[-1] for l in open('/proc/self/maps') if 'libzonemalloc' in l][0])"
    let run = try installedZM(prefix, ["run", "--stats", "--", "python3", "-c", script])
    expectSuccess(run, stdout: [prefix + "/lib/libzonemalloc.so.0"])
    #expect(SummaryTests.headers(run.stderr).count == 1, "\(run)")
  }

  /// An installed zm installs from its own prefix (library and header found there).
  func checkReinstallFromThePrefix(_ prefix: String, into other: String) throws {
    expectSuccess(try installedZM(prefix, ["install", "--prefix", other]))
    let copied = try contents(other)
    #expect(try copied == contents(prefix), "\(copied)")
    #expect(FileManager.default.contentsEqual(atPath: other + "/lib/libzonemalloc.so.0", andPath: library))
  }

  @Test func uninstallRemovesOnlyWhatInstallAdded() throws {
    let prefix = try Paths.resolved(try Paths.makeTempDir("prefix"))
    defer { try? FileManager.default.removeItem(atPath: prefix) }
    try FileManager.default.createDirectory(atPath: prefix + "/lib", withIntermediateDirectories: true)
    try "mine\n".write(toFile: prefix + "/lib/other.txt", atomically: false, encoding: .utf8)
    expectSuccess(try zm(["install", "--prefix", prefix]))
    expectSuccess(try zm(["install", "--prefix", prefix]))  // a reinstall keeps what the first one created
    expectSuccess(try zm(["uninstall", "--prefix", prefix]))
    let left = try contents(prefix)
    #expect(left == ["lib", "lib/other.txt"], "\(left)")
  }

  @Test func uninstallWithoutAnInstallFails() throws {
    let prefix = try Paths.makeTempDir("empty")
    defer { try? FileManager.default.removeItem(atPath: prefix) }
    let outcome = try zm(["uninstall", "--prefix", prefix])
    #expect(outcome.exitCode == 1, "\(outcome)")
    #expect(outcome.stderr.contains("nothing to uninstall"), "\(outcome)")
  }

  @Test func pkgConfigFileNamesThePrefix() throws {
    let prefix = try Paths.resolved(try Paths.makeTempDir("pc"))
    defer { try? FileManager.default.removeItem(atPath: prefix) }
    expectSuccess(try zm(["install", "--prefix", prefix]))
    let env = ["PKG_CONFIG_PATH": prefix + "/lib/pkgconfig"]
    let flags = try Subprocess.run(["pkg-config", "--cflags", "--libs", "zonemalloc"], env: env)
    expectSuccess(flags)
    #expect(flags.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
              == "-I\(prefix)/include -L\(prefix)/lib -Wl,-rpath,\(prefix)/lib -lzonemalloc", "\(flags)")
    let staticFlags = try Subprocess.run(["pkg-config", "--static", "--libs", "zonemalloc"], env: env)
    #expect(staticFlags.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
              == "-L\(prefix)/lib -Wl,-rpath,\(prefix)/lib -lzonemalloc -lpthread -ldl", "\(staticFlags)")
    let version = try Subprocess.run(["pkg-config", "--modversion", "zonemalloc"], env: env)
    expectSuccess(version, stdout: ["0.1.0"])
  }
}
