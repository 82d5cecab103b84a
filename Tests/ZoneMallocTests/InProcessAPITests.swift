// InProcessAPITests.swift: the malloc family's contract (include/zonemalloc.h), checked
// in the test process through the zm_* functions of the dlopen'd library.
//
// These tests run concurrently with each other on the same allocator instance, so they
// assert nothing that another thread's allocations could make untrue (no counters, no
// "this freed address is no longer live"); those checks live in the linked C program
// (LinkedProgramTests.swift), which is single-threaded.
import Foundation
import Testing

@Suite("zm_* API in-process")
struct InProcessAPITests {
  let zm: ZM
  init() throws { zm = try ZM.load() }

  static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
  static let mib = 1 << 20

  /// True when p is non-nil, aligned to `alignment`, has a usable size of at least
  /// `size`, and holds a pattern written over its whole usable size.
  func usable(_ p: UnsafeMutableRawPointer?, size: Int, alignment: Int = 16, seed: Int = 1) -> Bool {
    guard let p else { return false }
    let usable = zm.usableSize(p)
    guard Int(bitPattern: p) % alignment == 0, usable >= size, usable <= Pattern.maxLength else { return false }
    Pattern.fill(p, count: usable, seed: seed)
    return Pattern.matches(p, count: usable, seed: seed)
  }

  /// Calls body with errno cleared (or set to `errnoBefore`), returning body's value and errno after.
  func withErrno<T>(_ errnoBefore: Int32 = 0, _ body: () -> T) -> (T, Int32) {
    errno = errnoBefore
    let value = body()
    return (value, errno)
  }

  @Test func mallocZeroGivesUniqueFreeablePointers() {
    let a = zm.malloc(0), b = zm.malloc(0)
    #expect(a != nil && b != nil)
    #expect(a != b)
    #expect(zm.owns(a) == 1 && zm.owns(b) == 1)
    zm.free(a)
    zm.free(b)
  }

  @Test func freeNullAndReallocNullBehaveLikeMalloc() {
    zm.free(nil)
    let p = zm.realloc(nil, 100)
    #expect(usable(p, size: 100))
    #expect(zm.owns(p) == 1)
    zm.free(p)
  }

  @Test func reallocToZeroReturnsNull() {
    let p = zm.malloc(100)
    #expect(p != nil)
    #expect(zm.realloc(p, 0) == nil)
  }

  @Test(arguments: [(1 << 33, 1 << 33), (sizeT(.max), 2), (2, sizeT(.max / 2 + 1)), (1 << 40, 1 << 30)])
  func callocOverflowFailsWithENOMEM(n: Int, size: Int) {
    let (p, err) = withErrno { zm.calloc(n, size) }
    #expect(p == nil)
    #expect(err == ENOMEM)
  }

  @Test(arguments: [1, 16, 24, 100, 1000, 4096, 50_000, 200_000, 2 << 20])
  func callocZeroesReusedBlocks(size: Int) throws {
    for round in 0..<4 {
      let dirty = try #require(zm.malloc(size))
      memset(dirty, 0xab, size)
      zm.free(dirty)
      let p = try #require(zm.calloc(1, size))
      #expect(Pattern.isZero(p, count: size), "calloc(\(size)) not zeroed in round \(round)")
      zm.free(p)
    }
  }

  @Test(arguments: [UInt.max / 2, UInt.max / 2 + 1, UInt.max - 4096, UInt.max].map(sizeT))
  func impossibleMallocFailsWithENOMEM(size: Int) {
    let (p, err) = withErrno { zm.malloc(size) }
    #expect(p == nil)
    #expect(err == ENOMEM)
  }

  @Test func reallocarrayOverflowKeepsTheOldBlock() throws {
    let p = try #require(zm.malloc(64))
    Pattern.fill(p, count: 64, seed: 7)
    let (q, err) = withErrno { zm.reallocarray(p, sizeT(.max / 2), 4) }
    #expect(q == nil)
    #expect(err == ENOMEM)
    #expect(Pattern.matches(p, count: 64, seed: 7), "old block changed by a failed reallocarray")
    let grown = zm.reallocarray(p, 10, 100)
    #expect(Pattern.matches(try #require(grown), count: 64, seed: 7))
    #expect(usable(grown, size: 1000))
    zm.free(grown)
  }

  @Test(arguments: [0, 1, 3, 4, 12, 24, 48, 100])
  func posixMemalignRejectsBadAlignment(alignment: Int) {
    var out: UnsafeMutableRawPointer? = nil
    let (rc, err) = withErrno(4242) { zm.posixMemalign(&out, alignment, 64) }
    #expect(rc == EINVAL)
    #expect(err == 4242, "posix_memalign must leave errno alone")
  }

  @Test(arguments: (3...20).map { 1 << $0 })
  func posixMemalignPowerOfTwo(alignment: Int) {
    for size in [1, alignment / 2 + 1, alignment, 3 * alignment + 5] {
      var out: UnsafeMutableRawPointer? = nil
      let (rc, err) = withErrno(4242) { zm.posixMemalign(&out, alignment, size) }
      #expect(rc == 0 && err == 4242, "posix_memalign(\(alignment), \(size)) = \(rc), errno \(err)")
      #expect(usable(out, size: size, alignment: alignment), "posix_memalign(\(alignment), \(size)) gave \(String(describing: out))")
      zm.free(out)
    }
  }

  @Test(arguments: [3, 24, 48, 1000])
  func alignedAllocRejectsNonPowerOfTwo(alignment: Int) {
    let (p, err) = withErrno { zm.alignedAlloc(alignment, 2 * alignment) }
    #expect(p == nil)
    #expect(err == EINVAL)
  }

