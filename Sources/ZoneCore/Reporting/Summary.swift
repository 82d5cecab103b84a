// Summary.swift: the statistics summary: its fields, its two formats, and where the
// summary at exit goes.
//
// Owns:
//  - the list of summary fields, every field of zm_stats_t in order (forEachField), which
//    the stats page publishes too (StatsPage.swift);
//  - the formats (ZONEMALLOC_STATS_FORMAT): text, a header naming the pid and the program
//    (comm, from prctl) and one "zonemalloc: <field> <value>" line per field; or json, one
//    object holding the pid, the program and every field. Both are written a line or a
//    field at a time from stack buffers;
//  - the exit summary's destination: the console (Console.swift: the stderr of load
//    time, never a file the program has since put on fd 2), or appended to the file
//    ZONEMALLOC_STATS names (%p is the pid; if it cannot be opened, the console gets a
//    warning and the summary). It is printed once per process, at exit or _exit
//    (Exports.c); when ZONEMALLOC_STATS_PID is set, only by that process. At exit the
//    counters are summed only if the zones lock can be had without blocking: a program
//    that leaves from a signal handler that interrupted the allocator gets one line
//    saying the summary was skipped instead.
// Touches: Stats.snapshot, Config's statistics settings, Console, PathBuffer
// (Files.swift), file descriptors (open, write and close at exit).

import ZoneSupport
import Synchronization

enum Summary {
  /// The pid of the process that printed the summary at exit (exit and _exit may both
  /// run in one process).
  private static let printedBy = Atomic<UInt>(0)

  /// The summary at exit, from the library destructor or _exit, once per process.
  static func printAtExit() {
    let pid = UInt(getpid())
    if Config.statsPid != 0 && pid != Config.statsPid { return }
    if printedBy.exchange(pid, ordering: .relaxed) == pid { return }
    var s = zm_stats_t()
    let complete = Stats.snapshot(&s, onExitPath: true)
    let console = Console.fd
    let file = Config.statsPath.map { openExpanded($0, warningOn: console) } ?? -1
    let fd = file >= 0 ? file : console
    if complete { write(s, to: fd) } else { writeSkipped(to: fd) }
    if file >= 0 { close(file) }
  }

  /// "zonemalloc: statistics for pid N skipped: ..." when the counters cannot be summed.
  private static func writeSkipped(to fd: Int32) {
    var line = LineBuffer()
    line.append("zonemalloc: statistics for pid ")
    line.append(decimal: UInt(getpid()))
    line.append(" skipped: the program left from inside the allocator (a signal handler)")
    line.writeLine(to: fd)
  }

  /// The summary in the configured format, on fd.
  static func write(to fd: Int32) {
    var s = zm_stats_t()
    Stats.snapshot(&s)
    write(s, to: fd)
  }

  private static func write(_ s: zm_stats_t, to fd: Int32) {
    if Config.statsJSON { writeJSON(s, to: fd) } else { writeText(s, to: fd) }
  }

  // MARK: - Fields

  /// Every field of zm_stats_t, in the header's order, and whether it counts bytes.
  /// (A Bool, not an enum: an enum's Hashable witnesses would link in Hasher.)
  static func forEachField(_ s: zm_stats_t, _ body: (_ name: StaticString, _ value: UInt64, _ isBytes: Bool) -> Void) {
    body("version", s.version, false)
    body("allocated", s.allocated, true)
    body("active", s.active, true)
    body("mapped", s.mapped, true)
    body("lazy_cached", s.lazy_cached, true)
    body("slab_cached", s.slab_cached, true)
    body("malloc_count", s.malloc_count, false)
    body("free_count", s.free_count, false)
    body("remote_frees", s.remote_frees, false)
    body("owner_signals", s.owner_signals, false)
    body("big_allocs", s.big_allocs, false)
    body("big_reuses", s.big_reuses, false)
    body("mmap_calls", s.mmap_calls, false)
    body("munmap_calls", s.munmap_calls, false)
    body("mremap_calls", s.mremap_calls, false)
    body("purges", s.purges, false)
    body("purge_max_step_ns", s.purge_max_step_ns, false)
    body("realloc_copied_bytes", s.realloc_copied_bytes, true)
    body("threads_live", s.threads_live, false)
    body("zones_created", s.zones_created, false)
    body("zone_teardowns", s.zone_teardowns, false)
    body("orphan_slabs", s.orphan_slabs, false)
    body("slabs_adopted", s.slabs_adopted, false)
    body("slabs_released", s.slabs_released, false)
    body("limit", s.limit, true)
    body("limit_reclaims", s.limit_reclaims, false)
    body("limit_refusals", s.limit_refusals, false)
    body("numa_nodes", s.numa_nodes, false)
    body("numa_enabled", s.numa_enabled, false)
    body("peak_allocated", s.peak_allocated, true)
    body("peak_mapped", s.peak_mapped, true)
    body("guarded_allocs", s.guarded_allocs, false)
    body("guarded_frees", s.guarded_frees, false)
    body("huge_bytes", s.huge_bytes, true)
    body("huge_share_permille", s.huge_share_permille, false)
    body("huge_splits", s.huge_splits, false)
  }

