// BigBlockTests.swift: big blocks and the lazy unmap cache (issue 4), with C programs
// linked with -lzonemalloc that read zm_stats and /proc/self themselves.
//
// - realloc_growth.c: one buffer grown from 1 MiB to 1 GiB by realloc(p, 2n) copies no
//   byte (realloc_copied_bytes delta 0), grows by mremap or in place, and keeps its first
//   1 MiB and the pages stamped at every step.
// - idle_release.c: 256 MiB of big blocks (64 KiB .. 4 MiB, every page touched) freed.
//   With a second thread of the program's own (so the background thread runs), RSS must
//   come back to within 8 MiB of the baseline within the release delay plus margin (not
//   before part of it was held in the lazy cache), sooner with
//   ZONEMALLOC_RELEASE_DELAY=200. Single-threaded, the process must stay single-threaded,
//   and what exceeds the small working cache comes back at the frees (nothing else could
//   return it while the program sleeps). With ZONEMALLOC_BACKGROUND=0 the working cache
//   stays until malloc_trim(0) gives it back.
// - big_churn.c: 100k big blocks of 32 KiB .. 4 MiB over 2 threads, every page touched:
//   at most one munmap per 50 frees; with ZONEMALLOC_LAZY_MAX=0 about one per free, which
//   shows the threshold is what batches. Both runs end with calloc over dirtied, cached
//   blocks, which must read zero.
import Foundation
import Testing

@Suite("big blocks: realloc growth")
struct BigBlockTests {
  @Test func growingOneBufferToOneGiBCopiesNoBytes() throws {
    let f = expectReport(try runLinked("realloc_growth.c", ["1024"], timeout: 60), prefix: "growth ok steps=10 ")
    #expect(f["final"] == 1 << 30, "\(f)")
    #expect(f["copied"] == 0, "realloc copied bytes while growing a big block: \(f)")
    let mremaps = try #require(f["mremaps"]), inPlace = try #require(f["in_place"])
    #expect(mremaps > 0 || inPlace == 10, "growth must be by mremap or in place: \(f)")
    print("measured: realloc 1 MiB -> 1 GiB: copied \(f["copied"] ?? -1) bytes, mremap calls \(mremaps), "
          + "in place \(inPlace), moved \(f["moved"] ?? 0), mmap \(f["mmaps"] ?? 0), munmap \(f["munmaps"] ?? 0)")
  }
}

extension Heavy {
  @Suite("big blocks: idle release and lazy unmap")
  struct BigBlockHeavyTests {
    static let slackKiB = 8 * 1024

    /// The lazy cache's floor without a background thread: a sixteenth of the default
    /// ZONEMALLOC_LAZY_MAX (32 MiB x fls(ncpus)).
    static var singleThreadLazyFloor: Int {
      let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
      return (32 << 20) * (Int.bitWidth - cpus.leadingZeroBitCount) / 16
    }

    /// Runs idle_release with a companion thread and checks the memory was cached, then
    /// returned.
    func idleRelease(env: [String: String], deadlineMs: Int) throws -> [String: Int] {
      let outcome = try runLinked("idle_release.c", ["threaded", "\(deadlineMs)"], env: env, timeout: 60)
      let f = expectReport(outcome, prefix: "idle ok mode=threaded ")
      let baseline = try #require(f["baseline_kb"]), peak = try #require(f["peak_kb"])
      let afterFree = try #require(f["after_free_kb"])
      #expect(peak >= baseline + 250 * 1024, "256 MiB were touched: \(f)")
      #expect((f["lazy_after_free"] ?? 0) > 0, "freed big blocks should be cached lazily, not unmapped at once: \(f)")
      #expect(afterFree > baseline + 2 * Self.slackKiB, "right after the frees part of the memory is still resident: \(f)")
      let released = try #require(f["released_ms"])
      #expect(released >= 0, "RSS did not fall back to within 8 MiB of the baseline within \(deadlineMs) ms: \(f)")
      #expect((f["lazy_end"] ?? Int.max) <= Self.slackKiB << 10,
              "the lazy cache is (about) empty once idle memory was returned: \(f)")
      return f
    }

    @Test func idleProgramGivesItsMemoryBackWithinTheReleaseDelay() throws {
      // Default delay 1000 ms; the background thread ticks every 500 ms, so an extent
      // freed at t is unmapped between t + 1000 and t + 1500 ms.
      let f = try idleRelease(env: [:], deadlineMs: 2500)
      let released = f["released_ms"] ?? -1
      #expect(released >= 500, "memory was released well before the 1000 ms delay: \(f)")
      print("measured: idle release (default delay): baseline \(f["baseline_kb"] ?? 0) KiB, peak \(f["peak_kb"] ?? 0) KiB, "
            + "after free \(f["after_free_kb"] ?? 0) KiB (lazy \((f["lazy_after_free"] ?? 0) >> 20) MiB), "
            + "back to baseline after \(released) ms, final \(f["final_kb"] ?? 0) KiB")
    }

