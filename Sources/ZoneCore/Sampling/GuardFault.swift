// GuardFault.swift: telling a fault in a guarded slot from any other.
//
// Owns: the hook that the SIGSEGV handler (ZoneSupport/FaultSignal.c) calls with the
// faulting address (and the access and the signal's context, passed on to the report),
// and the attribution of that address to a block. The candidates are the slot whose
// data pages hold the address, or the two slots on either side of the guard page that
// holds it; the one whose block is nearest wins. The kind follows from
// its state and the side: a freed block's, use-after-free; past a live block's end,
// heap-buffer-overflow; before its start, heap-buffer-underflow. A fault it cannot
// attribute (outside the pool, or only near slots that never held a block) is handed
// back, unchanged, to the program's handler or the default action.
// Touches: the slot records (read only), GuardReport. Runs in a signal handler: it
// allocates nothing and takes no lock.

import Synchronization

enum GuardFault {
  static let hook: @convention(c) (UInt, Int32, UnsafeRawPointer?) -> Void = { address, access, context in
    GuardFault.examine(address, access, context)
  }

  /// Reports and aborts when the fault is a guarded slot's; returns otherwise. The
  /// signal's context gives the faulting code's stack.
  static func examine(_ address: UInt, _ access: Int32, _ context: UnsafeRawPointer?) {
    guard GuardPool.contains(address), let index = nearestBlock(address) else { return }
    let slot = GuardPool.record(index)
    let state = slot.pointee.state.load(ordering: .acquiring)
    let block = slot.pointee.block
    let kind: StaticString
    if state != SlotState.live { kind = "use-after-free" }
    else if address >= block &+ slot.pointee.size { kind = "heap-buffer-overflow" }
    else if address < block { kind = "heap-buffer-underflow" }
    else { return } // inside a live block, whose pages are open: not a guard's fault
    GuardReport.fault(kind, at: address, access: access, slot: index, context: context)
  }

  /// Of the slots the address may have aimed at, the one holding or having held the
  /// block nearest to it.
  private static func nearestBlock(_ address: UInt) -> UInt? {
    var nearest: UInt? = nil
    var shortest = UInt.max
    for index in GuardPool.neighbours(of: address) {
      let slot = GuardPool.record(index)
      guard slot.pointee.state.load(ordering: .acquiring) != SlotState.unused else { continue }
      let start = slot.pointee.block
      let end = start &+ slot.pointee.size
      let distance = address < start ? start - address : address >= end ? address - end : 0
      if distance < shortest {
        nearest = index
        shortest = distance
      }
    }
    return nearest
  }
}
