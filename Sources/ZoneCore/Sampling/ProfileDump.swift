// ProfileDump.swift: writing the heap profile to a file.
//
// Owns: the profile's file format (docs/DESIGN.md, "The heap profile file"), its path
// (ZONEMALLOC_PROF_FILE, default zonemalloc.%p.prof, %p the pid), and the four times a
// profile is written (its `reason` line names which):
//  - at exit (the library destructor, _exit), to the path, with one line on the console
//    saying where (or why not; ZONEMALLOC_PROF_QUIET=1 leaves out the "where"). Its live
//    figures are the sampled blocks never freed: the leaks. The profile lock is only
//    tried there (Lock.lockOnExitPath): a program that leaves from a signal handler that
//    interrupted the profiler gets a line saying the profile was skipped, never a hang;
//  - on zm_prof_dump(path), to that path (NULL: the default one);
//  - on the signal ZONEMALLOC_PROF_SIGNAL, to the path plus ".1", ".2", ... The handler
//    is async-signal-safe: it takes the profile lock only with trylock and writes with
//    open/write/close from stack buffers. If the lock is busy it leaves the dump pending,
//    and the next thread to drop the lock (a sample, a free of a sampled block) or the
//    background thread's next round writes it;
//  - every ZONEMALLOC_PROF_INTERVAL, to the path plus the next of the same numbers: the
//    first of those threads to see the interval has passed writes it, holding no
//    allocator lock (an idle program without the background thread writes none until
//    it allocates again).
// Every dump's live figures are the sampled blocks live at that moment. The profile
// holds raw return addresses, the command name (/proc/self/comm) and a verbatim copy of
// /proc/self/maps: nothing is symbolised inside the process (`zm prof` does that).
// Touches: ProfileTables (read under the profile lock), Files, Config (the path, the
// interval), the signal disposition, Console and Diagnostics (its lines).

import ZoneSupport
import Synchronization

enum ProfileDump {
  /// A signal asked for a dump while the profile lock was busy.
  static let pending = Atomic<Bool>(false)
  /// Dumps written for the signal and the interval, numbering their files.
  private static let numberedDumps = Atomic<UInt>(0)
  /// When the next periodic dump is due (OS.nowMilliseconds); 0: never.
  private static let nextPeriodic = Atomic<UInt>(0)
  /// ZONEMALLOC_PROF_FILE (copied at boot by Config), or the default.
  private static var pattern: UnsafePointer<CChar> {
    Config.profileFile ?? UnsafeRawPointer(("zonemalloc.%p.prof" as StaticString).utf8Start)
      .assumingMemoryBound(to: CChar.self)
  }

  /// The library constructor: the signal's handler, and the first periodic dump's time.
  static func start() {
    if Config.profileInterval != 0 { nextPeriodic.store(OS.nowMilliseconds() + Config.profileInterval, ordering: .relaxed) }
    catchSignal()
  }

  private static func catchSignal() {
    guard Config.profileSignal != 0 else { return }
    if zms_catch_signal(Int32(Config.profileSignal), onSignal) != 0 {
      Diagnostics.warn("ZONEMALLOC_PROF_SIGNAL: the handler cannot be installed")
    }
  }

  // MARK: - The four triggers

  /// How a dump takes the profile lock (plain values: an enum's Hashable witnesses
  /// would link in Hasher, whose seed runs swift_once).
  struct Wait {
    let raw: UInt8
    static let block = Wait(raw: 0), tryOnce = Wait(raw: 1), exitPath = Wait(raw: 2)
  }

  /// What the `reason` line says.
  private static let atExitReason: StaticString = "exit", requestReason: StaticString = "request"
  private static let signalReason: StaticString = "signal", intervalReason: StaticString = "interval"

  /// At exit: the profile goes to the default path, and one line says where.
  static func atExit() {
    var path = PathBuffer()
    defaultPath(&path, suffix: 0)
    let error = path.withCString { write(to: $0, waiting: .exitPath, reason: atExitReason) }
    if error == EBUSY {
      Diagnostics.warn("heap profile skipped: the program left from inside the allocator (a signal handler)")
    } else if error != 0 {
      path.withCString { Diagnostics.fileError("cannot write the heap profile to", $0, error) }
    } else if !Config.profileQuiet {
      var line = LineBuffer()
      line.append("zonemalloc: heap profile written to ")
      path.withCString { line.append(cString: $0, limit: 200) }
      line.writeLine()
    }
  }

  /// zm_prof_dump(path): 0, or an errno value.
  static func onRequest(_ path: UnsafePointer<CChar>?) -> Int32 {
    guard Profiler.enabled else { return ENOTSUP }
    if let path { return write(to: path, waiting: .block, reason: requestReason) }
    var fallback = PathBuffer()
    defaultPath(&fallback, suffix: 0)
    return fallback.withCString { write(to: $0, waiting: .block, reason: requestReason) }
  }

  /// The signal's handler. In a forked child not yet repaired (Fork.swift) it takes no
  /// lock: the repair is not async-signal-safe, so the dump waits for the next thread
  /// that drops the profile lock.
  static let onSignal: @convention(c) (Int32) -> Void = { _ in
    let saved = zms_errno()
    if zms_needs_fork_repair() || !writeNumbered(waiting: .tryOnce, reason: signalReason) {
      pending.store(true, ordering: .relaxed)
    }
    zms_set_errno(saved)
  }

  /// Writes a dump a signal left pending, or the periodic one when it is due (called
  /// after the profile lock is dropped), when the caller holds no allocator lock: none is
  /// held across the file's writes.
  @inline(__always) static func servePending() {
    if _slowPath(pending.load(ordering: .relaxed)) && Lock.noneHeld && pending.exchange(false, ordering: .relaxed) {
      _ = writeNumbered(waiting: .block, reason: signalReason)
    }
    if _slowPath(Config.profileInterval != 0) { servePeriodic() }
  }

