// HugePageCounts.swift: per 2 MiB huge page of an arena window, how many of its 64 KiB
// granules are free, and whether a release has split it; what the depot asks before it
// returns memory and when it picks a released unit (Temeraire's filler: use a huge page
// that is partly in use before touching one that is wholly free).
//
// Owns: records in the window's two metadata headers (granules 0 and 1 hold the header
// array itself, so their headers describe no slab; their `magic` stays 0, so no address
// there ever passes as a chunk): in header 0, after the reserved length, the window's
// carved end (the arena's bump pointer while the window is current) and the mask of its
// huge pages a release has split; in header 0's second cache line, the node's previous
// window (the promotion's chain) and two masks for the promotion (HugePromotion.swift):
// huge pages collapsed since a release last touched them, and those mostly in use at
// its last pass; and whether the window is for huge pages (advised whole or page by
// page); in header 1's second cache line, one 16-bit count per huge page of the
// granules parked in the node's depot, dirty or clean.
// A granule is free when it is in the depot or was never carved; a huge page is wholly
// free when all 32 of its granules are (the first page of a window never is: it holds
// the headers). Units in a thread's cache count as in use.
// Touches: window headers only. The carved end, the chain and the window's flag are
// written under the arena lock (the last two once, before the window is published), the
// counts and the masks
// under the node's depot lock (a window belongs to one node); the
// depot reads the carved end without the arena lock: it only grows, and a stale value
// at worst makes a page look free that a carve has just entered, which costs a split
// that goes uncounted.
// Used only while HugePages.active; otherwise nothing here is written.

import ZoneSupport
import Synchronization

enum HugePageCounts {
  static let granulesPerPage = Int(HugePages.size >> SlabGeometry.shift)
  /// Where the records sit in the header array.
  private static let carvedEndOffset: UInt = 8
  private static let splitMaskOffset: UInt = 16
  private static let countsOffset: UInt = SlabGeometry.headerStride + 64
  private static let previousOffset: UInt = 64
  private static let collapsedMaskOffset: UInt = 72
  private static let seenMaskOffset: UInt = 80
  private static let advisedOffset: UInt = 88
  /// The most free granules of a huge page the promotion collapses (an eighth): the
  /// collapse makes the free ones resident too.
  static let collapseMostFree = granulesPerPage / 8

  @inline(__always) private static func window(_ address: UInt) -> UInt { address & ~SlabGeometry.regionMask }

  @inline(__always) private static func page(_ address: UInt) -> Int {
    Int((address & SlabGeometry.regionMask) / HugePages.size)
  }

