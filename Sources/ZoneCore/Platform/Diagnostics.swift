// Diagnostics.swift: warnings, and the fatal errors that end the process.
//
// Owns: the one-line warnings ("zonemalloc: <text>") and the abort paths for invalid
// frees, double frees and heap corruption, each naming the pointer.
// Touches: Messages (the line buffer), Console (where lines go).

import ZoneSupport

enum Diagnostics {
  /// "zonemalloc: <text>" on the console.
  static func warn(_ text: StaticString) {
    var line = LineBuffer()
    line.append("zonemalloc: ")
    line.append(text)
    line.writeLine()
  }

  /// Aborts with "zonemalloc: <what> 0x<address>". Never returns.
  static func fatal(_ what: StaticString, _ address: UInt) -> Never {
    fatal(what, "", address)
  }

  /// "zonemalloc: <function>(): invalid pointer 0x<address>", then abort.
  @inline(never) static func invalidPointer(_ function: StaticString, _ address: UInt) -> Never {
    fatal(function, "(): invalid pointer", address)
  }

  private static func fatal(_ first: StaticString, _ second: StaticString, _ address: UInt) -> Never {
    var line = LineBuffer()
    line.append("zonemalloc: ")
    line.append(first)
    line.append(second)
    line.append(" ")
    line.append(hex: address)
    line.writeLine()
    abort()
  }

  /// "zonemalloc: <text> <path>: <the error's text>", for a file that cannot be written.
  static func fileError(_ text: StaticString, _ path: UnsafePointer<CChar>, _ error: Int32) {
    var line = LineBuffer()
    line.append("zonemalloc: ")
    line.append(text)
    line.append(" ")
    line.append(cString: path, limit: 200)
    line.append(": ")
    line.append(cString: zms_error_text(error))
    line.writeLine()
  }

  @inline(never) static func doubleFree(_ address: UInt) -> Never {
    fatal("free(): double free of", address)
  }

  @inline(never) static func corruption(_ address: UInt) -> Never {
    fatal("heap corruption detected at", address)
  }
}