  /// The periodic dump, by the one thread that moves its due time on.
  private static func servePeriodic() {
    let due = nextPeriodic.load(ordering: .relaxed)
    let now = OS.nowMilliseconds()
    guard due != 0, now >= due, Lock.noneHeld,
          nextPeriodic.compareExchange(expected: due, desired: now + Config.profileInterval, ordering: .relaxed).exchanged
    else { return }
    _ = writeNumbered(waiting: .block, reason: intervalReason)
  }

  /// A dump to the path plus the next number. False when the lock was busy: nothing was
  /// written.
  private static func writeNumbered(waiting: Wait, reason: StaticString) -> Bool {
    var path = PathBuffer()
    defaultPath(&path, suffix: numberedDumps.load(ordering: .relaxed) + 1)
    let error = path.withCString { write(to: $0, waiting: waiting, reason: reason) }
    if error != EBUSY { numberedDumps.wrappingAdd(1, ordering: .relaxed) }
    return error != EBUSY
  }

  // MARK: - Writing

  /// Writes the profile to path: 0, EBUSY (the lock could not be had without blocking,
  /// and the caller may not block), or the errno of open or write.
  private static func write(to path: UnsafePointer<CChar>, waiting: Wait, reason: StaticString) -> Int32 {
    let comm = CommandName()
    switch waiting.raw {
    case Wait.block.raw: Lock.profile.lock()
    case Wait.tryOnce.raw: if !Lock.profile.tryLock() { return EBUSY }
    default: if !Lock.profile.lockOnExitPath() { return EBUSY }
    }
    let fd = zms_open_create(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else {
      let error = zms_errno()
      Lock.profile.unlock()
      return error
    }
    defer { close(fd) }
    var out = FileWriter(fd: fd)
    ProfileTables.settlePeak()
    writeHeader(&out, reason: reason, comm: comm)
    writeStacks(&out)
    Lock.profile.unlock()
    out.append("maps\n")
    let mapsCopied = out.copy(from: "/proc/self/maps")
    out.flush()
    return out.failed || !mapsCopied ? EIO : 0
  }

  private static func writeHeader(_ out: inout FileWriter, reason: StaticString, comm: borrowing CommandName) {
    let t = ProfileTables.totals.pointee
    out.append("zonemalloc heap profile 1\n")
    field(&out, "pid ", UInt(getpid()))
    out.append("comm ")
    comm.write(&out)
    out.append("\nreason ")
    out.append(reason)
    out.append("\n")
    field(&out, "time_ns ", OS.wallNanoseconds())
    field(&out, "rate ", Config.profileRate)
    out.append("library ")
    out.append(hex: UInt(zms_text_address()))
    out.append("\n")
    field(&out, "total_bytes ", t.totalBytes)
    field(&out, "total_samples ", t.totalSamples)
    field(&out, "live_bytes ", t.liveBytes)
    field(&out, "live_samples ", t.liveSamples)
    field(&out, "peak_bytes ", t.peakBytes)
    field(&out, "peak_snapshot_bytes ", t.peakCopied)
    field(&out, "dropped_samples ", t.droppedSamples)
    field(&out, "dropped_stacks ", t.droppedStacks)
    field(&out, "stacks ", t.stacks)
  }

  /// One line per stack: total_bytes total_samples live_bytes live_samples peak_bytes,
  /// a colon, then the return addresses, innermost first.
  private static func writeStacks(_ out: inout FileWriter) {
    var i: UInt = 0
    while i < ProfileTables.totals.pointee.stacks {
      let s = ProfileTables.stack(i)
      out.append(decimal: s.pointee.totalBytes)
      out.append(" ")
      out.append(decimal: s.pointee.totalSamples)
      out.append(" ")
      out.append(decimal: s.pointee.liveBytes)
      out.append(" ")
      out.append(decimal: s.pointee.liveSamples)
      out.append(" ")
      out.append(decimal: s.pointee.peakBytes)
      out.append(" :")
      let frames = ProfileTables.frames(of: s)
      for f in 0..<Int(s.pointee.depth) {
        out.append(" ")
        out.append(hex: frames[f])
      }
      out.append("\n")
      i += 1
    }
  }

  private static func field(_ out: inout FileWriter, _ name: StaticString, _ value: UInt) {
    out.append(name)
    out.append(decimal: value)
    out.append("\n")
  }

  /// The pattern with %p replaced by the pid, and ".suffix" after it when suffix > 0.
  private static func defaultPath(_ path: inout PathBuffer, suffix: UInt) {
    path.append(expanding: pattern)
    if suffix > 0 {
      path.append(".")
      path.append(decimal: suffix)
    }
  }
}

/// The process's command name (/proc/self/comm, at most 15 bytes), read before the
/// profile lock is taken; bytes outside printable ASCII, and spaces, become "?". Empty
/// when /proc cannot be read.
struct CommandName: ~Copyable {
  private var bytes = InlineArray<32, UInt8>(repeating: 0)
  private var count = 0

  init() {
    let fd = zms_open_readonly(UnsafeRawPointer(("/proc/self/comm" as StaticString).utf8Start)
      .assumingMemoryBound(to: CChar.self))
    guard fd >= 0 else { return }
    let n = withUnsafeMutableBytes(of: &bytes) { read(fd, $0.baseAddress, $0.count) }
    close(fd)
    count = max(n, 0)
    while count > 0 && bytes[count - 1] == 10 { count -= 1 }
  }

  func write(_ out: inout FileWriter) {
    for i in 0..<count { out.append(bytes[i] > 32 && bytes[i] < 127 ? bytes[i] : 63) }
  }
}
