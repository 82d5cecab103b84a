// SpecialPrefixTests.swift: a prefix with spaces and other characters a shell treats
// specially works everywhere zm is involved (Sources/ZoneLauncher/Install.swift,
// Preload.swift, Console.swift).
//
// Installed under such a prefix, the installed zm must preload the prefix's library
// into python3 and into a child python3 starts with its default close_fds (the loader
// splits LD_PRELOAD at spaces: zm gives it a link with a plain path in /tmp/zm-<uid>
// instead, which the test removes), with no ld.so error; zm prof must find the profile; `pkg-config --cflags --libs`, re-read by a
// shell as pkg-config's escaping expects, must build a program that runs against the
// prefix's library; the uninstall command install prints, pasted into a shell, must
// empty the prefix. A prefix with a character pkg-config or the loader cannot carry is
// refused before anything is written.
import Foundation
import Testing

@Suite("zm under a prefix with shell-special characters")
struct SpecialPrefixTests {
  static let awkward = "a b'c\"d#e&f;g\\h*i~j"

  let fixture: InstallFixture
  var scratch: String { fixture.scratch }

  init() throws { fixture = try InstallFixture("special") }

  /// The installed zm, with nothing pointing it at the build folder.
  func installedZM(_ prefix: String, _ args: [String]) throws -> Outcome {
    try Subprocess.run([prefix + "/bin/zm"] + args, env: ["PATH": "/usr/bin:/bin"],
                       unset: ["LD_LIBRARY_PATH", "ZONEMALLOC_LIB"], timeout: 120)
  }

  @Test func everyPartOfZmWorksUnderThePrefix() throws {
    let prefix = scratch + "/" + Self.awkward
    let install = try fixture.zm(["install", "--prefix", prefix])
    expectSuccess(install)

    let script = """
      import subprocess
      print([l.split(None, 5)[5].strip() for l in open('/proc/self/maps') if 'libzonemalloc' in l][0])
      print(subprocess.run(['grep', '-c', 'libzonemalloc', '/proc/self/maps'], capture_output=True, text=True).stdout.strip() != '0')
      """
    let run = try installedZM(prefix, ["run", "--", "python3", "-c", script])
    expectSuccess(run, stdout: [prefix + "/lib/libzonemalloc.so.0", "True"])
    #expect(!run.stderr.contains("ld.so"), "\(run)")
    let preload = try installedZM(prefix, ["run", "--", "sh", "-c", "echo \"$LD_PRELOAD\""]).stdoutLines.first ?? ""
    defer { unlink(preload) }
    #expect(preload.hasPrefix("/tmp/zm-\(getuid())/libzonemalloc-") && !preload.contains(" "), "\(preload)")
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: preload) == prefix + "/lib/libzonemalloc.so.0")

    let out = scratch + "/prof"
    let prof = try installedZM(prefix, ["prof", "--rate", "4K", "--out", out, "--",
                                        "python3", "-c", "x = [str(i) * 3 for i in range(100000)]"])
    expectSuccess(prof)
    #expect(prof.stdout.hasPrefix("zm prof: 1 process, "), "\(prof)")

    let demo = scratch + "/demo.c"
    try "#include <zonemalloc.h>\n#include <stdio.h>\nint main(void) { printf(\"%s\\n\", zm_version()); return 0; }\n"
      .write(toFile: demo, atomically: false, encoding: .utf8)
    let build = try Subprocess.shell("eval \"cc '\(demo)' $(pkg-config --cflags --libs zonemalloc) -o '\(scratch)/demo'\"",
                                     env: ["PKG_CONFIG_PATH": prefix + "/lib/pkgconfig"])
    expectSuccess(build)
    expectSuccess(try Subprocess.run([scratch + "/demo"]), stdout: ["0.1.0"])
    let ldd = try Subprocess.run(["ldd", scratch + "/demo"])
    #expect(ldd.stdout.contains("libzonemalloc.so.0 => \(prefix)/lib/libzonemalloc.so.0"), "\(ldd)")

    let hint = try #require(install.stdout.split(separator: "`").dropFirst().first.map(String.init), "\(install)")
    #expect(hint.hasPrefix("zm uninstall --prefix '"), "\(install)")
    let uninstall = try Subprocess.shell(hint, env: ["PATH": prefix + "/bin:/usr/bin:/bin"])
    expectSuccess(uninstall)
    #expect(try FileManager.default.contentsOfDirectory(atPath: prefix) == [], "\(uninstall)")
  }

  @Test(arguments: ["a(b", "a)b", "a$b", "a:b", "a,b", "a\nb", "a\u{1b}b"])
  func aPrefixThatCannotBeCarriedIsRefused(name: String) throws {
    let prefix = scratch + "/" + name
    let outcome = try fixture.zm(["install", "--prefix", prefix])
    #expect(outcome.exitCode == 2 && outcome.stdout.isEmpty, "\(outcome)")
    #expect(outcome.stderr.hasPrefix("zm: cannot install into ") && outcome.stderr.split(separator: "\n").count == 1,
            "\(outcome)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch) == [], "\(outcome)")
  }
}
