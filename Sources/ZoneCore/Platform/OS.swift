// OS.swift: thin, typed wrappers over the memory system calls.
//
// Owns: the page size, every mmap/munmap/mremap/madvise/mprotect the allocator makes,
// and the counters of those calls. Touches: nothing else. Callers decide what to map;
// this file only talks to the kernel and counts.

import ZoneSupport
import Synchronization

enum OS {
  /// The system's page size (getauxval(AT_PAGESZ), set at boot): 4, 16 or 64 KiB on the
  /// machines Linux runs on. Nothing assumes 4 KiB; it is 4096 only until boot.
  nonisolated(unsafe) private(set) static var pageSize: UInt = 4096
  /// The largest page size the geometry supports: a slab is one 64 KiB page there.
  static let largestPageSize: UInt = 64 << 10

  /// Reads the page size, or takes `forced` when it is a larger power of two the
  /// geometry supports (a test runs 16 and 64 KiB pages on a 4 KiB kernel that way:
  /// every mapping and advice at a multiple of the kernel's pages is valid).
  static func setPageSize(forced: UInt) {
    let system = UInt(getauxval(UInt(AT_PAGESZ)))
    kernelPageSize = system == 0 ? 4096 : system
    let size = forced > kernelPageSize && forced <= largestPageSize && forced & (forced - 1) == 0 ? forced : kernelPageSize
    pageSize = size
  }

  /// The kernel's own page size: smaller than pageSize only when a test forced a larger
  /// one, and then every mapping is aligned to pageSize by hand (aligned below), as a
  /// kernel with those pages would align it.
  nonisolated(unsafe) private static var kernelPageSize: UInt = 4096

  /// size rounded up to whole pages (no overflow check).
  @inline(__always) static func pageRound(_ size: UInt) -> UInt { (size + pageSize - 1) & ~(pageSize - 1) }

  /// Zeroed read-write memory for `count` records of a type (the state a subsystem maps at
  /// boot: a Swift global with a non-constant initialiser would run swift_once on every
  /// access, so tables live behind a pointer set once), or nil.
  static func mapRecords<T: ~Copyable>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T>? {
    let bytes = pageRound(UInt(MemoryLayout<T>.stride * count))
    return map(bytes).map { UnsafeMutablePointer<T>(bitPattern: $0).unsafelyUnwrapped }
  }

  /// The same into `storage` unless it is mapped already (a boot that failed half-way is
  /// tried again, and keeps what it had). False when it cannot be mapped.
  static func mapRecords<T: ~Copyable>(into storage: inout UnsafeMutablePointer<T>?, count: Int = 1) -> Bool {
    if storage == nil { storage = mapRecords(T.self, count: count) }
    return storage != nil
  }

  static let mmapCalls = Atomic<UInt>(0)
  static let munmapCalls = Atomic<UInt>(0)
  static let mremapCalls = Atomic<UInt>(0)

  /// Fresh read-write anonymous memory, or nil.
  static func map(_ length: UInt) -> UInt? {
    aligned(length) { zms_mmap(nil, Int($0), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) }
  }

  /// A mapping made by `make` for `length` bytes, at a multiple of pageSize: when a test
  /// forced pages larger than the kernel's, one page more is mapped and the excess cut.
  private static func aligned(_ length: UInt, _ make: (UInt) -> UnsafeMutableRawPointer?) -> UInt? {
    mmapCalls.wrappingAdd(1, ordering: .relaxed)
    guard pageSize > kernelPageSize else { return make(length).map { UInt(bitPattern: $0) } }
    guard let raw = make(length + pageSize).map({ UInt(bitPattern: $0) }) else { return nil }
    let start = (raw + pageSize - 1) & ~(pageSize - 1)
    unmap(raw, start - raw)
    unmap(start + length, raw + pageSize - start)
    return start
  }

