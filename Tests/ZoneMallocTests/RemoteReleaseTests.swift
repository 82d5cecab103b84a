// RemoteReleaseTests.swift: memory freed by another thread goes back to the OS while its
// owner sleeps (issue 14), with remote_release.c linked with -lzonemalloc.
//
// - 64 MiB of small blocks (16 B .. 16 KiB) made by one thread and freed by another,
//   then both threads idle: RSS must come back to within 8 MiB of the baseline within the
//   release delay plus two background ticks (2.5 s), and zm_stats must count released
//   slabs. Before the reaper it stayed near the peak for good.
// - A slab whose memory was returned still catches a double free: by another thread
//   (the remote push finds the slab reaped) and by the owner (its free misses the fast
//   path and takes the same push); each aborts naming the block.
import Foundation
import Testing

extension Heavy {
  @Suite("remote-emptied slabs return to the OS")
  struct RemoteReleaseTests {
    @Test func blocksFreedByAnotherThreadAreReturnedWhileTheirOwnerSleeps() throws {
      let outcome = try runLinked("remote_release.c", ["idle", "64", "3000"], timeout: 60)
      let f = expectReport(outcome, prefix: "remote ok ")
      let baseline = try #require(f["baseline_kb"]), peak = try #require(f["peak_kb"])
      #expect(peak >= baseline + 60 * 1024, "64 MiB were written: \(f)")
      #expect((f["after_free_kb"] ?? 0) >= baseline + 32 * 1024, "right after the frees the memory is still resident: \(f)")
      let released = try #require(f["released_ms"])
      #expect(released >= 0 && released <= 2500, "RSS did not come back to within 8 MiB of the baseline within 2.5 s: \(f)")
      #expect((f["final_kb"] ?? .max) <= baseline + 8 * 1024, "\(f)")
      #expect((f["slabs_released_delta"] ?? 0) >= 512, "slabs_released must count the returned slabs: \(f)")
      print("measured: remote release of 64 MiB: baseline \(baseline) KiB, peak \(peak) KiB, back after \(released) ms, "
            + "final \(f["final_kb"] ?? 0) KiB, slabs released \(f["slabs_released_delta"] ?? 0)")
    }

    @Test(arguments: ["remote_twice", "owner_twice"])
    func aDoubleFreeIntoAReturnedSlabAbortsNamingTheBlock(mode: String) throws {
      let outcome = try runLinked("remote_release.c", [mode, "16", "2500"], timeout: 60)
      let pointer = try #require(outcome.stdoutLines.first.flatMap(hexValue), "\(outcome)")
      #expect(outcome.signal == SIGABRT, "\(outcome)")
      #expect(outcome.stderr.contains("zonemalloc: free(): double free of"), "\(outcome)")
      #expect(hexNumbers(in: outcome.stderr).contains(pointer), "the message must name the block: \(outcome)")
    }
  }
}
