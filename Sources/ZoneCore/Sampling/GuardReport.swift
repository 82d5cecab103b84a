// GuardReport.swift: the reports about guarded blocks, and the aborts that end them.
//
// Owns: the text of a fault report (use-after-free, heap-buffer-overflow,
// heap-buffer-underflow) and of a bad call on a guarded block (double free, invalid
// pointer). A report is a few lines on stderr, each starting "zonemalloc: ": what
// happened and at which address; where that address lies in the block, with the block's
// address and size; the allocating stack; the freeing stack, or "not freed"; then the
// faulting access's own stack ("accessed by"), or for a bad call, that call's; then one
// line for each object of those stacks that is stripped. Then it aborts. A fault report
// allocates nothing and takes no lock: it is written from the SIGSEGV handler.
// Touches: the slot records (read only), CallStack, StrippedObjects, LineBuffer.

import ZoneSupport
import Synchronization

enum GuardReport {
  /// A fault in a guarded slot, of the kind named (use-after-free, ...).
  /// The signal's context gives the faulting access's stack.
  static func fault(_ kind: StaticString, at address: UInt, access: Int32, slot index: UInt,
                    context: UnsafeRawPointer?) -> Never {
    var line = LineBuffer()
    line.append("zonemalloc: ")
    line.append(kind)
    line.append(" on address ")
    line.append(hex: address)
    if access == Int32(ZMS_ACCESS_READ) { line.append(" (read)") }
    if access == Int32(ZMS_ACCESS_WRITE) { line.append(" (write)") }
    line.writeLine()
    var stripped = StrippedObjects()
    describe(address, index, &stripped)
    var accessed = CallStack()
    Sampling.holdingOff { accessed.capture(signalContext: context) }
    accessed.print("accessed", noting: &stripped)
    stripped.warn()
    abort()
  }

  /// free (or realloc, malloc_usable_size) of an address in the pool that is not a live
  /// block: "<function>(): double free of 0x..." when it is a freed block's start and the
  /// call frees, "<function>(): invalid pointer 0x..." otherwise, as for other blocks.
  static func misuse(_ function: StaticString, _ address: UInt, freeing: Bool) -> Never {
    let index = GuardPool.slot(holding: address)
    let slot = index.map { GuardPool.record($0) }
    let state = slot?.pointee.state.load(ordering: .acquiring) ?? SlotState.unused
    let double = freeing && state != SlotState.live && state != SlotState.unused && slot?.pointee.block == address
    var line = LineBuffer()
    line.append("zonemalloc: ")
    line.append(function)
    line.append(double ? "(): double free of " : "(): invalid pointer ")
    line.append(hex: address)
    line.writeLine()
    var stripped = StrippedObjects()
    if let index, state != SlotState.unused { describe(address, index, &stripped) }
    var call = CallStack()
    Sampling.holdingOff { call.capture() }
    call.print("the bad call was made", noting: &stripped)
    stripped.warn()
    abort()
  }

  /// "0x... is 8 bytes into the 64-byte block at 0x... (guarded slot 3, freed)", then
  /// the allocating and freeing stacks.
  private static func describe(_ address: UInt, _ index: UInt, _ stripped: inout StrippedObjects) {
    let slot = GuardPool.record(index)
    let block = slot.pointee.block
    let end = block &+ slot.pointee.size
    let live = slot.pointee.state.load(ordering: .acquiring) == SlotState.live
    var line = LineBuffer()
    line.append("zonemalloc: ")
    line.append(hex: address)
    line.append(" is ")
    if address < block {
      appendBytes(&line, block - address)
      line.append(" before")
    } else if address >= end {
      appendBytes(&line, address - end)
      line.append(" past the end of")
    } else {
      appendBytes(&line, address - block)
      line.append(" into")
    }
    line.append(" the ")
    line.append(decimal: slot.pointee.size)
    line.append("-byte block at ")
    line.append(hex: block)
    line.append(" (guarded slot ")
    line.append(decimal: index)
    line.append(live ? ", live)" : ", freed)")
    line.writeLine()
    slot.pointee.allocated.print("allocated", noting: &stripped)
    if live { Diagnostics.warn("not freed") } else { slot.pointee.freed.print("freed", noting: &stripped) }
  }

  /// "1 byte", "8 bytes".
  private static func appendBytes(_ line: inout LineBuffer, _ count: UInt) {
    line.append(decimal: count)
    line.append(count == 1 ? " byte" : " bytes")
  }
}
