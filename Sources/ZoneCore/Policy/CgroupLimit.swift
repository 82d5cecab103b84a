// CgroupLimit.swift: ZONEMALLOC_LIMIT=auto, a cap that follows the memory limit of the
// process's cgroup.
//
// Owns: finding the process's memory cgroup, its limit, and the cap drawn from it: 90%
// of the limit, leaving the rest for what is not malloc (code, stacks, page cache the
// kernel charges to the group). No limit means no cap.
//  - /proc/self/cgroup names the group: the v1 line whose controllers include memory
//    ("4:memory:/a/b"), else the v2 line ("0::/a/b").
//  - /proc/self/mountinfo says where that hierarchy is mounted (fstype cgroup with the
//    memory option, or cgroup2) and which group the mount shows as its root.
//  - The limit is the smallest memory.limit_in_bytes (v1) or memory.max (v2) of the
//    group and its ancestors up to the mount: a parent's limit binds its children. v1
//    says "no limit" with a huge number (2^63 less a page), v2 with "max".
// It runs at boot, which the first malloc may trigger, so it only opens and reads files
// into stack buffers. ZONEMALLOC_CGROUP_ROOT, for tests only, is put in front of every
// path it reads, so a fake tree can stand in for /proc/self and /sys/fs/cgroup.
// Touches: Files, CgroupLines (the parsing), Config (the variables), Messages (the line
// printed with ZONEMALLOC_STATS=1).

import ZoneSupport

enum CgroupLimit {
  /// Share of the cgroup limit the cap allows, in percent.
  static let percent: UInt = 90
  /// v1 limits at or above this mean "none".
  private static let unlimited: UInt = 1 << 62

  /// Where the group's limit files are: the cgroup version (1 or 2) and the directory.
  private struct Group: ~Copyable {
    var version = 0
    var directory = PathBuffer()
    /// Length of the mount point's part of `directory`: the walk up stops there.
    var mountLength = 0
  }

  /// The cap for ZONEMALLOC_LIMIT=auto (0: none), printed when ZONEMALLOC_STATS is on.
  static func cap() -> UInt {
    var group = Group()
    let found = locate(&group)
    let limit = found ? smallestLimit(&group) : 0
    let cap = limit / 100 * percent + limit % 100 * percent / 100
    if Config.printStats { report(&group, found: found, limit: limit, cap: cap) }
    return cap == 0 ? 0 : max(cap, 1 << 20)
  }

  // MARK: - Finding the group

  private static func locate(_ group: inout Group) -> Bool {
    var cgroupPath = PathBuffer()
    group.version = groupPath(into: &cgroupPath)
    guard group.version != 0 else { return false }
    var mountRoot = PathBuffer()
    guard mount(version: group.version, root: &mountRoot, point: &group.directory) else { return false }
    group.mountLength = group.directory.count
    // The group's path below the mount's root.
    var skip = mountRoot.count
    if skip == 1 || !startsWith(&cgroupPath, &mountRoot) { skip = 0 }
    for i in skip..<cgroupPath.count { group.directory.append(cgroupPath.byte(at: i)) }
    while group.directory.count > group.mountLength && group.directory.byte(at: group.directory.count - 1) == 47 {
      group.directory.truncate(to: group.directory.count - 1)
    }
    return !group.directory.overflowed
  }

  /// The memory group's path from /proc/self/cgroup, and its version (0: none found): the
  /// v1 memory controller's line wins over the v2 line.
  private static func groupPath(into path: inout PathBuffer) -> Int {
    var v1 = PathBuffer()
    var v2 = PathBuffer()
    var file = rooted("/proc/self/cgroup")
    _ = file.withCString { name in
      FileLines.forEach(name) { line in
        if let (version, group) = CgroupLines.group(line) {
          if version == 1 { copy(group, into: &v1) } else { copy(group, into: &v2) }
        }
        return true
      }
    }
    let useV1 = v1.count > 0
    let chosen = useV1 ? v1.count : v2.count
    guard chosen > 0 else { return 0 }
    for i in 0..<chosen { path.append(useV1 ? v1.byte(at: i) : v2.byte(at: i)) }
    return useV1 ? 1 : 2
  }

