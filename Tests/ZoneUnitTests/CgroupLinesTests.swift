// CgroupLinesTests.swift: reading cgroup and mountinfo lines, directly (CgroupLines.swift).
import Testing

@Suite("cgroup lines")
struct CgroupLinesTests {
  func withLine<R>(_ text: String, _ body: (CgroupLines.Text) -> R) -> R {
    Array(text.utf8).withUnsafeBufferPointer(body)
  }

  func string(_ text: CgroupLines.Text) -> String { String(decoding: text, as: UTF8.self) }

  @Test func theMemoryGroupOfEachVersion() {
    withLine("4:memory:/user.slice/a") { #expect($0.isEmpty == false && CgroupLines.group($0).map { ($0.version, string($0.path)) } ?? (0, "") == (1, "/user.slice/a")) }
    withLine("7:cpu,memory,pids:/b") { #expect(CgroupLines.group($0)?.version == 1) }
    withLine("0::/system.slice/c") { #expect(CgroupLines.group($0).map { ($0.version, string($0.path)) } ?? (0, "") == (2, "/system.slice/c")) }
    for other in ["3:cpu:/x", "1:name=systemd:/", "garbage", "12::/y", ""] {
      withLine(other) { #expect(CgroupLines.group($0) == nil, "\(other)") }
    }
  }

  @Test func theMountOfTheHierarchy() {
    let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"
    withLine(v2) { line in
      let mount = CgroupLines.mount(line, version: 2)
      #expect(mount.map { string($0.root) } == "/" && mount.map { string($0.point) } == "/sys/fs/cgroup")
      #expect(CgroupLines.mount(line, version: 1) == nil)
    }
    let v1 = "35 25 0:30 /docker/abc /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory"
    withLine(v1) { line in
      let mount = CgroupLines.mount(line, version: 1)
      #expect(mount.map { string($0.root) } == "/docker/abc" && mount.map { string($0.point) } == "/sys/fs/cgroup/memory")
    }
    withLine("36 25 0:31 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu") { #expect(CgroupLines.mount($0, version: 1) == nil) }
    withLine("1 2 3:4 / / rw no separator here") { #expect(CgroupLines.mount($0, version: 2) == nil) }
  }

  @Test func limitFilesHoldANumberOrMax() {
    withLine("536870912") { #expect(CgroupLines.number($0) == 536_870_912) }
    for text in ["max", "", "12a", "99999999999999999999999"] { withLine(text) { #expect(CgroupLines.number($0) == nil, "\(text)") } }
  }
}
