// ExtentBinsTests.swift: the lazy cache's size bins, directly (ExtentBins.swift).
import Testing

@Suite("the lazy cache's bins")
struct ExtentBinsTests {
  @Test func binsAreExactThenFourPerPowerOfTwoAndNeverShrink() {
    for units: UInt in 0..<ExtentBins.exactUnits { #expect(ExtentBins.bin(units: units) == Int(units)) }
    var previous = -1
    for units in stride(from: UInt(0), through: 1 << 20, by: 7) {
      let b = ExtentBins.bin(units: units)
      #expect(b >= previous && b < ExtentBins.count, "\(units) units -> bin \(b)")
      previous = b
    }
    #expect(ExtentBins.bin(units: 32) == 32 && ExtentBins.bin(units: 40) == 33 && ExtentBins.bin(units: 64) == 36)
    #expect(ExtentBins.bin(bytes: 1 << 40) < ExtentBins.count, "a terabyte still has a bin")
  }

  @Test func theBitmapFindsTheNextAndTheLastNonEmptyBin() {
    var bitmap = ExtentBins.Bitmap(repeating: 0)
    #expect(ExtentBins.first(in: bitmap, after: -1) == nil && ExtentBins.last(in: bitmap) == nil)
    for b in [0, 5, 63, 64, 127, 128, ExtentBins.count - 1] { ExtentBins.mark(&bitmap, b) }
    #expect(ExtentBins.first(in: bitmap, after: -1) == 0)
    #expect(ExtentBins.first(in: bitmap, after: 5) == 63 && ExtentBins.first(in: bitmap, after: 63) == 64)
    #expect(ExtentBins.first(in: bitmap, after: 64) == 127 && ExtentBins.first(in: bitmap, after: 128) == ExtentBins.count - 1)
    #expect(ExtentBins.first(in: bitmap, after: ExtentBins.count - 1) == nil)
    #expect(ExtentBins.last(in: bitmap) == ExtentBins.count - 1)
    ExtentBins.clear(&bitmap, ExtentBins.count - 1)
    ExtentBins.clear(&bitmap, 128)
    #expect(ExtentBins.last(in: bitmap) == 127 && ExtentBins.first(in: bitmap, after: 127) == nil)
  }
}
