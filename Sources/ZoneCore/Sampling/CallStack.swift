// CallStack.swift: a recorded call stack, and its printout.
//
// Owns: capturing the calling thread's id and return addresses (ZoneSupport's
// zms_backtrace, the stack walker the heap profiler uses too: it starts at the program's
// call into the allocator, and allocates nothing), and printing them one frame a line,
// symbolised where the loaded objects' dynamic symbols tell (function+offset and the
// object's file name, raw addresses otherwise). Printing takes no lock and allocates
// nothing (zms_symbolize, write(2), stack buffers), so the fault handler may print.
// Touches: nothing. The caller keeps its own allocations out of the sampler while it
// captures (Sampling.holdingOff).

import ZoneSupport

struct CallStack: ~Copyable {
  static let capacity = 32
  var thread: UInt
  var depth: UInt
  var frames: InlineArray<32, UInt>

  init() {
    thread = 0
    depth = 0
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

  /// "zonemalloc: <title> by thread <id>:", then a line per frame.
  func print(_ title: StaticString) {
    var line = LineBuffer()
    line.append("zonemalloc: ")
    line.append(title)
    line.append(" by thread ")
    line.append(decimal: thread)
    line.append(":")
    line.writeLine()
    for i in 0..<Int(depth) {
      var symbol = zms_symbol()
      let known = zms_symbolize(frames[i], &symbol) != 0
      CallStack.printFrame(UInt(i), frames[i], known ? symbol : nil)
    }
    if depth == 0 { Diagnostics.warn("  (no frames: the stack was not walked)") }
  }

  /// "zonemalloc:   #3 0x5555555551a9 make_block+0x1c (program)".
  private static func printFrame(_ index: UInt, _ address: UInt, _ symbol: zms_symbol?) {
    var line = LineBuffer()
    line.append("zonemalloc:   #")
    line.append(decimal: index)
    line.append(" ")
    line.append(hex: address)
    if let symbol, let object = symbol.object {
      line.append(" ")
      if let name = symbol.name { line.append(cString: name) } else { line.append("?") }
      line.append("+")
      line.append(hex: symbol.offset)
      line.append(" (")
      line.append(cString: baseName(object))
      line.append(")")
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
