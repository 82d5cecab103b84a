// GlibcReports.swift: glibc's own ways of asking a malloc about itself, answered with
// zonemalloc's counters.
//
// Owns: mallinfo2, mallinfo (the same figures cut to int, as glibc does) and
// malloc_info's XML, in glibc 2.36's layout: one heap, the totals, the system and
// address-space figures. As in glibc, big blocks (glibc's mmapped chunks) count apart:
//   hblks, hblkhd / total type="mmap"        live big blocks and their bytes
//   arena / system current / aspace total   bytes held from the OS for slabs and spans
//   uordblks                                 bytes allocated in slabs and spans
//   fordblks                                 held for slabs and spans but not allocated
//   keepcost / total type="rest"             bytes cached for reuse (lazy cache and empty slabs)
// Touches: Stats.snapshot, BigBlocks' counters, the stream it is given (stdio: called
// with no allocator lock held).

import ZoneSupport
import Synchronization

enum GlibcReports {
  private struct Figures {
    var held: UInt = 0, allocated: UInt = 0, cached: UInt = 0, bigCount: UInt = 0, bigBytes: UInt = 0
  }

  private static func figures() -> Figures {
    var s = zm_stats_t()
    Stats.snapshot(&s, recentHugeShare: true)
    let bigBytes = BigBlocks.liveBytes.load(ordering: .relaxed)
    let held = UInt(s.mapped &- s.lazy_cached), allocated = UInt(s.allocated)
    return Figures(held: held > bigBytes ? held - bigBytes : 0, allocated: allocated > bigBytes ? allocated - bigBytes : 0,
                   cached: UInt(s.lazy_cached &+ s.slab_cached),
                   bigCount: BigBlocks.allocs.load(ordering: .relaxed) &- BigBlocks.frees.load(ordering: .relaxed),
                   bigBytes: bigBytes)
  }

  static func mallinfo2() -> ZoneSupport.mallinfo2 {
    let f = figures()
    var info = ZoneSupport.mallinfo2()
    info.arena = Int(f.held)
    info.hblks = Int(f.bigCount)
    info.hblkhd = Int(f.bigBytes)
    info.uordblks = Int(f.allocated)
    info.fordblks = Int(f.held > f.allocated ? f.held - f.allocated : 0)
    info.keepcost = Int(f.cached)
    return info
  }

  /// The int fields of the old mallinfo wrap as glibc's do past 2 GiB.
  static func mallinfo() -> ZoneSupport.mallinfo {
    let wide = mallinfo2()
    var info = ZoneSupport.mallinfo()
    info.arena = Int32(truncatingIfNeeded: wide.arena)
    info.hblks = Int32(truncatingIfNeeded: wide.hblks)
    info.hblkhd = Int32(truncatingIfNeeded: wide.hblkhd)
    info.uordblks = Int32(truncatingIfNeeded: wide.uordblks)
    info.fordblks = Int32(truncatingIfNeeded: wide.fordblks)
    info.keepcost = Int32(truncatingIfNeeded: wide.keepcost)
    return info
  }

  /// malloc_info(0, stream): 0, or -1 when the stream fails.
  static func writeXML(_ stream: UnsafeMutablePointer<FILE>?) -> Int32 {
    guard let stream else { return -1 }
    let f = figures()
    var ok = true
    func line(_ build: (inout LineBuffer) -> Void) {
      var buffer = LineBuffer()
      build(&buffer)
      ok = buffer.writeLine(to: stream) && ok
    }
    func total(_ type: StaticString, _ count: UInt, _ size: UInt) {
      line { $0.append("<total type=\""); $0.append(type); $0.append("\" count=\"")
             $0.append(decimal: count); $0.append("\" size=\""); $0.append(decimal: size); $0.append("\"/>") }
    }
    func figure(_ tag: StaticString, _ type: StaticString, _ size: UInt) {
      line { $0.append("<"); $0.append(tag); $0.append(" type=\""); $0.append(type); $0.append("\" size=\"")
             $0.append(decimal: size); $0.append("\"/>") }
    }
    func summary(mmap: Bool) {
      total("fast", 0, 0)
      total("rest", f.cached > 0 ? 1 : 0, f.cached)
      if mmap { total("mmap", f.bigCount, f.bigBytes) }
      figure("system", "current", f.held)
      figure("system", "max", f.held)
      figure("aspace", "total", f.held)
      figure("aspace", "mprotect", f.held)
    }
    line { $0.append("<malloc version=\"1\">") }
    line { $0.append("<heap nr=\"0\">") }
    line { $0.append("<sizes>") }
    line { $0.append("</sizes>") }
    summary(mmap: false)
    line { $0.append("</heap>") }
    summary(mmap: true)
    line { $0.append("</malloc>") }
    return ok ? 0 : -1
  }
}