  private static func word(_ window: UInt, _ offset: UInt) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: window + offset).unsafelyUnwrapped
  }

  private static func count(_ window: UInt, _ page: Int) -> UnsafeMutablePointer<UInt16> {
    UnsafeMutablePointer<UInt16>(bitPattern: window + countsOffset).unsafelyUnwrapped + page
  }

  /// The arena carved its window up to `end`.                               [arena lock]
  static func noteCarved(upTo end: UInt) {
    guard HugePages.active else { return }
    word(window(end - 1), carvedEndOffset).pointee = end
  }

  /// A new window of the node, after `previous` (0 for its first), for huge pages
  /// (HugePages.wantsWindow) or not.                                          [arena lock]
  static func noteWindow(_ window: UInt, previous: UInt, advised: Bool) {
    guard HugePages.active else { return }
    word(window, previousOffset).pointee = previous
    word(window, advisedOffset).pointee = advised ? 1 : 0
  }

  /// True when the unit lies in a huge page (its window is for huge pages, or the page
  /// was collapsed) that is mostly in use: a trim sparing huge pages passes over it.
  static func isSpared(_ slab: SlabPointer) -> Bool {
    let w = window(slab.memory)
    let onHuge = word(w, advisedOffset).pointee != 0
      || word(w, collapsedMaskOffset).pointee & (UInt(1) << UInt(page(slab.memory))) != 0
    return onHuge && !inMostlyFreePages(slab)
  }

  /// The window of the node reserved before this one, or 0.
  static func previousWindow(_ window: UInt) -> UInt { word(window, previousOffset).pointee }

  /// The huge pages of the window's first `pages` due for a collapse: mostly in use (at
  /// most `collapseMostFree` granules free) now and at the last call too, and not
  /// collapsed since a release last touched them.                            [depot lock]
  static func collapseCandidates(_ window: UInt, pages: Int) -> UInt {
    var eligible: UInt = 0
    for p in 0..<min(pages, UInt.bitWidth) where freeGranules(window + UInt(p) * HugePages.size) <= collapseMostFree {
      eligible |= 1 << UInt(p)
    }
    let seen = word(window, seenMaskOffset)
    let due = eligible & seen.pointee & ~word(window, collapsedMaskOffset).pointee
    seen.pointee = eligible
    return due
  }

  /// The promotion collapsed (or tried to collapse) these huge pages.        [depot lock]
  static func noteCollapsed(_ window: UInt, _ pages: UInt) {
    word(window, collapsedMaskOffset).pointee |= pages
  }

  /// A unit entered (+1) or left (-1) the node's depot.                     [depot lock]
  static func noteDepot(_ slab: SlabPointer, entering: Bool) {
    guard HugePages.active else { return }
    var address = slab.memory
    let end = address + UInt(slab.pointee.granules) * SlabGeometry.size
    let w = window(address)
    while address < end {
      let c = count(w, page(address))
      c.pointee = entering ? c.pointee &+ 1 : c.pointee &- 1
      address += SlabGeometry.size
    }
  }

  /// Free granules of the huge page holding address: parked in the depot, or never
  /// carved.                                                                  [depot lock]
  static func freeGranules(_ address: UInt) -> Int {
    let w = window(address)
    let p = page(address)
    let start = w + UInt(p) * HugePages.size
    let carved = word(w, carvedEndOffset).pointee
    let neverCarved = carved <= start ? granulesPerPage
      : carved >= start + HugePages.size ? 0 : Int((start + HugePages.size - carved) >> SlabGeometry.shift)
    return Int(count(w, p).pointee) + neverCarved
  }

  /// True when every huge page the unit touches is wholly free.              [depot lock]
  static func inWhollyFreePages(_ slab: SlabPointer) -> Bool {
    inPages(slab, free: granulesPerPage)
  }

  /// True when every huge page the unit touches is at least half free: splitting it
  /// returns more than it keeps, and little of the TLB's reach is lost.       [depot lock]
  static func inMostlyFreePages(_ slab: SlabPointer) -> Bool {
    inPages(slab, free: granulesPerPage / 2)
  }

  private static func inPages(_ slab: SlabPointer, free: Int) -> Bool {
    let first = slab.memory
    let last = first + UInt(slab.pointee.granules) * SlabGeometry.size - 1
    return freeGranules(first) >= free && freeGranules(last) >= free
  }

  /// True when the unit's huge page holds granules in use (the filler's choice).
  static func inPartlyUsedPage(_ slab: SlabPointer) -> Bool {
    freeGranules(slab.memory) < granulesPerPage
  }

  /// The unit is about to be released: a huge page that is wholly free goes back whole
  /// (its split mark is cleared: it may be huge again); one that is not is split, and
  /// counted the first time.                                                  [depot lock]
  static func noteRelease(_ slab: SlabPointer) {
    guard HugePages.active else { return }
    let w = window(slab.memory)
    let mask = word(w, splitMaskOffset)
    let bit = UInt(1) << UInt(page(slab.memory))
    let lastBit = UInt(1) << UInt(page(slab.memory + UInt(slab.pointee.granules) * SlabGeometry.size - 1))
    word(w, collapsedMaskOffset).pointee &= ~(bit | lastBit)
    if inWhollyFreePages(slab) {
      mask.pointee &= ~bit
    } else if mask.pointee & bit == 0 {
      mask.pointee |= bit
      HugePages.splits.wrappingAdd(1, ordering: .relaxed)
    }
  }
}