  /// The mount of the hierarchy from /proc/self/mountinfo: the group it shows as its
  /// root, and where it is mounted (with ZONEMALLOC_CGROUP_ROOT in front).
  private static func mount(version: Int, root: inout PathBuffer, point: inout PathBuffer) -> Bool {
    var found = false
    var file = rooted("/proc/self/mountinfo")
    _ = file.withCString { name in
      FileLines.forEach(name) { line in
        guard let (groupRoot, mountPoint) = CgroupLines.mount(line, version: version) else { return true }
        copy(groupRoot, into: &root)
        point = rooted("")
        copy(mountPoint, into: &point)
        found = true
        return false
      }
    }
    return found && !point.overflowed
  }

  // MARK: - Reading the limit

  /// The smallest limit of the group and its ancestors up to the mount, or 0 for none.
  private static func smallestLimit(_ group: inout Group) -> UInt {
    var smallest: UInt = 0
    var directory = PathBuffer()
    for i in 0..<group.directory.count { directory.append(group.directory.byte(at: i)) }
    while true {
      let limit = readLimit(&directory, version: group.version)
      if limit != 0 && (smallest == 0 || limit < smallest) { smallest = limit }
      guard directory.count > group.mountLength, directory.removeLastComponent(),
            directory.count >= group.mountLength else { break }
    }
    return smallest
  }

  /// One group's limit (0 for none or unreadable).
  private static func readLimit(_ directory: inout PathBuffer, version: Int) -> UInt {
    let length = directory.count
    defer { directory.truncate(to: length) }
    directory.append(version == 1 ? "/memory.limit_in_bytes" : "/memory.max")
    guard !directory.overflowed else { return 0 }
    var limit: UInt = 0
    _ = directory.withCString { name in
      FileLines.forEach(name) { line in
        limit = CgroupLines.number(line) ?? 0
        return false
      }
    }
    return version == 1 && limit >= unlimited ? 0 : limit
  }

  // MARK: - The line printed with ZONEMALLOC_STATS=1

  private static func report(_ group: inout Group, found: Bool, limit: UInt, cap: UInt) {
    var line = LineBuffer()
    line.append("zonemalloc: ZONEMALLOC_LIMIT=auto: ")
    if !found {
      line.append("no memory cgroup found; no cap")
    } else if limit == 0 {
      line.append("cgroup v")
      line.append(decimal: UInt(group.version))
      line.append(" has no memory limit; no cap")
    } else {
      line.append("cgroup v")
      line.append(decimal: UInt(group.version))
      line.append(" limit ")
      line.append(decimal: limit)
      line.append(" (")
      line.append(bytes: limit)
      line.append("); cap ")
      line.append(decimal: cap)
      line.append(" (")
      line.append(bytes: cap)
      line.append(", 90%) for ")
      group.directory.withCString { line.append(cString: $0, limit: 160) }
    }
    line.writeLine()
  }

  // MARK: - Text

  /// path with ZONEMALLOC_CGROUP_ROOT in front.
  private static func rooted(_ path: StaticString) -> PathBuffer {
    var buffer = PathBuffer()
    if let root = Config.value("ZONEMALLOC_CGROUP_ROOT") { buffer.append(cString: root, limit: 400) }
    buffer.append(path)
    return buffer
  }

  private static func startsWith(_ path: inout PathBuffer, _ prefix: inout PathBuffer) -> Bool {
    guard prefix.count <= path.count else { return false }
    for i in 0..<prefix.count where path.byte(at: i) != prefix.byte(at: i) { return false }
    return prefix.count == path.count || path.byte(at: prefix.count) == 47
  }

  private static func copy(_ text: UnsafeBufferPointer<UInt8>, into path: inout PathBuffer) {
    for byte in text { path.append(byte) }
  }
}
