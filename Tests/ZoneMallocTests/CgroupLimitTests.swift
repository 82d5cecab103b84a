// CgroupLimitTests.swift: ZONEMALLOC_LIMIT=auto, a cap of 90% of the process's memory
// cgroup limit.
//
// - Fake trees (ZONEMALLOC_CGROUP_ROOT, for tests only): cgroup v2 with the limit on the
//   group, on a parent, or nowhere ("max"); cgroup v1 with the mount's root inside the
//   hierarchy (a container) and with the limit on a parent; no cgroup files at all. The
//   cap zm_stats reports, and the line ZONEMALLOC_STATS=1 prints, must follow.
// - A real memory cgroup made by the test under the process's own (v1 here, v2 where
//   the hierarchy allows it), limited to 64 MiB: cgroup_fill.c allocating 1 MiB blocks
//   past the limit gets NULL with ENOMEM under zonemalloc with auto and exits 0, and is
//   killed by the OOM killer under glibc. Where no group can be made (not root, no
//   memory controller, read-only), the test says why and skips.
import Foundation
import Testing

/// A child memory cgroup of the test process's own group, removed by `remove()`.
struct MemoryCgroup {
  let directory: String
  let version: Int

  /// Makes the group with the limit; nil with the reason when it cannot.
  static func make(limit: Int) -> (MemoryCgroup?, String) {
    guard getuid() == 0 else { return (nil, "not root") }
    guard let own = ownGroup() else { return (nil, "no memory cgroup in /proc/self/cgroup and /proc/self/mountinfo") }
    let dir = own.directory + "/zonemalloc-test-" + UUID().uuidString.prefix(8)
    guard mkdir(dir, 0o755) == 0 else { return (nil, "cannot create \(dir): \(String(cString: strerror(errno)))") }
    let group = MemoryCgroup(directory: dir, version: own.version)
    let file = own.version == 1 ? "/memory.limit_in_bytes" : "/memory.max"
    guard (try? "\(limit)\n".write(toFile: dir + file, atomically: false, encoding: .utf8)) != nil else {
      group.remove()
      return (nil, "cannot write \(dir + file)")
    }
    return (group, "")
  }

  /// Runs argv inside the group: a shell moves itself in, then executes the program.
  func run(_ argv: [String], env: [String: String]) throws -> Outcome {
    try Subprocess.run(["/bin/sh", "-c", "echo $$ > \(directory)/cgroup.procs && exec \"$@\"", "sh"] + argv,
                       env: env, timeout: 120)
  }

  func remove() {
    for _ in 0..<50 where rmdir(directory) != 0 { usleep(100_000) }
  }

  /// The directory of this process's memory cgroup and its version.
  private static func ownGroup() -> (directory: String, version: Int)? {
    guard let cgroup = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
          let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
    let lines = cgroup.split(separator: "\n").map { $0.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false) }
    let v1 = lines.first { $0.count == 3 && $0[1].split(separator: ",").contains("memory") }
    let v2 = lines.first { $0.count == 3 && $0[0] == "0" && $0[1].isEmpty }
    guard let line = v1 ?? v2 else { return nil }
    let version = v1 != nil ? 1 : 2
    for mount in mountinfo.split(separator: "\n") {
      let halves = mount.components(separatedBy: " - ")
      guard halves.count == 2 else { continue }
      let after = halves[1].split(separator: " "), before = halves[0].split(separator: " ")
      let matches = version == 1 ? after[0] == "cgroup" && after[2].split(separator: ",").contains("memory")
        : after[0] == "cgroup2"
      guard matches, before.count >= 5 else { continue }
      let root = String(before[3]), path = String(line[2])
      let below = root == "/" ? path : String(path.dropFirst(path.hasPrefix(root) ? root.count : 0))
      return (String(before[4]) + (below == "/" ? "" : below), version)
    }
    return nil
  }
}

@Suite("ZONEMALLOC_LIMIT=auto")
struct CgroupLimitTests {
  struct FakeCase: CustomStringConvertible, Sendable {
    let name: String
    let files: [String: String]
    let cap: Int
    let line: String

    var description: String { name }
  }

  static let v2Mount = "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n"
  static let v1Mounts = "30 25 0:26 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    + "31 25 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    + "35 25 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
  static let unlimitedV1 = "9223372036854771712\n"

