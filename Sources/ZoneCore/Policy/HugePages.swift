// HugePages.swift: which memory asks the kernel for transparent huge pages (THP), and
// the counts that keep the release of memory from breaking them up for nothing.
//
// Owns: ZONEMALLOC_THP (auto, never, always) and ZONEMALLOC_THP_MODE_FILE (tests only),
// the kernel's THP mode read once at boot, the decision per region (advise
// MADV_HUGEPAGE, MADV_NOHUGEPAGE, or nothing), and the count of huge pages split by a
// partial release (huge_splits).
//
// The kernel's mode (/sys/kernel/mm/transparent_hugepage/enabled: "always [madvise]
// never", the selected one in brackets) is read at boot with open and read into a stack
// buffer of 128 bytes: nothing allocates, and a missing or unreadable file counts as
// `never`. Huge pages are considered only where the kernel's page is 4 KiB (its PMD
// huge page is then 2 MiB, the size the arena's placement assumes).
//  - kernel `never` (or unknown): nothing is advised and nothing changes: behaviour and
//    figures are those of ZONEMALLOC_THP=never.
//  - kernel `madvise`: auto advises MADV_HUGEPAGE for the dense heap: a node's arena
//    windows once its earlier ones hold 12 MiB per thread with a zone (a small program,
//    and one whose heap is spread thin over many threads' partly carved slabs, stay on
//    small pages) and big blocks of 16 MiB and more (a smaller block written only in
//    part, as a growing array is, would keep up to 2 MiB resident for nothing); always
//    advises every window and every big block of 2 MiB and more.
//  - kernel `always`: the kernel backs everything with huge pages; auto and always
//    leave the dense heap so, and auto advises MADV_NOHUGEPAGE for the other windows
//    and big blocks; never advises MADV_NOHUGEPAGE for every window and big block.
// `active` says that some heap memory may sit on huge pages: the arena then commits in
// 2 MiB steps aligned to 2 MiB (a huge page needs its whole 2 MiB in one mapping), and
// the depot keeps count of free granules per huge page (HugePageCounts.swift).
// Touches: Config.value (the environment), one file read with open and read,
// OS.adviseHugePages.

import ZoneSupport
import Synchronization

enum HugePages {
  /// The size of a huge page where they are used (PMD size with 4 KiB pages).
  static let size: UInt = 2 << 20
  /// What a node's earlier windows must hold, per thread with a zone, before auto
  /// advises its next one: a small program, and one whose heap is spread thin over many
  /// threads (each thread's current slabs are carved a page at a time), stay on small
  /// pages.
  static let densePerThread: UInt = 12 << 20
  /// The smallest big block auto advises: its last huge page, partly written, costs at
  /// most an eighth of it (a program's growing arrays are often written only in part).
  static let smallestHugeBlock: UInt = 16 << 20

  /// The kernel's mode (plain numbers: an enum's Hashable witnesses would link in Hasher).
  static let kernelNever: UInt = 0, kernelMadvise: UInt = 1, kernelAlways: UInt = 2
  nonisolated(unsafe) private(set) static var kernel = kernelNever
  /// ZONEMALLOC_THP: Config.modeOff (never), modeOn (always), modeAuto.
  nonisolated(unsafe) private(set) static var requested = Config.modeAuto
  /// Some heap memory may be on huge pages: commit in huge steps, count per huge page.
  nonisolated(unsafe) private(set) static var active = false
  /// Huge pages a release broke up: part of one returned while the rest stayed in use.
  static let splits = Atomic<UInt>(0)

  /// Reads ZONEMALLOC_THP and the kernel's mode (boot, after the page size is known).
  static func load(kernelPageSize: UInt) {
    readSetting()
    kernel = kernelPageSize == 4096 ? readKernelMode() : kernelNever
    active = kernel != kernelNever && requested != Config.modeOff
  }

  /// Whether a node's windows, `reserved` bytes while `threads` threads hold zones, are
  /// the dense heap.
  static func isDense(reserved: UInt, threads: UInt) -> Bool {
    reserved >= densePerThread * max(threads, 1)
  }

  /// Whether a node's next window is advised for huge pages at its reservation, its
  /// earlier windows having reserved `reserved` bytes while `threads` threads hold zones:
  /// under always; for the dense heap under a kernel that backs everything with huge
  /// pages; and under auto with a kernel in `madvise` mode, for the dense heap of a
  /// program that has no background thread to collapse it later (HugePromotion), which
  /// is asked for otherwise: a program with the thread gets huge pages only for memory
  /// that stays in use, so memory written and freed soon never costs a huge page's fault.
  static func wantsWindow(reserved: UInt, threads: UInt) -> Bool {
    guard active else { return false }
    if requested == Config.modeOn { return true }
    guard isDense(reserved: reserved, threads: threads) else { return false }
    if kernel == kernelAlways { return true }
    guard promotedLater(threads: threads) else { return true }
    Release.wantBackground()
    return false
  }