    @Test func shorterReleaseDelayReleasesSooner() throws {
      let f = try idleRelease(env: ["ZONEMALLOC_RELEASE_DELAY": "200"], deadlineMs: 1000)
      #expect((f["released_ms"] ?? Int.max) < 1000, "with a 200 ms delay memory comes back within 1 s: \(f)")
      print("measured: idle release (ZONEMALLOC_RELEASE_DELAY=200): back to baseline after \(f["released_ms"] ?? -1) ms")
    }

    @Test func singleThreadedProgramGetsMemoryBackAtTheFreesAndStaysSingleThreaded() throws {
      let outcome = try runLinked("idle_release.c", ["wait", "100"], env: [:], timeout: 60)
      let f = expectReport(outcome, prefix: "idle ok mode=wait ")
      let baseline = try #require(f["baseline_kb"]), afterFree = try #require(f["after_free_kb"])
      #expect(f["threads_max"] == 1, "no thread the program did not ask for: \(f)")
      #expect((f["lazy_after_free"] ?? Int.max) <= Self.singleThreadLazyFloor,
              "the lazy cache keeps at most its single-threaded floor: \(f)")
      #expect(afterFree <= baseline + Self.slackKiB, "RSS is back near the baseline right after the frees: \(f)")
      print("measured: single-threaded idle release: baseline \(baseline) KiB, peak \(f["peak_kb"] ?? 0) KiB, "
            + "after free \(afterFree) KiB (lazy \((f["lazy_after_free"] ?? 0) >> 10) KiB), threads \(f["threads_max"] ?? 0)")
    }

    @Test func withoutBackgroundThreadTheWorkingCacheStaysUntilTrim() throws {
      let outcome = try runLinked("idle_release.c", ["nobg", "1500"], env: ["ZONEMALLOC_BACKGROUND": "0"], timeout: 60)
      let f = expectReport(outcome, prefix: "idle ok mode=nobg ")
      let baseline = try #require(f["baseline_kb"])
      let lazy = f["lazy_after_sleep"] ?? 0
      #expect(lazy > 0 && lazy <= Self.singleThreadLazyFloor,
              "with no background thread the working cache (at most the floor) stays after 1.5 s: \(f)")
      #expect(f["trim"] == 1, "malloc_trim(0) reports released memory: \(f)")
      #expect(f["lazy_after_trim"] == 0, "malloc_trim(0) empties the lazy cache: \(f)")
      #expect((f["after_trim_kb"] ?? Int.max) <= baseline + Self.slackKiB, "malloc_trim(0) returns the RSS: \(f)")
      print("measured: ZONEMALLOC_BACKGROUND=0: lazy \((f["lazy_after_sleep"] ?? 0) >> 10) KiB and RSS "
            + "\(f["after_sleep_kb"] ?? 0) KiB after 1.5 s idle, \(f["after_trim_kb"] ?? 0) KiB after malloc_trim "
            + "(baseline \(baseline) KiB)")
    }

    /// Runs big_churn and checks its own data checks and the calloc checks passed.
    func churn(_ allocs: Int, env: [String: String] = [:]) throws -> [String: Int] {
      let outcome = try runLinked("big_churn.c", ["\(allocs)", "2"], env: env, timeout: 120)
      let f = expectReport(outcome, prefix: "churn ok allocs=\(allocs) threads=2 ")
      #expect(f["frees"] == allocs, "every block of the churn was freed and counted: \(f)")
      #expect((f["big_allocs"] ?? 0) > 0 && (f["big_allocs"] ?? 0) < allocs,
              "blocks above 512 KiB are big blocks, smaller ones spans: \(f)")
      #expect(f["calloc_checked"] == 12, "\(f)")
      return f
    }

    @Test func churnOfBigBlocksBatchesItsMunmaps() throws {
      let f = try churn(100_000)
      let frees = try #require(f["frees"]), munmaps = try #require(f["munmaps"])
      #expect(munmaps <= frees / 50, "at most one munmap per 50 frees of 32 KiB .. 4 MiB blocks: \(f)")
      #expect((f["calloc_reuses"] ?? 0) > 0, "the calloc checks were served from dirtied cached blocks: \(f)")
      print("measured: big churn 100k: frees \(frees), big frees \(f["big_frees"] ?? 0), munmap \(munmaps), mmap \(f["mmaps"] ?? 0), "
            + "mremap \(f["mremaps"] ?? 0), reuses \(f["big_reuses"] ?? 0), purges \(f["purges"] ?? 0), \(f["ms"] ?? 0) ms")
    }

    @Test func immediateUnmapPolicyUnmapsOncePerFree() throws {
      // Fewer allocations: with nothing cached every block is mapped and faulted in fresh.
      let f = try churn(3_000, env: ["ZONEMALLOC_LAZY_MAX": "0"])
      let frees = try #require(f["big_frees"]), munmaps = try #require(f["munmaps"])
      #expect(munmaps * 10 >= frees * 9, "ZONEMALLOC_LAZY_MAX=0 unmaps (about) every freed big block: \(f)")
      print("measured: big churn 3000 with ZONEMALLOC_LAZY_MAX=0: big frees \(frees), munmap \(munmaps), "
            + "mmap \(f["mmaps"] ?? 0), \(f["ms"] ?? 0) ms")
    }
  }
}
