// Arena.swift: where slabs come from.
//
// Owns: per NUMA node, windows of reserved address space (PROT_NONE, MAP_NORESERVE: no
// commit charge), each starting on a 64 MiB boundary and entered in the region table, so
// that free() tells a zonemalloc chunk from a foreign pointer with one table load. A
// window starts with the 128 KiB array of granule headers (SlabHeader.swift); the rest is
// committed (mprotect) in 1 MiB steps as it is carved by a bump pointer into 64 KiB slabs and
// spans of up to 8 contiguous granules. A window for huge pages (HugePages.wantsWindow)
// is committed in 2 MiB steps aligned to 2 MiB, so the kernel can back each 2 MiB with
// one huge page as it is first touched; it is advised once, over its whole reservation,
// or, under auto, one huge page at a time as it is first committed, unless a page left
// on small pages (one in 16 while the heap is dense) turned out not mostly resident (a
// heap whose spans leave their tails untouched stays on small pages). Each window records the node's previous one
// (HugePageCounts), so the promotion (HugePromotion.swift) can visit them all. With NUMA
// on, a window is bound to its node once, with a preferred policy (the mbind system
// call), so every slab carved from it lands there.
// Touches: the region table, Numa, HugePages (the advice), HugePageCounts (the carved
// end, the chain of windows).
//
// Address space is taken on demand and sized to fit RLIMIT_AS (ulimit -v): nothing is
// reserved before the first small allocation; a node's first window reserves 4 MiB and
// each next one twice as much, up to 64 MiB, or 1/16 of the address-space limit when that
// is less (read at each reservation: a program may lower its limit at any time, and a
// small program keeps little address space). A reservation that fails is retried with a quarter of the
// length, down to 1 MiB; the table still covers the whole 64 MiB window, and the first
// header records how much of it is zonemalloc's, so a foreign pointer in the rest of the
// window is recognised on the invalid-pointer slow path (isReserved). When not even 1 MiB
// can be reserved, small requests are served as page-granular big blocks (exhausted).
//
// Slab memory is never unmapped: empty slabs are madvised (Depot) and reused. That keeps
// slab headers valid for the lock-free paths that read them.

import ZoneSupport
import Synchronization

struct ArenaState {
  var bump: UInt = 0        // next slab never handed out                      [arena lock]
  var committedEnd: UInt = 0
  var regionEnd: UInt = 0
  var windows: UInt = 0     // windows reserved so far (each reserves twice the last, up to 64 MiB)
  var huge = false          // the current window is advised for huge pages (HugePages)
  var reserved: UInt = 0    // bytes reserved by all the node's windows
  var sparse = false        // the last huge page judged was not mostly resident (advisePage)
  var pages: UInt = 0       // huge pages advisePage has seen
  var recentAdvice: UInt = 0 // bit i: the huge page i + 1 before the next was advised
}

enum Arena {
  /// Each node's bump pointer, mapped at boot.                               [arena lock]
  nonisolated(unsafe) private static var states: UnsafeMutablePointer<ArenaState>? = nil

  static func setUp() -> Bool { OS.mapRecords(into: &states, count: Int(ZMS_MAX_NODES)) }

  /// The span of one region-table entry, and the most one window reserves.
  static let windowSize: UInt = 1 << UInt(ZMS_REGION_SHIFT)
  static let smallestWindow: UInt = 1 << 20
  static let firstWindow: UInt = 4 << 20
  static let commitStep: UInt = 1 << 20
  /// Until this time (ms) no window could be reserved: small requests become big blocks,
  /// and no reservation is tried again before it.
  static let exhaustedUntil = Atomic<UInt>(0)

  /// True while address space for windows has run out.
  static var exhausted: Bool { OS.nowMilliseconds() < exhaustedUntil.load(ordering: .relaxed) }

  /// The node of the arena that holds address. Only valid for arena addresses.
  @inline(__always) static func node(of address: UInt) -> Int {
    Int(zms_region_of(address)) - 1
  }

  /// True when address lies in the reserved part of its window (the table says the
  /// window is an arena's; a short window leaves the rest of it to others).
  static func isReserved(_ address: UInt) -> Bool {
    let window = address & ~(windowSize - 1)
    return address - window < reservedLength(window).pointee
  }

  /// True when [start, end) overlaps the reserved part of the arena window at `window`.
  static func reservedIntersects(_ window: UInt, _ start: UInt, _ end: UInt) -> Bool {
    start < window &+ reservedLength(window).pointee && end > window
  }

