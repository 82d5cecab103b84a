// LimitTests.swift: the memory limit (issue 6) and bad ZONEMALLOC_* values, with C
// programs linked with -lzonemalloc.
//
// - limit_reuse.c under ZONEMALLOC_LIMIT=128M: 6 waves of 96 MiB live (mixed small and
//   big blocks, the mix flipping every wave, every byte written and checked), 6 x 96 MiB
//   >= 4 x the limit in all. No allocation may fail, and the peak RSS (VmHWM) minus the
//   program's RSS before the first wave stays within the limit + 10%.
// - limit_after_exit.c under ZONEMALLOC_LIMIT=64M, ten runs: 8 threads fill 85% of the
//   limit, free it and exit; then one thread must get 90% of the limit in 1 MiB and 1 KiB
//   blocks with no refusal (what the exited threads cached is reused first).
// - limit_pressure.c single: zm_set_limit(64 MiB), then 100 MiB wanted live: malloc
//   returns NULL with ENOMEM, mapped <= limit; after freeing half, allocation works again.
// - limit_pressure.c threads 8 under ZONEMALLOC_LIMIT=64M: 8 threads hit the limit
//   together, each sees ENOMEM, frees half and allocates again (no crash, no hang).
// - limit_pressure.c probe with ZONEMALLOC_LIMIT=lots or ZONEMALLOC_NUMA=bogus: one
//   warning line naming the value, and the defaults (no limit, NUMA off on this machine).
// - limit_near_cap.c under ZONEMALLOC_LIMIT=64M: a live set held at 94% of the limit,
//   half of it freed and allocated again 20 times: no reclaim pass and no refusal (the
//   caches are reused; nothing is released before the limit is reached).
// - limit_clean_unit.c: at the limit, a medium request that finds only a span whose pages
//   went back to the OS fails with ENOMEM, and that span is not lost: with everything
//   freed and purged afterwards, nothing is counted as cached.
import Foundation
import Testing

@Suite("bad ZONEMALLOC_* values")
struct BadEnvironmentTests {
  @Test(arguments: [("ZONEMALLOC_LIMIT", "lots"), ("ZONEMALLOC_NUMA", "bogus")])
  func badValueWarnsOnceAndTheDefaultStays(_ variable: String, _ value: String) throws {
    let outcome = try runLinked("limit_pressure.c", ["probe"], env: [variable: value], timeout: 60)
    let f = expectReport(outcome, prefix: "limit_pressure ok mode=probe ")
    let warnings = outcome.stderr.split(separator: "\n").filter { $0.contains("\(variable)=\(value)") }
    #expect(warnings.count == 1, "expected one warning line naming \(variable)=\(value):\n\(outcome)")
    #expect(warnings.allSatisfy { $0.contains("zonemalloc:") }, "the warning line must contain `zonemalloc:`:\n\(outcome)")
    #expect(f["limit"] == 0, "no limit by default: \(f)")
    #expect(f["big_ok"] == 1, "a 200 MiB allocation succeeds with no limit: \(f)")
    #expect(f["numa_enabled"] == 0, "NUMA placement is off by default on a one-node machine: \(f)")
  }
}

@Suite("memory limit: released units")
struct LimitReleasedUnitTests {
  @Test func refusedReleasedUnitGoesBackToItsList() throws {
    let f = expectReport(try runLinked("limit_clean_unit.c", [], timeout: 60), prefix: "clean ok ")
    #expect(f["refused_errno"] == Int(ENOMEM), "\(f)")
    // A released span refused its charge and filed under charge class 0 (out of the
    // depot's bounds) is never released again and stays counted.
    #expect(f["allocated_end"] == 0 && f["slab_cached_end"] == 0,
            "after everything was freed and zm_purge() ran, nothing may be counted as cached: \(f)")
  }
}

extension Heavy {
  @Suite("memory limit")
  struct LimitTests {
    @Test func whatExitedThreadsCachedIsReusedBeforeARefusal() throws {
      var served = 0
      for _ in 0..<10 {
        let outcome = try runLinked("limit_after_exit.c", ["8", "90"], env: ["ZONEMALLOC_LIMIT": "64M"], timeout: 60)
        let f = expectReport(outcome, prefix: "limit_after_exit ok ")
        #expect(f["failures"] == 0, "the 8 threads' shares fit the limit: \(f)")
        let ok = (f["held"] ?? 0) >= (f["wanted"] ?? .max) && f["refusals"] == 0
        #expect(ok, "one thread must get 90% of the limit in 1 MiB and 1 KiB blocks after 8 threads exited: \(f)")
        if ok { served += 1 }
      }
      print("measured: 64 MiB limit, 8 threads exited, then one thread got 90% of it in \(served) runs of 10")
    }

