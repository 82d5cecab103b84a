// Numa.swift: NUMA placement through libnuma.
//
// Owns: whether placement is on, how many nodes there are, and the CPU-to-node map
// (built once by the library constructor, which loads libnuma with dlopen only when
// placement can matter: forced on, or a second node in sysfs). Each zone records its node when it is created; fresh
// slab regions and big mappings are bound to that node with MPOL_PREFERRED; depots are
// per node. With one node, or ZONEMALLOC_NUMA=0, nothing here runs on any fast path.
// ZONEMALLOC_NUMA=1 forces the policy on even with one node, which is how the test
// suite checks on a one-node machine that the policy is really applied.
// Touches: the libnuma bridge (ZoneSupport/Numa.c). Boot applies the policy to the
// arena windows reserved before it was set up.

import ZoneSupport

enum Numa {
  nonisolated(unsafe) static var enabled = false
  /// Nodes the allocator keeps depots and arenas for (1 when placement is off).
  nonisolated(unsafe) static var nodeCount = 1
  /// Nodes libnuma reported (1 when it was not loaded, 0 when NUMA is unavailable).
  nonisolated(unsafe) static var nodesSeen = 0
  /// The node of each CPU (the first 1024), mapped when placement is on.
  nonisolated(unsafe) private static var cpuNodes: UnsafeMutablePointer<UInt8>? = nil
  static let maxCPUs = 1024

  /// Called once from the library constructor.
  static func setUp() {
    nodesSeen = 1
    let forced = Config.numaMode == Config.modeOn
    guard forced || (Config.numaMode == Config.modeAuto && zms_numa_multiple_nodes() != 0) else { return }
    guard zms_numa_load() == 0 else {
      Diagnostics.warn("NUMA placement is off: libnuma.so.1 cannot be loaded")
      return
    }
    nodesSeen = Int(zms_numa_node_count())
    guard nodesSeen > 0, forced || nodesSeen > 1 else { return }
    guard let table = OS.mapRecords(UInt8.self, count: maxCPUs) else { return }
    let cpus = min(Int(sysconf(Int32(_SC_NPROCESSORS_CONF))), maxCPUs)
    for cpu in 0..<max(cpus, 0) {
      table[cpu] = UInt8(min(Int(zms_numa_node_of_cpu(Int32(cpu))), Int(ZMS_MAX_NODES) - 1))
    }
    cpuNodes = table
    nodeCount = min(nodesSeen, Int(ZMS_MAX_NODES))
    enabled = true
  }

  static func nodeOfCurrentCPU() -> Int {
    guard enabled else { return 0 }
    return Int(cpuNodes.unsafelyUnwrapped[OS.currentCPU() & (maxCPUs - 1)])
  }

  /// Prefers node for [address, address+length) when placement is on.
  static func prefer(_ address: UInt, _ length: UInt, node: Int) {
    guard enabled else { return }
    _ = zms_numa_prefer(UnsafeMutableRawPointer(bitPattern: address), Int(length), Int32(node))
  }
}