  /// The node's newest window when its windows are the dense heap (HugePages.isDense),
  /// else 0; the older ones chain from it (HugePageCounts.previousWindow).
  static func newestDenseWindow(_ node: Int) -> UInt {
    Lock.arena(node).lock()
    let arena = states.unsafelyUnwrapped[node]
    Lock.arena(node).unlock()
    guard arena.regionEnd != 0,
          HugePages.isDense(reserved: arena.reserved, threads: Zones.liveCount.load(ordering: .relaxed)) else { return 0 }
    return (arena.regionEnd - 1) & ~(windowSize - 1)
  }

  /// The bytes of the window at `window` that are zonemalloc's.
  static func reservedBytes(_ window: UInt) -> UInt { reservedLength(window).pointee }

  /// The first header of a window (never a slab's: headers fill the first granules)
  /// records the bytes reserved.
  private static func reservedLength(_ window: UInt) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: window).unsafelyUnwrapped
  }

  /// Never-used memory of `granules` contiguous granules of the node, as the header of
  /// its first granule, or nil. The caller charges the limit first.
  static func carve(_ node: Int, granules: Int) -> SlabPointer? {
    Lock.arena(node).lock()
    let memory = carveLocked(node, UInt(granules) * SlabGeometry.size)
    Lock.arena(node).unlock()
    return memory.map { slabOf($0) }
  }

  private static func carveLocked(_ node: Int, _ bytes: UInt) -> UInt? {
    var arena = states.unsafelyUnwrapped[node]
    defer { states.unsafelyUnwrapped[node] = arena }
    if arena.bump + bytes > arena.regionEnd {
      if exhausted { return nil }
      // A unit that does not fit the window's tail starts a new window (the tail, less
      // than 512 KiB, is left unused).
      let huge = HugePages.wantsWindow(reserved: arena.reserved, threads: Zones.liveCount.load(ordering: .relaxed))
      guard let (window, length) = reserveWindow(node, atLeast: bytes, previous: arena, huge: huge) else { return nil }
      HugePageCounts.noteWindow(window, previous: arena.regionEnd == 0 ? 0 : (arena.regionEnd - 1) & ~(windowSize - 1),
                                advised: huge)
      let first = window + SlabGeometry.metadataBytes
      arena = ArenaState(bump: first, committedEnd: first, regionEnd: window + length, windows: arena.windows + 1,
                         huge: huge, reserved: arena.reserved + length, sparse: arena.sparse, pages: arena.pages)
    }
    while arena.bump + bytes > arena.committedEnd {
      guard commitNext(&arena) else { return nil }
    }
    let unit = arena.bump
    arena.bump += bytes
    HugePageCounts.noteCarved(upTo: arena.bump)
    return unit
  }

  /// Commits the next step of the window: 1 MiB, or up to the next 2 MiB boundary in a
  /// window advised for huge pages (the kernel backs a huge page only where its whole
  /// 2 MiB is in one mapping with the advice).
  private static func commitNext(_ arena: inout ArenaState) -> Bool {
    let end = arena.huge ? (arena.committedEnd + HugePages.size) & ~(HugePages.size - 1)
      : arena.committedEnd + commitStep
    let step = min(end, arena.regionEnd) - arena.committedEnd
    guard OS.commit(arena.committedEnd, step) else { return false }
    if arena.huge && HugePages.advisesPerPage { advisePage(&arena, end - HugePages.size) }
    arena.committedEnd += step
    return true
  }

  /// Advises the huge page at `page` (its first commit) unless the heap being carved
  /// leaves much of its memory untouched. A page left on small pages shows it: two pages
  /// later, when it is all carved, mincore says whether 3/4 of it is resident
  /// (HugePages.paysOff), and that verdict holds until the next such page. While the
  /// verdict is dense, one page in `probeEvery` (the first of them) is left on small
  /// pages to look again, and collapsed onto a huge page (MADV_COLLAPSE) once judged.
  private static func advisePage(_ arena: inout ArenaState, _ page: UInt) {
    let window = page & ~(windowSize - 1)
    if page >= window + 2 * HugePages.size && arena.recentAdvice & 2 == 0 {
      let judged = page - 2 * HugePages.size
      arena.sparse = !HugePages.paysOff(judged)
      if !arena.sparse { OS.collapseHugePages(judged, HugePages.size) }
    }
    arena.pages &+= 1
    let advise = !arena.sparse && arena.pages % probeEvery != 1 && page + HugePages.size <= arena.regionEnd
    if advise { OS.adviseHugePages(page, HugePages.size, true) }
    arena.recentAdvice = arena.recentAdvice << 1 | (advise ? 1 : 0)
  }

  /// While the heap is dense, one huge page in this many stays on small pages: the probe.
  static let probeEvery: UInt = 16

  /// What the next window of a node reserves: 4 MiB for the first, twice the last for the
  /// next, at most 64 MiB and at most 1/16 of RLIMIT_AS.
  private static func nextLength(_ arena: ArenaState) -> UInt {
    var length = min(firstWindow << min(arena.windows, 8), windowSize)
    var limit = rlimit()
    guard getrlimit(RLIMIT_AS, &limit) == 0, limit.rlim_cur != rlim_t.max else { return length }
    let share = UInt(limit.rlim_cur) / 16
    while length > smallestWindow && length > share { length >>= 1 }
    return length
  }

  /// Reserves a window for the node (its header array committed) holding at least
  /// `bytes` after the headers: as long as the address-space limit allows, shorter when a
  /// reservation fails, nil when not even the shortest can be had.
  private static func reserveWindow(_ node: Int, atLeast bytes: UInt, previous arena: ArenaState,
                                    huge: Bool) -> (UInt, UInt)? {
    var length = nextLength(arena)
    while length >= smallestWindow && length >= SlabGeometry.metadataBytes + bytes {
      if let window = reserveAligned(length, previous: arena.regionEnd) {
        guard OS.commit(window, SlabGeometry.metadataBytes) else {
          OS.unmap(window, length)
          return nil
        }
        reservedLength(window).pointee = length
        zms_headers_set(window >> UInt(ZMS_REGION_SHIFT), window)
        zms_region_set(window >> UInt(ZMS_REGION_SHIFT), UInt32(node + 1))
        Numa.prefer(window, length, node: node)
        HugePages.adviseWindow(window, length, huge: huge)
        return (window, length)
      }
      length >>= 2
    }
    exhaustedUntil.store(OS.nowMilliseconds() + 100, ordering: .relaxed)
    return nil
  }

  /// `length` bytes of address space at a window boundary, or nil. Tries the window below
  /// the previous one (the kernel hands out addresses top-down), then the boundary below
  /// where the kernel would put it, then over-reserves by a window and trims.
  private static func reserveAligned(_ length: UInt, previous: UInt) -> UInt? {
    if previous > 2 * windowSize, let w = reserveAt((previous - 1) & ~(windowSize - 1) - windowSize, length) {
      return w
    }
    if let probe = OS.reserve(length) {
      OS.unmap(probe, length)
      var candidate = probe & ~(windowSize - 1)
      for _ in 0..<4 where candidate >= windowSize {
        if let w = reserveAt(candidate, length) { return w }
        candidate -= windowSize
      }
    }
    guard let raw = OS.reserve(length + windowSize) else { return nil }
    let window = (raw + windowSize - 1) & ~(windowSize - 1)
    OS.unmap(raw, window - raw)
    OS.unmap(window + length, raw + windowSize - window)
    return window
  }

  /// Reserves exactly [address, address + length) if it is free, or nil.
  private static func reserveAt(_ address: UInt, _ length: UInt) -> UInt? {
    guard zms_region_of(address) == 0, let got = OS.reserve(length, at: address) else { return nil }
    if got == address { return got }
    OS.unmap(got, length) // a kernel without MAP_FIXED_NOREPLACE took it as a hint
    return nil
  }

  /// The node's bump pointer was being moved when the child was forked: leave the
  /// current window; the next slab starts a new one.
  static func abandonInChild(_ node: Int) {
    states.unsafelyUnwrapped[node] = ArenaState()
  }

  /// Applies the node policy to the windows reserved before NUMA was set up (boot order).
  static func applyNumaPolicyToExistingRegions() {
    for node in 0..<Numa.nodeCount {
      let arena = states.unsafelyUnwrapped[node]
      guard arena.regionEnd != 0 else { continue }
      let window = (arena.regionEnd - 1) & ~(windowSize - 1)
      Numa.prefer(window, arena.regionEnd - window, node: node)
    }
  }
}
