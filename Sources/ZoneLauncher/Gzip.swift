// Gzip.swift: gzip, for the pprof file (zm has no dependencies).
//
// Owns: Gzip.wrap, a gzip member (RFC 1952) whose deflate stream (RFC 1951) is made of
// stored blocks, uncompressed, with its CRC-32 and length: every gzip reader takes it.

enum Gzip {
  private static let maxStoredBlock = 65_535

  /// The gzip file holding data.
  static func wrap(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff] // deflate, no flags, no time, unknown OS
    var start = 0
    repeat {
      let end = min(start + maxStoredBlock, data.count)
      let length = UInt16(end - start)
      out.append(end == data.count ? 1 : 0) // BFINAL, BTYPE 00: stored
      out += littleEndian(UInt32(length), bytes: 2) + littleEndian(UInt32(~length), bytes: 2)
      out += data[start..<end]
      start = end
    } while start < data.count
    out += littleEndian(crc32(data), bytes: 4) + littleEndian(UInt32(truncatingIfNeeded: data.count), bytes: 4)
    return out
  }

  private static func littleEndian(_ value: UInt32, bytes: Int) -> [UInt8] {
    (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
  }

  /// CRC-32 (ISO 3309, the reflected polynomial 0xEDB88320), as gzip and zlib compute it.
  static func crc32(_ data: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
    return ~crc
  }

  private static let table: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }
}