  static let cases = [
    FakeCase(name: "v2, limit on the group",
             files: ["proc/self/cgroup": "0::/user.slice/app.scope\n", "proc/self/mountinfo": v2Mount,
                     "sys/fs/cgroup/user.slice/memory.max": "max\n",
                     "sys/fs/cgroup/user.slice/app.scope/memory.max": "104857600\n"],
             cap: 94_371_840, line: "cgroup v2 limit 104857600 (100.0 MiB); cap 94371840 (90.0 MiB, 90%) for "),
    FakeCase(name: "v2, smaller limit on the parent",
             files: ["proc/self/cgroup": "0::/user.slice/app.scope\n", "proc/self/mountinfo": v2Mount,
                     "sys/fs/cgroup/user.slice/memory.max": "67108864\n",
                     "sys/fs/cgroup/user.slice/app.scope/memory.max": "104857600\n"],
             cap: 60_397_977, line: "cgroup v2 limit 67108864 (64.0 MiB); cap 60397977"),
    FakeCase(name: "v2, no limit",
             files: ["proc/self/cgroup": "0::/user.slice/app.scope\n", "proc/self/mountinfo": v2Mount,
                     "sys/fs/cgroup/user.slice/memory.max": "max\n",
                     "sys/fs/cgroup/user.slice/app.scope/memory.max": "max\n"],
             cap: 0, line: "cgroup v2 has no memory limit; no cap"),
    FakeCase(name: "v1, mount root inside the hierarchy (a container)",
             files: ["proc/self/cgroup": "12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n",
                     "proc/self/mountinfo": v1Mounts.replacingOccurrences(of: "0:32 / ", with: "0:32 /docker/abc "),
                     "sys/fs/cgroup/memory/memory.limit_in_bytes": "52428800\n"],
             cap: 47_185_920, line: "cgroup v1 limit 52428800 (50.0 MiB); cap 47185920"),
    FakeCase(name: "v1, limit on a parent only",
             files: ["proc/self/cgroup": "9:cpu,cpuacct:/\n4:memory:/a/b\n0::/\n", "proc/self/mountinfo": v1Mounts,
                     "sys/fs/cgroup/memory/memory.limit_in_bytes": unlimitedV1,
                     "sys/fs/cgroup/memory/a/memory.limit_in_bytes": "33554432\n",
                     "sys/fs/cgroup/memory/a/b/memory.limit_in_bytes": unlimitedV1],
             cap: 30_198_988, line: "cgroup v1 limit 33554432 (32.0 MiB); cap 30198988"),
    FakeCase(name: "no cgroup files", files: [:], cap: 0, line: "no memory cgroup found; no cap"),
  ]

  @Test(arguments: cases)
  func capFollowsAFakeCgroupTree(_ fake: FakeCase) throws {
    let root = try Paths.makeTempDir("cgroup")
    for (path, text) in fake.files {
      try FileManager.default.createDirectory(atPath: root + "/" + (path as NSString).deletingLastPathComponent,
                                              withIntermediateDirectories: true)
      try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8)
    }
    let program = try TestProgram.build("cgroup_fill.c", linkage: .plain)
    let outcome = try Subprocess.run([program, "1"], env: try preloadEnvironment(
      ["ZONEMALLOC_LIMIT": "auto", "ZONEMALLOC_STATS": "1", "ZONEMALLOC_CGROUP_ROOT": root]))
    expectSuccess(outcome, stdout: ["filled ok mib=1 null=0 errno=0"])
    #expect(StatsSummary.parse(outcome.stderr)["limit"] == UInt64(fake.cap), "\(fake.name):\n\(outcome)")
    #expect(outcome.stderr.contains("zonemalloc: ZONEMALLOC_LIMIT=auto: " + fake.line), "\(fake.name):\n\(outcome)")
  }

  @Test func aProgramPastTheCgroupLimitGetsENOMEMWhereGlibcIsOOMKilled() throws {
    let limit = 64 << 20
    let (made, reason) = MemoryCgroup.make(limit: limit)
    guard let group = made else {
      print("skipped: no memory cgroup can be made here: \(reason)")
      return
    }
    defer { group.remove() }
    let program = try TestProgram.build("cgroup_fill.c", linkage: .plain)
    let auto = try group.run([program, "1024"], env: try preloadEnvironment(
      ["ZONEMALLOC_LIMIT": "auto", "ZONEMALLOC_STATS": "1"]))
    let f = expectReport(auto, prefix: "filled ok ")
    #expect(f["null"] == 1 && f["errno"] == Int(ENOMEM), "malloc returns NULL with ENOMEM: \(auto)")
    #expect((f["mib"] ?? 0) * 10 <= 64 * 9 && (f["mib"] ?? 0) >= 40, "about 90% of 64 MiB before NULL: \(f)")
    #expect(auto.stderr.contains("ZONEMALLOC_LIMIT=auto: cgroup v\(group.version) limit \(limit) "), "\(auto)")
    let glibc = try group.run([program, "1024"], env: [:])
    #expect(glibc.signal == SIGKILL, "glibc's malloc lets the group fill up and the OOM killer ends it: \(glibc)")
    print("measured: in a \(limit >> 20) MiB cgroup v\(group.version), zonemalloc with auto got NULL after "
          + "\(f["mib"] ?? 0) MiB; glibc: \(glibc.signal.map { "signal \($0)" } ?? "exit \(glibc.exitCode ?? -1)")")
  }
}
