// InstallSafetyTests.swift: `zm install` and `zm uninstall` touch only their own files
// (Sources/ZoneLauncher/Install.swift, Uninstall.swift, InstallTransaction.swift).
//
// Run as root (as CI does) against scratch folders, each test plants what a hostile
// user of the prefix could and checks that no file outside the prefix, and no file
// install did not write, is touched:
// - manifest entries naming a user's file and a file behind a link in the prefix, even
//   with its true device, inode and hash, are left alone, with a warning;
// - a folder of the prefix moved out and replaced by a link to it: uninstall follows no
//   link, though every file there matches the manifest;
// - a link planted at install's old temporary name (.zm-new-<pid>, the pid known through
//   exec) toward a 0600 file: the file keeps its content and mode;
// - lib a link to another folder: install refuses it and writes nothing there;
// - a failed install (bin/zm a folder), fresh or over an earlier install, leaves the
//   prefix as it was, down to the inodes;
// - files changed since install are kept; a format-1 manifest is refused until an
//   install records the files; the manifest's device, inode, size and SHA-256 (checked
//   against sha256sum) are those of the installed files; a prefix given through a link
//   is resolved once, and zm says so.
import Foundation
import Testing

/// The build folder's zm with the library under test, and a scratch folder of its own.
struct InstallFixture {
  let launcher: String
  let library: String
  let scratch: String

  init(_ label: String) throws {
    launcher = try Paths.launcher()
    library = try Paths.resolved(try Paths.library())
    scratch = try Paths.resolved(try Paths.makeTempDir(label))
  }

  func zm(_ args: [String]) throws -> Outcome {
    try Subprocess.run([launcher] + args, env: ["ZONEMALLOC_LIB": library])
  }
}

@Suite("zm install and uninstall against hostile prefixes")
struct InstallSafetyTests {
  let fixture: InstallFixture
  var scratch: String { fixture.scratch }

  init() throws { fixture = try InstallFixture("hostile") }

  func zm(_ args: [String]) throws -> Outcome { try fixture.zm(args) }

  func installed(_ prefix: String) throws {
    expectSuccess(try zm(["install", "--prefix", prefix]))
  }

