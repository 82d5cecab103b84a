// Globals.swift: the allocator's process-wide mutable state.
//
// Owns: one page-aligned struct, mapped at boot, holding every table that is bigger than
// a scalar (depots, arenas, orphan lists, the zone lists, the CPU-to-node map). Swift
// globals with non-constant initialisers would run swift_once on the hot path, so all of
// this lives behind one pointer instead. Each field names the lock that guards it.
// Touches: nothing; the files that own each concept read and write their fields.

import ZoneSupport
import Synchronization

struct ArenaState {
  var bump: UInt = 0        // next slab never handed out                      [arena lock]
  var committedEnd: UInt = 0
  var regionEnd: UInt = 0
  var windows: UInt = 0     // windows reserved so far (each reserves twice the last, up to 64 MiB)
}

struct Globals: ~Copyable {
  var depots: InlineArray<64, DepotState>    // per node (Depot.swift)           [depot lock]
  var arenas: InlineArray<64, ArenaState>
  var orphanHeads: InlineArray<64, UInt>     // per size class                 [orphans lock]
  var orphanCounts: InlineArray<64, UInt>    // read without the lock as a hint
  var liveZones: UInt                        // doubly linked through Zone.link [zones lock]
  var deadZones: UInt                        // zones of threads lost in a fork
  var freeZones: UInt                        // recycled zone records
  var zoneCarve: UInt                        // next unused zone record in the current chunk
  var zoneCarveEnd: UInt
  var cpuNode: InlineArray<1024, UInt8>      // written once by the constructor
  var bigBlocks: AddressMap                  // live big blocks: address -> length | node+1 [big lock]
  var lazy: LazyState                        // the lazy unmap cache                     [big lock]
}

enum Global {
  nonisolated(unsafe) static var state: UnsafeMutablePointer<Globals>? = nil

  @inline(__always) static var g: UnsafeMutablePointer<Globals> { state.unsafelyUnwrapped }

  static func map() -> Bool {
    let bytes = (UInt(MemoryLayout<Globals>.size) + OS.pageSize - 1) & ~(OS.pageSize - 1)
    guard let p = OS.map(bytes) else { return false }
    state = UnsafeMutablePointer<Globals>(bitPattern: p)
    return true
  }
}
