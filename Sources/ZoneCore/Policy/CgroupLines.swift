// CgroupLines.swift: reading the lines of /proc/self/cgroup, /proc/self/mountinfo and
// the cgroup limit files, as bytes.
//
// Owns: the parsing ZONEMALLOC_LIMIT=auto needs (CgroupLimit.swift reads the files): which
// line of /proc/self/cgroup names the memory group, which mountinfo line mounts that
// hierarchy and where, and a limit file's number. Pure: it reads only the bytes it is
// given (no allocation, no file), so the tests check it directly.

enum CgroupLines {
  typealias Text = UnsafeBufferPointer<UInt8>

  /// A /proc/self/cgroup line's memory group: (1, path) for the v1 line whose controllers
  /// include memory ("4:memory:/a/b"), (2, path) for the v2 line ("0::/a/b"), else nil.
  static func group(_ line: Text) -> (version: Int, path: Text)? {
    guard let first = index(of: 58, in: line, from: 0),
          let second = index(of: 58, in: line, from: first + 1) else { return nil }
    let controllers = slice(line, first + 1, second)
    let path = slice(line, second + 1, line.count)
    if hasItem(controllers, "memory") { return (1, path) }
    if controllers.isEmpty && first == 1 && line[0] == 48 { return (2, path) }
    return nil
  }

  /// For a mountinfo line that mounts the memory hierarchy of `version` (fstype cgroup
  /// with the memory option, or cgroup2): the group it shows as its root, and where it
  /// is mounted; nil for any other line. The line is
  /// "id parent major:minor root mount-point options [optional...] - fstype source super-options".
  static func mount(_ line: Text, version: Int) -> (root: Text, point: Text)? {
    guard let dash = separatorField(line) else { return nil }
    let fstype = field(line, dash + 1)
    let matches = version == 1
      ? equals(fstype, "cgroup") && hasItem(field(line, dash + 3), "memory")
      : equals(fstype, "cgroup2")
    return matches ? (field(line, 3), field(line, 4)) : nil
  }

  static func slice(_ line: Text, _ start: Int, _ end: Int) -> Text {
    UnsafeBufferPointer(rebasing: line[min(start, end)..<end])
  }

  static func index(of byte: UInt8, in line: Text, from start: Int) -> Int? {
    var i = start
    while i < line.count {
      if line[i] == byte { return i }
      i += 1
    }
    return nil
  }

  /// The space-separated field number n (from 0) of a line.
  static func field(_ line: Text, _ n: Int) -> Text {
    var start = 0
    for _ in 0..<n {
      guard let space = index(of: 32, in: line, from: start) else { return slice(line, 0, 0) }
      start = space + 1
    }
    return slice(line, start, index(of: 32, in: line, from: start) ?? line.count)
  }

  /// The number of the field that is a lone "-" (mountinfo's separator), or nil.
  static func separatorField(_ line: Text) -> Int? {
    var n = 6
    while true {
      let f = field(line, n)
      if f.isEmpty { return nil }
      if f.count == 1 && f[0] == 45 { return n }
      n += 1
    }
  }

  /// True when a comma-separated list holds item.
  static func hasItem(_ list: Text, _ item: StaticString) -> Bool {
    var start = 0
    while start <= list.count {
      let end = index(of: 44, in: list, from: start) ?? list.count
      if equals(slice(list, start, end), item) { return true }
      start = end + 1
    }
    return false
  }

  static func equals(_ text: Text, _ word: StaticString) -> Bool {
    guard text.count == word.utf8CodeUnitCount else { return false }
    for i in 0..<text.count where text[i] != word.utf8Start[i] { return false }
    return true
  }



  /// A decimal number that fills the text, or nil ("max", empty, garbage).
  static func number(_ text: Text) -> UInt? {
    guard !text.isEmpty else { return nil }
    var n: UInt = 0
    for byte in text {
      guard byte >= 48 && byte <= 57 else { return nil }
      let (m, o1) = n.multipliedReportingOverflow(by: 10)
      let (a, o2) = m.addingReportingOverflow(UInt(byte - 48))
      if o1 || o2 { return nil }
      n = a
    }
    return n
  }
}