  /// The first `length` bytes of an open file, mapped shared and read-write, or nil.
  static func mapShared(_ fd: Int32, _ length: UInt) -> UInt? {
    mmapCalls.wrappingAdd(1, ordering: .relaxed)
    let p = mmap(nil, Int(length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
    return UInt(bitPattern: p)
  }

  /// Address space with no access and no commit charge, or nil.
  static func reserve(_ length: UInt) -> UInt? {
    aligned(length) { zms_mmap(nil, Int($0), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE) }
  }

  /// Address space as reserve() gives it, but at exactly `address`, or nil (or elsewhere,
  /// on a kernel that takes the address as a hint: the caller checks).
  static func reserve(_ length: UInt, at address: UInt) -> UInt? {
    mmapCalls.wrappingAdd(1, ordering: .relaxed)
    let p = zms_reserve_at(UnsafeMutableRawPointer(bitPattern: address), Int(length))
    return p.map { UInt(bitPattern: $0) }
  }

  @discardableResult
  static func unmap(_ address: UInt, _ length: UInt) -> Bool {
    guard length > 0 else { return true }
    munmapCalls.wrappingAdd(1, ordering: .relaxed)
    return munmap(UnsafeMutableRawPointer(bitPattern: address), Int(length)) == 0
  }

  /// Resizes a mapping, moving it (without copying) if it cannot grow in place.
  static func remap(_ address: UInt, from old: UInt, to new: UInt) -> UInt? {
    mremapCalls.wrappingAdd(1, ordering: .relaxed)
    let p = zms_mremap(UnsafeMutableRawPointer(bitPattern: address), Int(old), Int(new))
    return p.map { UInt(bitPattern: $0) }
  }

  /// Makes reserved address space readable and writable.
  static func commit(_ address: UInt, _ length: UInt) -> Bool {
    mprotect(UnsafeMutableRawPointer(bitPattern: address), Int(length), PROT_READ | PROT_WRITE) == 0
  }

  /// Makes mapped memory inaccessible: any access faults.
  static func revoke(_ address: UInt, _ length: UInt) -> Bool {
    mprotect(UnsafeMutableRawPointer(bitPattern: address), Int(length), PROT_NONE) == 0
  }

  /// Gives the pages back to the kernel; the range stays mapped and reads as zero.
  /// False when the kernel refused: the pages are still there, with what they held.
  @discardableResult
  static func discard(_ address: UInt, _ length: UInt) -> Bool {
    madvise(UnsafeMutableRawPointer(bitPattern: address), Int(length), MADV_DONTNEED) == 0
  }

  /// Asks for transparent huge pages over the range (MADV_HUGEPAGE), or for none
  /// (MADV_NOHUGEPAGE). A kernel without THP refuses; the range stays as it was.
  static func adviseHugePages(_ address: UInt, _ length: UInt, _ huge: Bool) {
    madvise(UnsafeMutableRawPointer(bitPattern: address), Int(length), huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)
  }

  /// Asks the kernel to back the range with huge pages now (MADV_COLLAPSE, Linux 6.1):
  /// it copies the small pages into fresh huge ones and fills the holes with zeros. A
  /// kernel without it refuses; the range stays as it was.
  static func collapseHugePages(_ address: UInt, _ length: UInt) {
    madvise(UnsafeMutableRawPointer(bitPattern: address), Int(length), madviseCollapse)
  }

  /// MADV_COLLAPSE (older C headers lack the name).
  private static let madviseCollapse: Int32 = 25

  /// How many of the `count` 4 KiB pages from address are resident (mincore into a
  /// stack vector of at most 512 entries; 0 when it fails).
  static func residentPages(_ address: UInt, count: Int) -> Int {
    var vector = InlineArray<512, UInt8>(repeating: 0)
    let n = min(count, 512)
    let ok = withUnsafeMutableBytes(of: &vector) {
      mincore(UnsafeMutableRawPointer(bitPattern: address), n * 4096, $0.baseAddress?.assumingMemoryBound(to: UInt8.self)) == 0
    }
    guard ok else { return 0 }
    var resident = 0
    for i in 0..<n where vector[i] & 1 != 0 { resident += 1 }
    return resident
  }

  /// The kernel's own page size (getauxval), whatever a test forced.
  static var systemPageSize: UInt { kernelPageSize }

  /// True when the page holding address is mapped (mincore answers ENOMEM otherwise).
  static func isMapped(_ address: UInt) -> Bool {
    var vector: UInt8 = 0
    let page = address & ~(pageSize - 1)
    return mincore(UnsafeMutableRawPointer(bitPattern: page), Int(pageSize), &vector) == 0
  }

  /// Monotonic milliseconds from the cheap coarse clock.
  static func nowMilliseconds() -> UInt {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    return UInt(ts.tv_sec) &* 1000 &+ UInt(ts.tv_nsec) / 1_000_000
  }

  /// Monotonic nanoseconds from the precise clock.
  static func nowNanoseconds() -> UInt {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt(ts.tv_sec) &* 1_000_000_000 &+ UInt(ts.tv_nsec)
  }

  /// Nanoseconds since the epoch (the wall clock).
  static func wallNanoseconds() -> UInt {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt(ts.tv_sec) &* 1_000_000_000 &+ UInt(ts.tv_nsec)
  }

  static func currentCPU() -> Int {
    let cpu = sched_getcpu()
    return cpu < 0 ? 0 : Int(cpu)
  }
}
