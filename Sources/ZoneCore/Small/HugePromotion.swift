// HugePromotion.swift: the dense heap's huge pages that stay in use, collapsed onto huge
// pages by the background thread (ZONEMALLOC_THP=auto under a kernel in `madvise` mode).
//
// Owns: the pass, at most once per release delay. For each node whose windows are the
// dense heap (HugePages.isDense), every huge page (2 MiB) of its windows that is mostly
// in use (at most an eighth of its granules free: HugePageCounts) at this pass and at
// the last, so in use for about a delay, and has 7/8 of its small pages resident
// (mincore), is collapsed (MADV_COLLAPSE: the kernel copies it onto one huge page and
// makes its holes resident), once until a release touches it again. Memory written and
// freed within a delay, as a batch's or a burst's, thus never costs a huge page's fault
// (on a virtual machine whose host takes back free 2 MiB blocks, a fresh huge page's
// fault costs several times the small pages' faults it replaces), and a page whose
// spans leave their tails untouched stays on small pages.
// Touches: Arena (the newest dense window, a window's reserved bytes), HugePageCounts
// (the chain of windows, the candidates and the collapsed mask, under the depot lock),
// OS (mincore, madvise; no lock held). Runs on the background thread only.

import ZoneSupport

enum HugePromotion {
  /// Milliseconds of the last pass (the background thread's own).
  nonisolated(unsafe) private static var lastPass: UInt = 0

  /// The pass, when a release delay has passed since the last.
  static func passIfDue() {
    guard HugePages.promotes else { return }
    let now = OS.nowMilliseconds()
    guard now &- lastPass >= Config.releaseDelay else { return }
    lastPass = now
    for node in 0..<Numa.nodeCount {
      var window = Arena.newestDenseWindow(node)
      while window != 0 {
        promote(node, window)
        window = HugePageCounts.previousWindow(window)
      }
    }
  }

  /// Collapses the window's huge pages that are due.
  private static func promote(_ node: Int, _ window: UInt) {
    let pages = Int(Arena.reservedBytes(window) / HugePages.size)
    Lock.depot(node).lock()
    let due = HugePageCounts.collapseCandidates(window, pages: pages)
    Lock.depot(node).unlock()
    guard due != 0 else { return }
    var tried: UInt = 0
    for p in 0..<pages where due & (1 << UInt(p)) != 0 {
      let start = window + UInt(p) * HugePages.size
      guard OS.residentPages(start, count: Int(HugePages.size / 4096)) >= HugePages.residentToCollapse else { continue }
      OS.collapseHugePages(start, HugePages.size)
      tried |= 1 << UInt(p)
    }
    Lock.depot(node).lock()
    HugePageCounts.noteCollapsed(window, tried)
    Lock.depot(node).unlock()
  }
}
