// RemoteFreeTests.swift: cross-thread frees (issue 3), with C programs linked with
// -lzonemalloc that read zm_stats themselves.
//
// - producer_consumer.c count: 4 producers, 4 consumers, 10 million objects of 16..512 B,
//   each freed (after its pattern is checked) by a consumer, never by the producer. The
//   zm_stats delta over the run must show every free as remote, at most one owner signal
//   per 100 remote frees, and exactly as many frees as mallocs.
// - producer_consumer.c time 60: the same workload for 60 s; VmRSS and VmHWM are sampled
//   every second by a thread of the program. Peak RSS must stop growing after warm-up:
//   the maximum over the last 40 s at most 10% (or 4 MiB, whichever is larger) above the
//   maximum over the first 20 s.
// - storm_half.c: 20,000 threads, at most 512 alive, each allocating 1 MiB of small
//   objects and handing half of them to 2 reaper threads. Afterwards (and at every
//   sample during the storm) mapped <= 2 x the working set (512 x 1 MiB).
// Each test prints one "measured:" line with the numbers, for the record.
import Foundation
import Testing

/// Builds Tests/programs/<source> linked with -lzonemalloc and runs it (shared by the
/// RemoteFree, BigBlock, Limit and Numa tests).
func runLinked(_ source: String, _ args: [String], env: [String: String] = [:], timeout: Double) throws -> Outcome {
  let program = try TestProgram.build(source, linkage: .linked)
  return try Subprocess.run([program] + args, env: env, timeout: timeout)
}

extension Heavy {
  @Suite("cross-thread frees (producer-consumer, thread storm)")
  struct RemoteFreeTests {
    @Test func tenMillionObjectsFreedByConsumersSignalTheirOwnersRarely() throws {
      let outcome = try runLinked("producer_consumer.c", ["count", "10000000"], timeout: 120)
      let f = expectReport(outcome, prefix: "pc ok mode=count objects=10000000 ")
      let mallocs = try #require(f["mallocs"]), frees = try #require(f["frees"])
      let remote = try #require(f["remote_frees"]), signals = try #require(f["owner_signals"])
      #expect(remote >= 10_000_000, "every object is freed by a consumer: \(f)")
      #expect(remote == frees, "every free in the run is made by a consumer, so every one is remote: \(f)")
      #expect(signals * 100 <= remote, "at most 1 owner signal per 100 remote frees: \(f)")
      #expect(mallocs == frees, "the program frees everything it allocates during the run: \(f)")
      #expect(f["allocated_before"] == f["allocated_after"], "allocated bytes must come back to where they were: \(f)")
      print("measured: producer-consumer 10M: remote_frees \(remote), owner_signals \(signals) "
            + "(1 per \(signals > 0 ? remote / signals : remote)), mallocs \(mallocs) frees \(frees), \(f["ms"] ?? 0) ms")
    }

    @Test func sixtySecondsOfProducerConsumerKeepPeakRSSFlat() throws {
      let outcome = try runLinked("producer_consumer.c", ["time", "60"], timeout: 150)
      let f = expectReport(outcome, prefix: "pc ok mode=time ")
      #expect(f["mallocs"] == f["frees"], "the program frees everything it allocates during the run: \(f)")
      let samples = outcome.stdoutLines.filter { $0.hasPrefix("sample ") }.map(reportFields)
      let rss = samples.compactMap { s in s["t"].flatMap { t in s["rss_kb"].map { (t, $0) } } }
      try #require(rss.count >= 55, "expected about 60 one-second samples:\n\(outcome)")
      let early = rss.filter { $0.0 <= 20 }.map(\.1).max() ?? 0
      let late = rss.filter { $0.0 > 20 }.map(\.1).max() ?? 0
      let allowance = max(early / 10, 4096)
      #expect(late <= early + allowance,
              "peak RSS grew after warm-up: max \(late) KiB over the last 40 s, \(early) KiB over the first 20 s\n\(outcome.stdout)")
      let hwm = samples.compactMap { $0["hwm_kb"] }
      print("measured: producer-consumer 60 s: \(f["objects"] ?? 0) objects, remote_frees \(f["remote_frees"] ?? 0), "
            + "owner_signals \(f["owner_signals"] ?? 0); RSS max first 20 s \(early) KiB, last 40 s \(late) KiB; "
            + "VmRSS samples (KiB) \(rss.map { String($0.1) }.joined(separator: " ")); final VmHWM \(hwm.last ?? 0) KiB")
    }

    @Test func stormOfThreadsFreeingHalfElsewhereKeepsMappedNearTheWorkingSet() throws {
      let outcome = try runLinked("storm_half.c", ["20000", "512"], timeout: 180)
      let f = expectReport(outcome, prefix: "storm_half ok threads=20000 wave=512 ")
      let workingSet = try #require(f["working_set"]), mapped = try #require(f["mapped"])
      let peak = try #require(f["peak_mapped"]), objects = try #require(f["objects"])
      #expect(workingSet == 512 << 20, "\(f)")
      #expect(mapped <= 2 * workingSet, "mapped after the storm exceeds 2 x the working set: \(f)")
      #expect(peak <= 2 * workingSet, "mapped during the storm exceeded 2 x the working set: \(f)")
      #expect(objects >= 20_000 * 512, "each thread allocates 1 MiB in objects of at most 2 KiB: \(f)")
      // Every other object goes to a reaper: floor(count / 2) of each worker's objects.
      let remote = try #require(f["remote"])
      #expect(remote <= objects / 2 && remote >= objects / 2 - 20_000, "every other object goes to a reaper: \(f)")
      #expect((f["remote_frees"] ?? 0) >= remote, "the reapers' frees are remote frees: \(f)")
      #expect((f["teardowns"] ?? 0) >= 20_000, "every worker's zone is torn down: \(f)")
      #expect((f["threads_live"] ?? Int.max) <= 4, "only the main thread is left: \(f)")
      print("measured: storm 20000 threads x 1 MiB, 512 alive: working set \(workingSet >> 20) MiB, "
            + "mapped after \(mapped >> 20) MiB, peak mapped (sampled) \(peak >> 20) MiB, "
            + "after zm_purge \((f["mapped_after_purge"] ?? 0) >> 20) MiB, orphan_slabs \(f["orphan_slabs"] ?? 0), "
            + "teardowns \(f["teardowns"] ?? 0), threads_live \(f["threads_live"] ?? 0), VmHWM \(f["vmhwm_kb"] ?? 0) KiB, "
            + "\(f["ms"] ?? 0) ms")
    }
  }
}