  func write(_ text: String, to path: String, mode: Int = 0o644) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
  }

  func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  /// Every entry under root with its inode and, for a file, its content's hash.
  func snapshot(_ root: String) throws -> [String] {
    let listing = try Subprocess.shell("cd '\(root)' && find . -printf '%i %y %p\\n' | sort -k3")
    expectSuccess(listing)
    return listing.stdoutLines
  }

  /// A manifest line of format 2 for the file at path, with its true identity.
  func entry(_ relative: String, _ path: String) throws -> String {
    let stat = try Subprocess.run(["stat", "-L", "-c", "%d %i %s", path])
    let hash = try Subprocess.run(["sha256sum", path])
    let digest = hash.stdout.split(separator: " ").first.map(String.init) ?? ""
    return "file \(relative) \(stat.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) \(digest)"
  }

  func appendToManifest(_ prefix: String, _ lines: [String]) throws {
    let handle = try #require(FileHandle(forWritingAtPath: prefix + "/share/zonemalloc/install-manifest"))
    handle.seekToEndOfFile()
    handle.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    handle.closeFile()
  }

  @Test func uninstallLeavesPlantedManifestEntriesAlone() throws {
    let prefix = scratch + "/p", outside = scratch + "/outside"
    try installed(prefix)
    try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
    try write("mine\n", to: prefix + "/userdata.txt")
    try write("outside the prefix\n", to: outside + "/data.txt")
    try FileManager.default.createSymbolicLink(atPath: prefix + "/lib2", withDestinationPath: outside)
    try appendToManifest(prefix, ["file userdata.txt", "file lib2/data.txt",
                                  try entry("userdata.txt", prefix + "/userdata.txt"),
                                  try entry("lib2/data.txt", outside + "/data.txt")])
    let outcome = try zm(["uninstall", "--prefix", prefix])
    #expect(outcome.exitCode == 1, "\(outcome)")
    #expect(outcome.stderr.components(separatedBy: "not a file zm installs").count == 3, "\(outcome)")
    #expect(read(prefix + "/userdata.txt") == "mine\n" && read(outside + "/data.txt") == "outside the prefix\n")
    let left = try FileManager.default.contentsOfDirectory(atPath: prefix).sorted()
    #expect(left == ["lib2", "userdata.txt"], "the install's own files go: \(left)")
  }

  @Test func uninstallFollowsNoLinkInsideThePrefix() throws {
    let prefix = scratch + "/p", moved = scratch + "/moved"
    try installed(prefix)
    try FileManager.default.moveItem(atPath: prefix + "/lib", toPath: moved) // same inodes, same content
    try FileManager.default.createSymbolicLink(atPath: prefix + "/lib", withDestinationPath: moved)
    let before = try snapshot(moved)
    let outcome = try zm(["uninstall", "--prefix", prefix])
    #expect(outcome.exitCode == 1 && outcome.stderr.contains("lib is a symbolic link"), "\(outcome)")
    #expect(try snapshot(moved) == before, "uninstall reached through the link")
    #expect(!FileManager.default.fileExists(atPath: prefix + "/bin/zm"), "\(outcome)")
  }

  @Test func installWritesNothingThroughAPlantedTemporaryName() throws {
    let prefix = scratch + "/p", victim = scratch + "/victim"
    try FileManager.default.createDirectory(atPath: prefix + "/include", withIntermediateDirectories: true)
    try write("secret\n", to: victim, mode: 0o600)
    // exec keeps the shell's pid, so the link sits at the name install's temporary file had.
    let script = "ln -s \"$1\" \"$2/include/.zm-new-$$\" && exec \"$3\" install --prefix \"$2\""
    let outcome = try Subprocess.run(["/bin/sh", "-c", script, "sh", victim, prefix, fixture.launcher],
                                     env: ["ZONEMALLOC_LIB": fixture.library])
    expectSuccess(outcome)
    #expect(read(victim) == "secret\n", "\(outcome)")
    let mode = try FileManager.default.attributesOfItem(atPath: victim)[.posixPermissions] as? Int
    #expect(mode == 0o600)
    #expect(FileManager.default.contentsEqual(atPath: prefix + "/include/zonemalloc.h",
                                              andPath: Paths.include + "/zonemalloc.h"))
  }

  @Test func installRefusesALinkedFolderInsideThePrefix() throws {
    let prefix = scratch + "/p", elsewhere = scratch + "/elsewhere"
    try FileManager.default.createDirectory(atPath: prefix, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
    try write("theirs\n", to: elsewhere + "/libzonemalloc.so.0")
    try FileManager.default.createSymbolicLink(atPath: prefix + "/lib", withDestinationPath: elsewhere)
    let (prefixBefore, elsewhereBefore) = (try snapshot(prefix), try snapshot(elsewhere))
    let outcome = try zm(["install", "--prefix", prefix])
    #expect(outcome.exitCode == 1 && outcome.stderr.contains("\(prefix)/lib is a symbolic link"), "\(outcome)")
    #expect(try snapshot(prefix) == prefixBefore && snapshot(elsewhere) == elsewhereBefore, "\(outcome)")
    #expect(read(elsewhere + "/libzonemalloc.so.0") == "theirs\n")
  }

  @Test(arguments: [false, true])
  func aFailedInstallLeavesThePrefixAsItWas(overAnEarlierInstall: Bool) throws {
    let prefix = scratch + "/p"
    if overAnEarlierInstall {
      try installed(prefix)
      try FileManager.default.removeItem(atPath: prefix + "/bin/zm")
    }
    try FileManager.default.createDirectory(atPath: prefix + "/bin/zm", withIntermediateDirectories: true)
    try write("x\n", to: prefix + "/bin/zm/x")
    let before = try snapshot(prefix)
    let outcome = try zm(["install", "--prefix", prefix])
    #expect(outcome.exitCode == 1 && outcome.stderr.contains("\(prefix)/bin/zm is a folder"), "\(outcome)")
    #expect(try snapshot(prefix) == before, "\(outcome)")
  }

  @Test func uninstallKeepsWhatChangedSinceInstall() throws {
    let prefix = scratch + "/p"
    try installed(prefix)
    let header = prefix + "/include/zonemalloc.h", link = prefix + "/lib/libzonemalloc.so"
    let edited = (read(header) ?? "") + "/* mine */\n"
    try write(edited, to: header) // in place: same inode, other content
    try FileManager.default.removeItem(atPath: link)
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/lib/x86_64-linux-gnu/libc.so.6")
    let outcome = try zm(["uninstall", "--prefix", prefix])
    #expect(outcome.exitCode == 1, "\(outcome)")
    #expect(outcome.stderr.contains("left \(header) alone: it has changed since zm installed it"), "\(outcome)")
    #expect(outcome.stderr.contains("left \(link) alone"), "\(outcome)")
    #expect(read(header) == edited)
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "/lib/x86_64-linux-gnu/libc.so.6")
    #expect(!FileManager.default.fileExists(atPath: prefix + "/lib/libzonemalloc.so.0"), "\(outcome)")
  }

  @Test func aFormatOneManifestIsRefusedUntilAnInstallRecordsTheFiles() throws {
    let prefix = scratch + "/p"
    try installed(prefix)
    let lines = ["# zonemalloc install manifest: `zm uninstall --prefix \(prefix)` removes these"]
      + InstallTests.installed.dropLast().map { "file " + $0 }
      + ["lib", "include", "lib/pkgconfig", "lib/cmake", "lib/cmake/zonemalloc", "bin", "share", "share/zonemalloc"]
        .map { "folder " + $0 }
    try write(lines.joined(separator: "\n") + "\n", to: prefix + "/share/zonemalloc/install-manifest")
    let before = try snapshot(prefix)
    let refused = try zm(["uninstall", "--prefix", prefix])
    #expect(refused.exitCode == 1 && refused.stderr.contains("is of format 1"), "\(refused)")
    #expect(refused.stderr.contains("Run `zm install --prefix \(prefix)` to record them"), "\(refused)")
    #expect(try snapshot(prefix) == before, "\(refused)")
    try installed(prefix)
    expectSuccess(try zm(["uninstall", "--prefix", prefix]))
    #expect(try FileManager.default.contentsOfDirectory(atPath: prefix) == [])
  }

  @Test func theManifestRecordsEachInstalledFile() throws {
    let prefix = scratch + "/p"
    try installed(prefix)
    let manifest = try #require(read(prefix + "/share/zonemalloc/install-manifest"))
    #expect(manifest.hasPrefix("zonemalloc install manifest 2\n"), "\(manifest)")
    var recorded: [String] = []
    for line in manifest.split(separator: "\n") where line.hasPrefix("file ") || line.hasPrefix("link ") {
      let words = line.split(separator: " ").map(String.init)
      let path = prefix + "/" + words[1]
      let stat = try Subprocess.run(["stat", "-c", "%d %i %s", path])
      #expect(stat.stdout == "\(words[2]) \(words[3]) \(words[4])\n", "\(line) vs \(stat.stdout)")
      let hash = words[0] == "link"
        ? try Subprocess.shell("printf %s \"$(readlink '\(path)')\" | sha256sum")
        : try Subprocess.run(["sha256sum", path])
      #expect(hash.stdout.hasPrefix(words[5] + " "), "\(line) vs \(hash.stdout)")
      recorded.append(words[1])
    }
    #expect(recorded.sorted() == InstallTests.installed.dropLast().sorted(), "\(manifest)")
  }

  @Test func aPrefixGivenThroughALinkIsResolvedOnce() throws {
    let real = scratch + "/real", link = scratch + "/link"
    try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
    let install = try zm(["install", "--prefix", link])
    expectSuccess(install, stdout: ["installed zonemalloc 0.1.0 in \(real) (\(link) resolves to it); "
                                    + "`zm uninstall --prefix \(real)` removes it"])
    #expect(FileManager.default.fileExists(atPath: real + "/bin/zm"))
    expectSuccess(try zm(["uninstall", "--prefix", link]))
    #expect(try FileManager.default.contentsOfDirectory(atPath: real) == [])
  }
}
