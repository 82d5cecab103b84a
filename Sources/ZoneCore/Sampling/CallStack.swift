// CallStack.swift: a recorded call stack, and its printout.
//
// Owns: capturing the calling thread's id and return addresses (ZoneSupport's
// zms_backtrace, the stack walker the heap profiler uses too: it starts at the program's
// call into the allocator, and allocates nothing), or the stack of the code a signal
// interrupted (zms_backtrace_of_signal: its faulting pc first), and printing them one
// frame a line: "#3 0x... make_block+0x1c (program) at /src/program.c:42", the function
// from the object file's static or dynamic symbols and the file and line from its DWARF
// line table where they tell (zms_symbolize), raw addresses otherwise. The objects found
// stripped are noted in a StrippedObjects for the report to name once. Printing takes no
// lock and allocates nothing (zms_symbolize, write(2), stack buffers), so the fault
// handler may print.
// Touches: StrippedObjects. The caller keeps its own allocations out of the sampler while
// it captures (Sampling.holdingOff).

import ZoneSupport

struct CallStack: ~Copyable {
  static let capacity = 32
  var thread: UInt
  var depth: UInt
  /// The first frame is the faulting instruction, not a return address.
  var startsAtFault: Bool
  var frames: InlineArray<32, UInt>

  init() {
    thread = 0
    depth = 0
    startsAtFault = false
    frames = InlineArray(repeating: 0)
  }

  /// Records the calling thread and its stack.
  mutating func capture() {
    thread = UInt(gettid())
    let n = withUnsafeMutableBytes(of: &frames) { raw in
      zms_backtrace(raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: UInt.self),
                    Int32(CallStack.capacity))
    }
    depth = UInt(max(n, 0))
  }

  /// Records the calling thread and the stack of the code that the signal whose context
  /// this is interrupted (called from that signal's handler).
  mutating func capture(signalContext context: UnsafeRawPointer?) {
    thread = UInt(gettid())
    startsAtFault = true
    let n = withUnsafeMutableBytes(of: &frames) { raw in
      zms_backtrace_of_signal(context, raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: UInt.self),
                              Int32(CallStack.capacity))
    }
    depth = UInt(max(n, 0))
  }

  /// "zonemalloc: <title> by thread <id>:", then a line per frame.
  func print(_ title: StaticString, noting stripped: inout StrippedObjects) {
    var line = LineBuffer()
    line.append("zonemalloc: ")
    line.append(title)
    line.append(" by thread ")
    line.append(decimal: thread)
    line.append(":")
    line.writeLine()
    for i in 0..<Int(depth) {
      var symbol = zms_symbol()
      let isReturn: Int32 = startsAtFault && i == 0 ? 0 : 1
      let known = zms_symbolize(frames[i], isReturn, &symbol) != 0
      CallStack.printFrame(UInt(i), frames[i], known ? symbol : nil)
      if known, symbol.stripped != 0, let object = symbol.object { stripped.note(object) }
    }
    if depth == 0 { Diagnostics.warn("  (no frames: the stack was not walked)") }
  }

  /// "zonemalloc:   #3 0x5555555551a9 make_block+0x1c (program) at /src/program.c:42".
  private static func printFrame(_ index: UInt, _ address: UInt, _ symbol: zms_symbol?) {
    var line = LineBuffer()
    line.append("zonemalloc:   #")
    line.append(decimal: index)
    line.append(" ")
    line.append(hex: address)
    if let symbol, let object = symbol.object {
      line.append(" ")
      withUnsafeBytes(of: symbol.name) { name in
        if name[0] == 0 { line.append("?") }
        else { line.append(cString: name.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: CChar.self),
                           limit: name.count) }
      }
      line.append("+")
      line.append(hex: symbol.offset)
      line.append(" (")
      line.append(cString: baseName(object))
      line.append(")")
      if symbol.line != 0 {
        line.append(" at ")
        withUnsafeBytes(of: symbol.file) { file in
          line.append(cString: file.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: CChar.self),
                      limit: file.count)
        }
        line.append(":")
        line.append(decimal: UInt(symbol.line))
      }
    }
    line.writeLine()
  }

  /// The file name after the last "/".
  private static func baseName(_ path: UnsafePointer<CChar>) -> UnsafePointer<CChar> {
    var start = path
    var p = path
    while p.pointee != 0 {
      if p.pointee == 47 { start = p + 1 }
      p += 1
    }
    return start
  }
}
