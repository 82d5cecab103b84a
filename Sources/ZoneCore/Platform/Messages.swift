// Messages.swift: text built without allocating.
//
// Owns: ByteSink, the one formatting abstraction of the core (text, decimal, hex and
// byte counts appended to a stack buffer, a path or a file being written), and
// LineBuffer, a line on the stack written with write(2) (FileWriter.writeAll).
// Touches: Console (the default destination of a line), Files.

import ZoneSupport

/// Somewhere text can be appended without allocating: a line for stderr (LineBuffer), a
/// path (PathBuffer), a file being written (FileWriter). The formatting lives here, once.
protocol ByteSink: ~Copyable {
  /// Appends one byte; bytes past the buffer's end are dropped.
  mutating func append(_ byte: UInt8)
}

extension ByteSink where Self: ~Copyable {
  mutating func append(_ text: StaticString) {
    let start = text.utf8Start
    for i in 0..<text.utf8CodeUnitCount { append(start[i]) }
  }

  /// Appends a NUL-terminated C string (at most `limit` bytes of it).
  mutating func append(cString: UnsafePointer<CChar>, limit: Int = 64) {
    var i = 0
    while i < limit, cString[i] != 0 {
      append(UInt8(bitPattern: cString[i]))
      i += 1
    }
  }

  mutating func append(decimal value: UInt) {
    if value >= 10 { append(decimal: value / 10) }
    append(UInt8(48 + value % 10))
  }

  mutating func append(hex value: UInt) {
    append("0x")
    var shift = 60
    while shift > 0, (value >> UInt(shift)) & 0xf == 0 { shift -= 4 }
    while shift >= 0 {
      let digit = UInt8((value >> UInt(shift)) & 0xf)
      append(digit < 10 ? 48 + digit : 87 + digit)
      shift -= 4
    }
  }

  /// A byte count with one decimal in the largest binary unit it reaches, rounded down:
  /// "57.6 MiB".
  mutating func append(bytes value: UInt) {
    var unit: StaticString = "KiB"
    var tenths = (value >> 10) * 10 + (value & 1023) * 10 / 1024
    if value >= 1 << 30 { unit = "GiB"; tenths = (value >> 20) * 10 / 1024 }
    else if value >= 1 << 20 { unit = "MiB"; tenths = (value >> 10) * 10 / 1024 }
    append(decimal: tenths / 10)
    append(".")
    append(decimal: tenths % 10)
    append(" ")
    append(unit)
  }
}

/// A fixed-size line buffer on the stack. Appending never allocates; text past the end is cut.
struct LineBuffer: ~Copyable, ByteSink {
  private var bytes = InlineArray<256, UInt8>(repeating: 0)
  private var count = 0
  private static let capacity = 256

  init() {}

  mutating func append(_ byte: UInt8) {
    guard count < LineBuffer.capacity else { return }
    bytes[count] = byte
    count += 1
  }

  /// Writes the buffer followed by a newline to fd (the console unless told). A line cut
  /// at the capacity loses its last byte to the newline.
  mutating func writeLine(to fd: Int32 = Console.fd) {
    count = min(count, LineBuffer.capacity - 1)
    append(10)
    flush(to: fd)
  }

  /// Writes the buffer followed by a newline to a stdio stream (the caller holds no
  /// allocator lock: stdio may allocate). False when the stream reports an error.
  mutating func writeLine(to stream: UnsafeMutablePointer<FILE>) -> Bool {
    count = min(count, LineBuffer.capacity - 1)
    append(10)
    let n = count
    return withUnsafeBytes(of: &bytes) { fwrite($0.baseAddress, 1, n, stream) == n }
  }

  /// Writes the buffer as it is (no newline added) to fd; nothing when fd is -1.
  mutating func flush(to fd: Int32) {
    guard fd >= 0 else { return }
    let n = count
    _ = withUnsafeBytes(of: &bytes) { FileWriter.writeAll(fd, $0.baseAddress!, n) }
  }
}
