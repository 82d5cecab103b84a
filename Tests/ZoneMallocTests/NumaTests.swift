// NumaTests.swift: NUMA placement on this (one-node) machine (issue 6), read back from
// the kernel by Tests/programs/numa_policy.c (get_mempolicy with MPOL_F_ADDR and
// move_pages through syscall(2), no libnuma in the test program).
//
// - ZONEMALLOC_NUMA=1 (forced): a small block, a big block and a second thread's small
//   block all live in mappings with policy MPOL_PREFERRED and node 0 in the mask, their
//   pages are on node 0, zm_numa_node_of says 0, numa_enabled is 1 and libnuma is loaded.
// - ZONEMALLOC_NUMA=0: MPOL_DEFAULT, zm_numa_node_of -1, numa_enabled 0, no libnuma.
// - default (auto) on one node: numa_enabled 0 and libnuma not even loaded.
import Foundation
import Testing

@Suite("NUMA placement")
struct NumaTests {
  static let mpolDefault = 0, mpolPreferred = 1
  static let kinds = ["small", "big", "thread"]

  func run(_ env: [String: String]) throws -> [String: Int] {
    let outcome = try runLinked("numa_policy.c", [], env: env, timeout: 60)
    #expect(!outcome.stderr.contains("zonemalloc:"), "no warning expected:\n\(outcome)")
    return expectReport(outcome, prefix: "numa ok ")
  }

  @Test func forcedOnBindsSmallAndBigBlocksToNodeZero() throws {
    let f = try run(["ZONEMALLOC_NUMA": "1"])
    for kind in Self.kinds {
      #expect(f["\(kind)_policy"] == Self.mpolPreferred, "\(kind) block: policy should be MPOL_PREFERRED: \(f)")
      #expect((f["\(kind)_mask"] ?? 0) & 1 == 1, "\(kind) block: node 0 should be in the policy's mask: \(f)")
      #expect(f["\(kind)_page"] == 0, "\(kind) block: move_pages should place the touched page on node 0: \(f)")
      #expect(f["\(kind)_zm"] == 0, "\(kind) block: zm_numa_node_of should say node 0: \(f)")
    }
    #expect(f["outside_zm"] == -1, "zm_numa_node_of of a stack address: \(f)")
    #expect(f["numa_enabled"] == 1, "\(f)")
    #expect(f["libnuma"] == 1, "forced placement goes through libnuma: \(f)")
  }

  @Test(arguments: [["ZONEMALLOC_NUMA": "0"], [:], ["ZONEMALLOC_NUMA": "auto"]])
  func offOrAutomaticOnOneNodeAppliesNoPolicy(_ env: [String: String]) throws {
    let f = try run(env)
    for kind in Self.kinds {
      #expect(f["\(kind)_policy"] == Self.mpolDefault, "\(kind) block: policy should be MPOL_DEFAULT: \(f)")
      #expect(f["\(kind)_zm"] == -1, "\(kind) block: zm_numa_node_of should say -1 with no policy: \(f)")
      #expect(f["\(kind)_page"] == 0, "\(kind) block: the only node is 0: \(f)")
    }
    #expect(f["numa_enabled"] == 0, "placement is off (\(env)): \(f)")
    #expect(f["numa_nodes"] == 1, "\(f)")
    #expect(f["libnuma"] == 0, "libnuma must not be loaded when placement is off or automatic on one node: \(f)")
  }
}