  /// Whether the background thread runs, or will once asked (ZONEMALLOC_BACKGROUND's
  /// policy: a second thread with a zone under auto; not when it could not be started),
  /// so it can collapse the dense heap.
  private static func promotedLater(threads: UInt) -> Bool {
    guard Release.backgroundState.load(ordering: .relaxed) != Release.failed else { return false }
    return Release.backgroundRunning || Config.backgroundMode == Config.modeOn
      || (Config.backgroundMode == Config.modeAuto && threads >= 2)
  }

  /// Whether a window for huge pages is advised one huge page at a time, as the arena
  /// commits it (auto, kernel in `madvise` mode), rather than whole.
  static var advisesPerPage: Bool { requested == Config.modeAuto && kernel == kernelMadvise }

  /// Small pages of a huge page that must be resident for the arena to advise the one
  /// two after it (3/4), and for the promotion to collapse it (7/8).
  static let residentToAdvise = Int(size / 4096) * 3 / 4
  static let residentToCollapse = Int(size / 4096) * 7 / 8

  /// Whether the huge page at `page`, all carved, is mostly resident (mincore): the
  /// heap being carved is dense, and a huge page costs it little memory.
  static func paysOff(_ page: UInt) -> Bool {
    OS.residentPages(page, count: Int(size / 4096)) >= residentToAdvise
  }

  /// Whether the background thread collapses the dense heap's long-lived huge pages
  /// (auto, kernel in `madvise` mode).
  static var promotes: Bool { active && requested == Config.modeAuto && kernel == kernelMadvise }

  /// Advises a freshly reserved window: huge pages for the dense heap, small ones where
  /// the kernel would otherwise back everything with huge pages.
  static func adviseWindow(_ address: UInt, _ length: UInt, huge: Bool) {
    if huge && advisesPerPage { return }
    advise(address, length, huge: huge)
  }

  /// Advises a fresh big block: huge pages from 16 MiB on (from 2 MiB under always);
  /// under never, and for smaller blocks under a kernel that backs everything with huge
  /// pages, small ones.
  static func adviseBig(_ address: UInt, _ length: UInt) {
    guard length >= size else { return }
    advise(address, length, huge: active && (requested == Config.modeOn || length >= smallestHugeBlock))
  }

  private static func advise(_ address: UInt, _ length: UInt, huge: Bool) {
    if kernel == kernelMadvise && huge { OS.adviseHugePages(address, length, true) }
    if kernel == kernelAlways && !huge { OS.adviseHugePages(address, length, false) }
  }

  // MARK: - Reading the settings

  private static func readSetting() {
    guard let text = Config.value("ZONEMALLOC_THP") else { return }
    if ConfigText.equals(text, "auto") { requested = Config.modeAuto }
    else if ConfigText.equals(text, "never") { requested = Config.modeOff }
    else if ConfigText.equals(text, "always") { requested = Config.modeOn }
    else { Config.warnBad("ZONEMALLOC_THP", text, "auto, never or always") }
  }

  /// The selected word of the mode file ("[madvise]"), or its only word; never when the
  /// file cannot be read or says anything else.
  private static func readKernelMode() -> UInt {
    var buffer = InlineArray<128, UInt8>(repeating: 0)
    let path = Config.value("ZONEMALLOC_THP_MODE_FILE")
    let fd = path.map { zms_open_readonly($0) }
      ?? zms_open_readonly(UnsafeRawPointer(("/sys/kernel/mm/transparent_hugepage/enabled" as StaticString).utf8Start)
                             .assumingMemoryBound(to: CChar.self))
    guard fd >= 0 else { return kernelNever }
    let n = withUnsafeMutableBytes(of: &buffer) { read(fd, $0.baseAddress, $0.count - 1) }
    close(fd)
    guard n > 0 else { return kernelNever }
    return withUnsafeBytes(of: &buffer) { raw in
      let text = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
      if has(text, n, "[always]") { return kernelAlways }
      if has(text, n, "[madvise]") { return kernelMadvise }
      if has(text, n, "[never]") { return kernelNever }
      if ConfigText.equals(prefix: text, "always") { return kernelAlways }
      if ConfigText.equals(prefix: text, "madvise") { return kernelMadvise }
      return kernelNever
    }
  }

  /// True when `word` occurs in the first n bytes of text.
  private static func has(_ text: UnsafePointer<CChar>, _ n: Int, _ word: StaticString) -> Bool {
    let length = word.utf8CodeUnitCount
    var i = 0
    while i + length <= n {
      if ConfigText.equals(prefix: text + i, word) { return true }
      i += 1
    }
    return false
  }
}
