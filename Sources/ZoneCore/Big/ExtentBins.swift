// ExtentBins.swift: the size bins of the lazy big-block cache, as arithmetic.
//
// Owns: which bin an extent of a given length files under (exact below 32 units of
// 4 KiB, then four bins per power of two, as a buddy-free segregated fit), and the
// bitmap that says which bins hold anything, with its searches: the first non-empty bin
// above a given one, and the last non-empty bin. Pure: it touches only the bitmap it is
// given, so the tests check it directly.

enum ExtentBins {
  /// Bins, and the bitmap's words (64 bins per word).
  static let count = 160
  static let bitmapWords = 3
  /// Bins count the length in 4 KiB units, whatever the page size.
  static let unitShift: UInt = 12
  /// Units below which every length has its own bin.
  static let exactUnits: UInt = 32

  typealias Bitmap = InlineArray<3, UInt>        // bitmapWords (Boot.checkTables)
  typealias Heads = InlineArray<160, UInt32>     // count

  /// The bin of a length in bytes.
  static func bin(bytes: UInt) -> Int { bin(units: bytes >> unitShift) }

  /// The bin of a length in 4 KiB units: exact below 32 units, then four bins per power of two.
  static func bin(units: UInt) -> Int {
    if units < exactUnits { return Int(units) }
    let b = 63 - units.leadingZeroBitCount
    return 32 + (b - 5) * 4 + Int((units >> UInt(b - 2)) & 3)
  }

  static func mark(_ bitmap: inout Bitmap, _ b: Int) { bitmap[b >> 6] |= 1 << UInt(b & 63) }
  static func clear(_ bitmap: inout Bitmap, _ b: Int) { bitmap[b >> 6] &= ~(1 << UInt(b & 63)) }

  /// The first non-empty bin above b, or nil.
  static func first(in bitmap: Bitmap, after b: Int) -> Int? {
    var word = (b + 1) >> 6
    var mask: UInt = (b + 1) & 63 == 0 ? UInt.max : ~((1 << UInt((b + 1) & 63)) - 1)
    while word < bitmapWords {
      let bits = bitmap[word] & mask
      if bits != 0 { return word * 64 + bits.trailingZeroBitCount }
      word += 1
      mask = UInt.max
    }
    return nil
  }

  /// The last non-empty bin, or nil.
  static func last(in bitmap: Bitmap) -> Int? {
    var word = bitmapWords - 1
    while word >= 0 {
      let bits = bitmap[word]
      if bits != 0 { return word * 64 + 63 - bits.leadingZeroBitCount }
      word -= 1
    }
    return nil
  }
}
