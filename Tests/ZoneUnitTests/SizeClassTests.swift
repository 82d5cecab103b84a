// SizeClassTests.swift: the size classes, directly (SizeClass.swift).
import Testing

@Suite("size classes")
struct SizeClassTests {
  @Test func everySizeGetsTheSmallestClassThatHoldsIt() {
    for size in 0...SizeClass.limit {
      let c = SizeClass.index(for: size)
      #expect(c >= 0 && c < SizeClass.count, "size \(size) -> class \(c)")
      #expect(SizeClass.size(of: c) >= max(size, 1), "size \(size) -> class \(c) of \(SizeClass.size(of: c))")
      if c > 0 { #expect(SizeClass.size(of: c - 1) < size, "size \(size) fits class \(c - 1) already") }
    }
  }

  @Test func classesGrowBy16ThenByAnEighthOfEachPowerOfTwo() {
    #expect((0..<8).map { SizeClass.size(of: $0) } == [16, 32, 48, 64, 80, 96, 112, 128])
    #expect(SizeClass.size(of: 8) == 144 && SizeClass.size(of: 15) == 256)
    #expect(SizeClass.size(of: SizeClass.count - 1) == SizeClass.limit)
    for c in 1..<SizeClass.count {
      let (size, previous) = (SizeClass.size(of: c), SizeClass.size(of: c - 1))
      #expect(size % 16 == 0 && size > previous, "class \(c): \(size)")
      #expect(size - previous <= max(16, previous / 8) + 16, "class \(c) wastes too much: \(previous) -> \(size)")
    }
  }

  @Test func aSlabHoldsAtMostWhatTheRemoteWordCounts() {
    for c in 0..<SizeClass.count {
      let capacity = SizeClass.capacity(of: c)
      #expect(capacity >= 4 && capacity * SizeClass.size(of: c) <= Int(SlabGeometry.size))
      #expect(UInt(capacity) <= RemoteWord.field, "class \(c): \(capacity) chunks")
    }
  }

  @Test func theBucketTableCoversEverySizeUpToItsLimitOnce() {
    var owner = [Int](repeating: -1, count: Int(SizeClass.directLimit) / 16 + 1)
    for c in 0..<SizeClass.directClasses {
      for b in SizeClass.buckets(of: c) {
        #expect(owner[b] == -1, "bucket \(b) served by classes \(owner[b]) and \(c)")
        owner[b] = c
      }
    }
    #expect(!owner.contains(-1), "buckets without a class: \(owner.indices.filter { owner[$0] == -1 })")
    for size in 0...Int(SizeClass.directLimit) { #expect(owner[(size + 15) >> 4] == SizeClass.index(for: size)) }
  }

  @Test func alignedClassesHandOutAlignedChunks() {
    for alignment in [32, 64, 128, 256, 512, 1024, 4096] {
      for size in stride(from: 1, through: SizeClass.limit, by: 97) {
        guard let c = SizeClass.index(for: size, alignedTo: alignment) else { continue }
        #expect(SizeClass.size(of: c) % alignment == 0 && SizeClass.size(of: c) >= size)
      }
    }
    #expect(SizeClass.index(for: 100, alignedTo: 32768) == nil)
  }

  @Test func spansTakeOneToEightGranules() {
    #expect(SizeClass.granules(for: SizeClass.limit + 1) == 1)
    #expect(SizeClass.granules(for: SizeClass.mediumLimit) == SizeClass.maxGranules)
    for g in 1...SizeClass.maxGranules {
      let c = SizeClass.spanClass(granules: g)
      #expect(SizeClass.granules(of: c) == g && SizeClass.capacity(of: c) == 1)
      #expect(SizeClass.size(of: c) == g * Int(SlabGeometry.size))
    }
  }
}
