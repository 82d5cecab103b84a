// HugePageTests.swift: where zonemalloc's heap sits on transparent huge pages, and how
// its release treats them (issue 24; Sources/ZoneCore/Policy/HugePages.swift,
// Small/HugePageCounts.swift), with Tests/programs/huge_pages.c linked with -lzonemalloc.
//
// - A dense heap (192 MiB of 64-byte blocks and a 64 MiB block) sits mostly on huge
//   pages under ZONEMALLOC_THP=auto where the kernel's mode is `madvise`, and zm_stats
//   reports it (huge_bytes, huge_share_permille); under ZONEMALLOC_THP=never, with the
//   mode file saying `never`, or with no mode file, none of it does and every figure is
//   0, as before huge pages were asked for.
// - With the background thread running, 128 MiB of 64 KiB blocks are on small pages
//   when just written (memory freed soon costs no huge page's fault) and on huge pages
//   once they have stayed in use for about two release delays (the promotion collapses
//   them; where the kernel lacks MADV_COLLAPSE the rest prints a line and passes). 40%
//   of them freed at random then (every huge page stays mostly in use) are still
//   resident after a trim has run, where under never the trim returned them, and go
//   back once they have been idle for the release delay, each split huge page counted
//   (huge_splits); under never, nothing is counted.
// - A single-threaded heap of 32 KiB blocks (each in a 64 KiB granule whose second half
//   stays untouched) keeps the RSS it has under never: the arena's probe pages find it
//   half resident and advise no more huge pages.
// The kernel's own mode decides what MADV_HUGEPAGE can do: where it is not `madvise`
// (or /sys has no THP), the tests that need huge pages print a line and pass.
import Foundation
import Testing

extension Heavy {
  @Suite("transparent huge pages: placement, release, figures")
  struct HugePageTests {
    static let modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

    /// True when this kernel gives huge pages to memory advised MADV_HUGEPAGE only.
    static var kernelIsMadvise: Bool {
      (try? String(contentsOfFile: modeFile, encoding: .utf8))?.contains("[madvise]") ?? false
    }

    static func run(_ mode: String, _ env: [String: String]) throws -> [String: Int] {
      expectReport(try runLinked("huge_pages.c", [mode], env: env, timeout: 120), prefix: "huge ok ")
    }

    @Test func aDenseHeapSitsOnHugePagesUnderAuto() throws {
      guard Self.kernelIsMadvise else {
        print("skipped: \(Self.modeFile) does not select madvise; MADV_HUGEPAGE is not what decides here")
        return
      }
      let f = try Self.run("dense", ["ZONEMALLOC_THP": "auto"])
      let small = try #require(f["small_kb"]), smallHuge = try #require(f["small_huge_kb"])
      #expect(smallHuge * 4 >= small * 3, "at least 3/4 of the small blocks' memory on huge pages: \(f)")
      #expect((f["big_huge_kb"] ?? 0) > 0, "the 64 MiB block is advised: \(f)")
      #expect((f["stats_huge_bytes"] ?? 0) >= smallHuge * 1024, "zm_stats reports the huge pages: \(f)")
      #expect((f["stats_permille"] ?? 0) >= 750, "\(f)")
      print("measured: dense heap under auto: \(smallHuge) of \(small) KiB of small blocks on huge pages, "
            + "big block \(f["big_huge_kb"] ?? 0) KiB, huge_share_permille \(f["stats_permille"] ?? 0)")
    }

    /// ZONEMALLOC_THP=never, and the kernel's mode file saying never, missing, or a FIFO
    /// nobody writes (boot must not wait for a writer): no huge page anywhere in the heap,
    /// and the figures say so.
    @Test(arguments: ["thp-never", "mode-file-never", "no-mode-file", "mode-file-fifo"])
    func noHugePagesWhenTheyAreOff(setting: String) throws {
      guard Self.kernelIsMadvise || setting == "thp-never" else {
        print("skipped: \(Self.modeFile) does not select madvise: the kernel itself decides")
        return
      }
      let dir = try Paths.makeTempDir("thp-mode")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try "always madvise [never]\n".write(toFile: dir + "/enabled", atomically: true, encoding: .utf8)
      #expect(mkfifo(dir + "/fifo", 0o600) == 0)
      let env = switch setting {
      case "thp-never": ["ZONEMALLOC_THP": "never"]
      case "mode-file-never": ["ZONEMALLOC_THP_MODE_FILE": dir + "/enabled"]
      case "mode-file-fifo": ["ZONEMALLOC_THP_MODE_FILE": dir + "/fifo"]
      default: ["ZONEMALLOC_THP_MODE_FILE": dir + "/missing"]
      }
      let f = try Self.run("dense", env)
      #expect(f["small_huge_kb"] == 0 && f["big_huge_kb"] == 0, "\(setting): \(f)")
      #expect(f["stats_huge_bytes"] == 0 && f["stats_permille"] == 0 && f["splits"] == 0, "\(setting): \(f)")
    }