    @Test func aLiveSetBetweenNinetyPercentAndTheLimitRunsNoReclaim() throws {
      let limit = 64 << 20
      let f = expectReport(try runLinked("limit_near_cap.c", ["20"], env: ["ZONEMALLOC_LIMIT": "64M"], timeout: 60),
                           prefix: "limit_near_cap ok ")
      #expect((f["held_pct"] ?? 0) >= 90, "the live set sits above 90% of the limit: \(f)")
      #expect(f["failures"] == 0 && f["refusals"] == 0, "the live set fits the limit: \(f)")
      #expect(f["reclaims"] == 0, "no reclaim pass runs before the limit is reached: \(f)")
      #expect((f["peak_mapped"] ?? Int.max) <= limit, "mapped above the limit: \(f)")
      print("measured: limit 64M, live set at \(f["held_pct"] ?? 0)% churned 20 times: reclaims \(f["reclaims"] ?? -1)")
    }

    @Test func wavesFourTimesTheLimitStayWithinIt() throws {
      let limit = 128 << 20
      let outcome = try runLinked("limit_reuse.c", ["6", "96"], env: ["ZONEMALLOC_LIMIT": "128M"], timeout: 120)
      let f = expectReport(outcome, prefix: "limit_reuse ok waves=6 ")
      #expect(f["limit"] == limit, "\(f)")
      #expect((f["total"] ?? 0) >= 4 * limit, "the waves allocate at least 4 x the limit in all: \(f)")
      #expect(f["failures"] == 0, "no allocation may fail when the live set fits the limit: \(f)")
      let baseline = try #require(f["baseline_kb"]), hwm = try #require(f["hwm_kb"])
      // Peak RSS of the program minus its RSS before the first wave (libraries, stack).
      #expect(hwm - baseline <= (limit + limit / 10) >> 10, "peak RSS above the limit + 10%: \(f)")
      #expect((f["peak_mapped"] ?? Int.max) <= limit, "mapped above the limit: \(f)")
      print("measured: limit 128M waves: total \((f["total"] ?? 0) >> 20) MiB, VmHWM \(hwm) KiB - baseline \(baseline) KiB "
            + "= \((hwm - baseline) >> 10) MiB, peak mapped \((f["peak_mapped"] ?? 0) >> 20) MiB, "
            + "reclaims \(f["reclaims"] ?? 0), refusals \(f["refusals"] ?? 0)")
    }

    @Test func singleThreadRunsIntoTheLimitAndRecovers() throws {
      let limit = 64 << 20
      let f = expectReport(try runLinked("limit_pressure.c", ["single", "64"], timeout: 60),
                           prefix: "limit_pressure ok mode=single ")
      #expect(f["errno"] == Int(ENOMEM), "malloc fails with ENOMEM at the limit: \(f)")
      #expect((f["live_at_refusal"] ?? Int.max) <= limit, "the refusal comes before more than the limit is live: \(f)")
      #expect((f["refusals"] ?? 0) > 0, "limit_refusals counts the refusal: \(f)")
      #expect((f["mapped_at_refusal"] ?? Int.max) <= limit, "mapped stays within the limit: \(f)")
      #expect((f["mapped_end"] ?? Int.max) <= limit, "mapped stays within the limit: \(f)")
      #expect((f["reallocated"] ?? 0) > 0 && f["realloc_failures"] == 0, "after freeing half, allocation works: \(f)")
      print("measured: limit 64M single thread: refused at \((f["live_at_refusal"] ?? 0) >> 10) KiB live, "
            + "mapped \((f["mapped_at_refusal"] ?? 0) >> 10) KiB, refusals \(f["refusals"] ?? 0)")
    }

    @Test func eightThreadsRunIntoTheLimitAtOnceAndRecover() throws {
      let limit = 64 << 20
      let f = expectReport(try runLinked("limit_pressure.c", ["threads", "8"], env: ["ZONEMALLOC_LIMIT": "64M"],
                                         timeout: 60),
                           prefix: "limit_pressure ok mode=threads threads=8 ")
      #expect(f["limit"] == limit, "\(f)")
      #expect(f["enomem"] == 8 && f["other_errno"] == 0, "every thread's NULL comes with ENOMEM: \(f)")
      #expect((f["refusals"] ?? 0) >= 8, "limit_refusals counts each thread's refusal: \(f)")
      #expect((f["mapped_at_refusal"] ?? Int.max) <= limit, "mapped stays within the limit: \(f)")
      #expect((f["mapped_end"] ?? Int.max) <= limit, "mapped stays within the limit: \(f)")
      #expect(f["realloc_failures"] == 0, "after freeing half, every thread can allocate again: \(f)")
      print("measured: limit 64M, 8 threads: refusals \(f["refusals"] ?? 0), reclaims \(f["reclaims"] ?? 0), "
            + "mapped at refusal \((f["mapped_at_refusal"] ?? 0) >> 10) KiB")
    }
  }
}
