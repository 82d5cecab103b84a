// Fork.swift: how a forked child gets a consistent heap, lazily, as Linux's fork copies
// anon_vma chains in O(1) and leaves the work to the child.
//
// Owns: the repair of a child, which runs before the child takes its first allocator
// lock (ZoneSupport/Locks.c detects the child through a MADV_WIPEONFORK page).
//
// fork() holds no allocator lock: there is no prepare handler. glibc takes its stdio list
// lock after the prepare handlers, other libraries' handlers allocate, and a signal
// handler may fork while the interrupted code holds a lock; a prepare handler that took
// the allocator's locks deadlocked in each case. So at the instant of fork another
// thread may be inside any critical section, and the child inherits what it left. The
// repair notes which locks were held (a trylock that fails), re-creates every lock, and
// then, for each structure whose lock was held, repairs it or abandons it:
//  - zone lists: if intact, the other threads' zones become dead (one walk of the zone
//    records' links, no slab touched) and are torn down only when the child needs their
//    slabs; if torn, they are abandoned;
//  - orphan lists, a node's depot, the lazy big-block cache: abandoned (what they held
//    stays mapped and is never reused in this child: a leak of cached memory, not of
//    live blocks);
//  - a node's arena: its current region is left, and the next slab starts a new one;
//  - the big-block registry is never abandoned: its updates are single stores that a
//    fork cannot tear (AddressMap.swift), so the child can free the parent's big blocks;
//  - the heap profiler's tables (the profile lock): the child starts empty ones;
//  - a slab the background thread was reaping: finished (Reaper.swift);
//  - a signal another thread was sending: the count of signals in flight starts again,
//    and whoever waits for a lost signal ends it (SlabState.swift).
// The stats page needs no repair: the child's first refresh sees that the page is its
// parent's (by pid) and publishes its own (StatsPage.swift).
// The child walks no slab of the parent's and writes only the records it repairs.
// Touches: every structure's repair hook, the background thread's state, boot.

import ZoneSupport

enum Fork {
  static func repairInChild() {
    let held = zms_reinit_locks_after_fork()
    zms_background_reinit()
    Boot.afterForkInChild()
    guard Boot.isReady else { return }
    func wasHeld(_ id: Int32) -> Bool { held.global & (1 << UInt32(id)) != 0 }
    if wasHeld(Int32(ZMS_LOCK_ZONES)) { Zones.abandonInChild() } else { Zones.afterForkInChild() }
    if wasHeld(Int32(ZMS_LOCK_ORPHANS)) { Orphans.abandonInChild() }
    if wasHeld(Int32(ZMS_LOCK_BIG)) { LazyUnmap.abandonInChild() }
    if wasHeld(Int32(ZMS_LOCK_PROFILE)) { ProfileTables.abandonInChild() }
    for node in 0..<Int(ZMS_MAX_NODES) {
      if held.depots & (1 << UInt64(node)) != 0 { Depot.abandonInChild(node) }
      if held.arenas & (1 << UInt64(node)) != 0 { Arena.abandonInChild(node) }
    }
    Background.afterForkInChild()
    Reaper.afterForkInChild()
    SignalsInFlight.afterForkInChild()
    ExitZone.afterForkInChild()
  }
}

/// The repair ZoneSupport's locks run in a forked child (registered at boot).
let forkRepair: @convention(c) () -> Void = { Fork.repairInChild() }