    @Test func aHeapThatLeavesHalfOfItsGranulesUntouchedStaysOnSmallPages() throws {
      guard Self.kernelIsMadvise else {
        print("skipped: \(Self.modeFile) does not select madvise")
        return
      }
      let auto = try Self.run("medium", ["ZONEMALLOC_THP": "auto"])
      let never = try Self.run("medium", ["ZONEMALLOC_THP": "never"])
      let rss = try #require(auto["rss_kb"]), neverRss = try #require(never["rss_kb"])
      #expect(rss * 100 <= neverRss * 105, "RSS within 5% of never's: auto \(auto), never \(never)")
      #expect((auto["huge_kb"] ?? 0) * 10 <= rss, "at most a tenth on huge pages: \(auto)")
      print("measured: 128 MiB of 32 KiB blocks: auto \(rss) KiB resident (\(auto["huge_kb"] ?? -1) KiB huge), "
            + "never \(neverRss) KiB")
    }

    @Test func aTrimLeavesHugePagesInUseWholeAndTheIdlePassReturnsTheRest() throws {
      guard Self.kernelIsMadvise else {
        print("skipped: \(Self.modeFile) does not select madvise")
        return
      }
      let env = ["ZONEMALLOC_BACKGROUND": "1", "ZONEMALLOC_RELEASE_DELAY": "1000"]
      let auto = try Self.run("release", env.merging(["ZONEMALLOC_THP": "auto"]) { $1 })
      let never = try Self.run("release", env.merging(["ZONEMALLOC_THP": "never"]) { $1 })
      #expect(auto["fresh_huge_kb"] == 0, "blocks just written are on small pages: \(auto)")
      guard auto["collapse"] == 1 else {
        print("skipped: this kernel has no MADV_COLLAPSE (Linux 6.1): nothing is promoted: \(auto)")
        return
      }
      let blocks = try #require(auto["blocks_kb"]), kept = try #require(auto["kept_huge_kb"])
      #expect(kept * 4 >= blocks * 3, "blocks kept in use are promoted to huge pages: \(auto)")
      let peak = try #require(auto["peak_kb"]), after = try #require(auto["after_kb"])
      let idle = try #require(auto["idle_kb"]), neverAfter = try #require(never["after_kb"])
      let freed = peak * 4 / 10
      #expect(neverAfter <= peak - freed / 2, "under never the trim returns the free blocks at once: \(never)")
      #expect(after >= peak - freed / 4, "under auto the trim leaves huge pages mostly in use whole: \(auto)")
      #expect(idle <= peak - freed * 2 / 3, "after the release delay their free parts go back: \(auto)")
      let splitsAfter = try #require(auto["splits_after"]), splitsIdle = try #require(auto["splits_idle"])
      #expect(splitsIdle >= 48 && splitsAfter * 2 <= splitsIdle, "splits are counted, mostly after the delay: \(auto)")
      #expect(never["splits_idle"] == 0, "\(never)")
      print("measured: 128 MiB of 64 KiB blocks: \(auto["fresh_huge_kb"] ?? -1) KiB on huge pages when written, "
            + "\(kept) KiB of \(blocks) after \(auto["kept_ms"] ?? -1) ms; "
            + "40% of them freed: auto peak \(peak) KiB, 0.8 s later \(after) KiB "
            + "(\(splitsAfter) splits), 3 s later \(idle) KiB (\(splitsIdle) splits); never 0.8 s later \(neverAfter) KiB, "
            + "3 s later \(never["idle_kb"] ?? 0) KiB")
    }
  }
}