  // MARK: - Text

  /// "zonemalloc: statistics for pid N (comm)", then one line per field; byte counts
  /// also in readable units.
  private static func writeText(_ s: zm_stats_t, to fd: Int32) {
    var name: (UInt64, UInt64) = (0, 0)
    var header = LineBuffer()
    header.append("zonemalloc: statistics for pid ")
    header.append(decimal: UInt(getpid()))
    header.append(" (")
    withProgramName(&name) { header.append(cString: $0) }
    header.append(")")
    header.writeLine(to: fd)
    forEachField(s) { field, value, isBytes in
      var line = LineBuffer()
      line.append("zonemalloc: ")
      line.append(field)
      line.append(" ")
      line.append(decimal: UInt(value))
      if isBytes && value >= 1024 {
        line.append(" (")
        line.append(bytes: UInt(value))
        line.append(")")
      }
      line.writeLine(to: fd)
    }
  }

  // MARK: - JSON

  /// {"pid": N, "program": "comm", "version": 2, ...}: one write per field.
  private static func writeJSON(_ s: zm_stats_t, to fd: Int32) {
    var name: (UInt64, UInt64) = (0, 0)
    var head = LineBuffer()
    head.append("{\n  \"pid\": ")
    head.append(decimal: UInt(getpid()))
    head.append(",\n  \"program\": \"")
    withProgramName(&name) { appendJSONEscaped($0, to: &head) }
    head.append("\"")
    head.flush(to: fd)
    forEachField(s) { field, value, _ in
      var line = LineBuffer()
      line.append(",\n  \"")
      line.append(field)
      line.append("\": ")
      line.append(decimal: UInt(value))
      line.flush(to: fd)
    }
    var end = LineBuffer()
    end.append("\n}")
    end.writeLine(to: fd)
  }

  /// A JSON string's contents: bytes outside printable ASCII, quotes and backslashes as
  /// \u00XX, so the object is valid whatever the name holds.
  private static func appendJSONEscaped(_ text: UnsafePointer<CChar>, to line: inout LineBuffer) {
    var i = 0
    while text[i] != 0 {
      let byte = UInt8(bitPattern: text[i])
      if byte < 0x20 || byte > 0x7e || byte == 0x22 || byte == 0x5c {
        let hex: StaticString = "0123456789abcdef"
        line.append("\\u00")
        line.append(hex.utf8Start[Int(byte >> 4)])
        line.append(hex.utf8Start[Int(byte & 15)])
      } else {
        line.append(byte)
      }
      i += 1
    }
  }

  // MARK: - Destinations

  /// The program's name (comm) as a C string in `storage`, for the duration of body.
  private static func withProgramName(_ storage: inout (UInt64, UInt64),
                                      _ body: (UnsafePointer<CChar>) -> Void) {
    withUnsafeMutableBytes(of: &storage) { raw in
      let name = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
      zms_thread_name(name)
      body(name)
    }
  }

  /// Opens the file the template names for appending, every %p replaced by the pid; -1,
  /// after a warning on the console, when it cannot be opened.
  private static func openExpanded(_ template: UnsafePointer<CChar>, warningOn console: Int32) -> Int32 {
    var path = PathBuffer()
    path.append(expanding: template)
    let fd = path.overflowed ? -1 : path.withCString { zms_open_create($0, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
    if fd < 0 {
      var line = LineBuffer()
      line.append("zonemalloc: cannot open ZONEMALLOC_STATS=")
      line.append(cString: template)
      line.append("; the summary follows")
      line.writeLine(to: console)
    }
    return fd
  }
}
