// KnownVariables.swift: the names of the ZONEMALLOC_* variables, and the known name
// nearest to one that is not.
//
// Owns: `names`, every variable the library or zm reads, one per line: the same set
// docs/CONFIGURATION.md documents (ConfigurationDocTests checks both ways), and the edit
// distance (insertions, deletions and substitutions of bytes, case ignored) that picks
// the nearest. Pure: it reads only the text it is given, allocates nothing (one row of
// the distance table on the stack) and looks at most at `longest` bytes of a name.

enum KnownVariables {
  static let names: StaticString = """
    ZONEMALLOC_STATS
    ZONEMALLOC_STATS_FORMAT
    ZONEMALLOC_STATS_PID
    ZONEMALLOC_LIMIT
    ZONEMALLOC_LAZY_MAX
    ZONEMALLOC_RELEASE_DELAY
    ZONEMALLOC_BACKGROUND
    ZONEMALLOC_CHECK_LOCKS
    ZONEMALLOC_NUMA
    ZONEMALLOC_DEPOT_SLABS
    ZONEMALLOC_GUARD_RATE
    ZONEMALLOC_GUARD_UNDERFLOW
    ZONEMALLOC_GUARD_SLOTS
    ZONEMALLOC_PROF
    ZONEMALLOC_PROF_RATE
    ZONEMALLOC_PROF_SIGNAL
    ZONEMALLOC_PROF_FILE
    ZONEMALLOC_PROF_INTERVAL
    ZONEMALLOC_PROF_QUIET
    ZONEMALLOC_STATS_PAGE
    ZONEMALLOC_THP
    ZONEMALLOC_THP_MODE_FILE
    ZONEMALLOC_CGROUP_ROOT
    ZONEMALLOC_TEST_PAGE_SIZE
    ZONEMALLOC_WARNED
    ZONEMALLOC_LIB
    """

  /// The bytes of a name compared; a longer name is compared by its start.
  static let longest = 63

  /// Whether the `length` bytes at `name` are a known name.
  static func isKnown(_ name: UnsafePointer<UInt8>, length: Int) -> Bool {
    var found = false
    forEach { start, count in
      if count == length && (0..<count).allSatisfy({ start[$0] == name[$0] }) { found = true }
    }
    return found
  }

  /// The known name nearest to the `length` bytes at `name` (its start and length), and
  /// the distance.
  static func nearest(to name: UnsafePointer<UInt8>, length: Int) -> (UnsafePointer<UInt8>, Int, distance: Int) {
    var best = (names.utf8Start, 0, distance: Int.max)
    forEach { start, count in
      let d = distance(name, min(length, longest), start, count)
      if d < best.distance { best = (start, count, d) }
    }
    return best
  }

  /// Calls body with the start and length of each name in `names`.
  private static func forEach(_ body: (UnsafePointer<UInt8>, Int) -> Void) {
    let text = names.utf8Start
    var i = 0, start = 0
    while i <= names.utf8CodeUnitCount {
      if i == names.utf8CodeUnitCount || text[i] == 10 {
        if i > start { body(text + start, i - start) }
        start = i + 1
      }
      i += 1
    }
  }

  /// The edit distance between a (at most `longest` bytes) and b, ignoring case.
  static func distance(_ a: UnsafePointer<UInt8>, _ aCount: Int, _ b: UnsafePointer<UInt8>, _ bCount: Int) -> Int {
    guard aCount > 0 else { return bCount }
    var row = InlineArray<64, Int>(repeating: 0)
    for j in 0...bCount { row[j] = j }
    for i in 1...aCount {
      var diagonal = row[0]
      row[0] = i
      for j in stride(from: 1, through: bCount, by: 1) {
        let substitution = diagonal + (a[i - 1] | 0x20 == b[j - 1] | 0x20 ? 0 : 1)
        diagonal = row[j]
        row[j] = min(substitution, row[j] + 1, row[j - 1] + 1)
      }
    }
    return row[bCount]
  }
}