  @Test func alignedAllocAndMemalignAlign() {
    for alignment in [16, 64, 256, 4096, 65536] {
      let a = zm.alignedAlloc(alignment, 3 * alignment)
      #expect(usable(a, size: 3 * alignment, alignment: alignment), "aligned_alloc(\(alignment))")
      zm.free(a)
      let m = zm.memalign(alignment, 200)
      #expect(usable(m, size: 200, alignment: alignment), "memalign(\(alignment))")
      zm.free(m)
    }
    let rounded = zm.memalign(24, 100)
    #expect(usable(rounded, size: 100, alignment: 32), "memalign(24) must round the alignment up to 32")
    zm.free(rounded)
  }

  @Test(arguments: [0, 1, 100, 4096, 4097, 100_000, (1 << 20) + 1])
  func vallocAndPvallocArePageAligned(size: Int) {
    let page = Self.pageSize
    let v = zm.valloc(size)
    #expect(usable(v, size: size, alignment: page), "valloc(\(size))")
    zm.free(v)
    let whole = size == 0 ? page : (size + page - 1) / page * page
    let pv = zm.pvalloc(size)
    #expect(usable(pv, size: whole, alignment: page), "pvalloc(\(size)) must give \(whole) usable bytes")
    zm.free(pv)
  }

  /// Every size 0...70000, then samples up to 8 MiB (+1); 32 blocks stay live at a time
  /// so overlapping blocks are caught when the batch is read back.
  @Test func everySizeIsAlignedAndFullyWritable() {
    var samples: [Int] = []
    var s = 70_001
    while s < 8 << 20 { samples += [s, s + 1]; s = s * 9 / 8 }
    let sizes = Array(0...70_000) + samples + [(8 << 20) - 1, 8 << 20, (8 << 20) + 1]
    var batch: [(p: UnsafeMutableRawPointer, usable: Int, seed: Int)] = []
    for (i, size) in sizes.enumerated() {
      guard let p = zm.malloc(size) else { Issue.record("malloc(\(size)) failed"); return }
      let usable = zm.usableSize(p)
      guard Int(bitPattern: p) % 16 == 0, usable >= size, usable <= Pattern.maxLength else {
        Issue.record("malloc(\(size)) = \(p), usable size \(usable)")
        return
      }
      Pattern.fill(p, count: usable, seed: i)
      batch.append((p, usable, i))
      guard batch.count == 32 || i == sizes.count - 1 else { continue }
      for block in batch {
        if !Pattern.matches(block.p, count: block.usable, seed: block.seed) {
          Issue.record("block \(block.p) (usable \(block.usable)) was overwritten")
          return
        }
        zm.free(block.p)
      }
      batch.removeAll(keepingCapacity: true)
    }
  }

  static let reallocSizes = [1, 8, 16, 24, 48, 64, 100, 128, 256, 500, 1024, 2000, 4096, 8000,
                             16384, 32768, 65536, 100_000, 262_144, 1 << 20, 4 << 20]

  @Test(arguments: reallocSizes)
  func reallocKeepsContents(from: Int) throws {
    for to in Self.reallocSizes {
      let p = try #require(zm.malloc(from))
      Pattern.fill(p, count: from, seed: from ^ to)
      let q = try #require(zm.realloc(p, to), "realloc \(from) -> \(to) failed")
      #expect(Pattern.matches(q, count: min(from, to), seed: from ^ to), "realloc \(from) -> \(to) lost contents")
      #expect(usable(q, size: to), "realloc \(from) -> \(to): block too small or misaligned")
      zm.free(q)
    }
  }

  @Test func mallocTrimKeepsLiveData() throws {
    var blocks: [(UnsafeMutableRawPointer, Int)] = []
    for i in 0..<256 {
      let size = 1000 * i + 1
      let p = try #require(zm.malloc(size))
      Pattern.fill(p, count: size, seed: i)
      blocks.append((p, size))
    }
    for i in stride(from: 0, to: 256, by: 2) { zm.free(blocks[i].0) }
    let rc = zm.mallocTrim(0)
    #expect(rc == 0 || rc == 1)
    for i in stride(from: 1, to: 256, by: 2) {
      #expect(Pattern.matches(blocks[i].0, count: blocks[i].1, seed: i), "block \(i) damaged by malloc_trim")
      zm.free(blocks[i].0)
    }
  }

  /// glibc's parameter numbers (from <malloc.h>, which Swift does not import):
  /// M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX, M_MXFAST.
  static let malloptParameters: [(Int32, Int32)] = [(-1, 1 << 20), (-3, 128 * 1024), (-8, 2), (1, 64)]

  @Test(arguments: malloptParameters)
  func malloptAcceptsGlibcParameters(param: Int32, value: Int32) {
    #expect(zm.mallopt(param, value) == 1)
  }

  @Test func ownsOnlyTheStartOfLiveBlocks() throws {
    let p = try #require(zm.malloc(64))
    #expect(zm.owns(p) == 1)
    #expect(zm.owns(p + 16) == 0, "interior pointer")
    #expect(zm.owns(nil) == 0)
    var local = 0
    withUnsafePointer(to: &local) { #expect(zm.owns($0) == 0, "stack address") }
    zm.free(p)
  }

  @Test func versionIsNonEmpty() throws {
    let version = String(cString: try #require(zm.version()))
    #expect(!version.isEmpty)
    #expect(version.split(separator: ".").count == 3, "version \(version) is not X.Y.Z")
  }
}
