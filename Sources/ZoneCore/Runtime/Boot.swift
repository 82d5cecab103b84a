// Boot.swift: initialisation, which may be asked for by the very first malloc of the
// process (the dynamic loader, libnuma's constructor), on any thread, at any time.
//
// Owns: the boot state machine and the library's constructor and destructor hooks.
//  - boot (lazy, on the first slow path): reads the configuration (and, for
//    ZONEMALLOC_LIMIT=auto, the cgroup's limit), draws the secrets, maps the
//    fork-detection page and the globals (and the heap profiler's tables when
//    ZONEMALLOC_PROF=1), creates the thread-exit key. It calls nothing that allocates, so
//    a malloc arriving during boot from the same thread cannot happen, and one from
//    another thread waits for it to finish.
//    Signals are blocked while it runs: a handler that allocated on the booting thread
//    would wait for the boot it interrupted.
//  - the constructor (ZoneExports calls it): notes the console (the stderr messages go
//    to, Console), sets up NUMA through libnuma (which is initialised by then), starts
//    the sampled features (the stack walker, the SIGSEGV handler, the profile signal:
//    Sampling.construct), and publishes the stats page.
//  - the destructor, which _exit and _Exit run too, possibly from a signal handler that
//    interrupted the allocator: writes the heap profile, prints the statistics summary
//    when ZONEMALLOC_STATS is on, and removes the stats page. Each step only tries the
//    lock it needs (Lock.lockOnExitPath) and says so when it has to skip; none blocks.
//    In a child that shares its parent's memory (vfork, clone with CLONE_VM: another pid,
//    but no fork to repair) it does nothing: every write would be the parent's.
// Touches: every subsystem's start-up values.

import ZoneSupport
import Synchronization

enum Boot {
  /// The boot's progress. A boot that fails (its mappings refused) leaves it not
  /// started: the next allocation tries again, keeping what the first attempt did.
  static let state = Atomic<UInt>(0)
  static let notStarted: UInt = 0, booting: UInt = 1, ready: UInt = 2
  /// The parts of boot that run once: settings, secrets, the fork word, the exit key.
  nonisolated(unsafe) private static var prepared = false
  nonisolated(unsafe) private static var keyCreated = false
  nonisolated(unsafe) static var constructed = false
  nonisolated(unsafe) static var cpus = 1
  /// The process the allocator's state belongs to: set at boot and by a fork child's
  /// repair. Another pid with no repair pending shares this process's memory.
  nonisolated(unsafe) static var pid: UInt = 0

  /// True once boot has finished.
  static var isReady: Bool { state.load(ordering: .acquiring) == ready }

  @inline(__always) static func ensure() -> Bool {
    state.load(ordering: .acquiring) == ready || start()
  }

  @inline(never) private static func start() -> Bool {
    if state.compareExchange(expected: notStarted, desired: booting, ordering: .acquiring).exchanged {
      var all = sigset_t(), saved = sigset_t()
      sigfillset(&all)
      pthread_sigmask(SIG_BLOCK, &all, &saved)
      let ok = boot()
      state.store(ok ? ready : notStarted, ordering: .releasing)
      pthread_sigmask(SIG_SETMASK, &saved, nil)
      return ok
    }
    while state.load(ordering: .acquiring) == booting {
      // A forked child whose booting thread was left behind boots again.
      if zms_needs_fork_repair() { zms_fork_repair() }
      sched_yield()
    }
    let now = state.load(ordering: .acquiring)
    return now == ready || (now == notStarted && start())
  }

  /// A child forked while another thread was booting boots again (nothing was handed out
  /// before boot finished, so nothing depends on the half-built state).
  static func afterForkInChild() {
    _ = state.compareExchange(expected: booting, desired: notStarted, ordering: .relaxed)
    pid = UInt(getpid())
  }

  /// True in a child that runs on its parent's memory (vfork): it must write nothing.
  static var isSharingParentMemory: Bool {
    !zms_needs_fork_repair() && UInt(getpid()) != pid
  }

  /// The fixed tables' literal lengths agree with the constants they stand for.
  private static func checkTables() {
    let agree = BucketTable(repeating: 0).count == Int(SizeClass.directLimit) / 16 + 1
      && WideTable(repeating: 0).count == SizeClass.limit >> Int(SizeClass.wideShift) + 1
      && ClassTable(repeating: 0).count == SizeClass.count
      && ChargeClassTable(repeating: 0).count == ChargeClass.count
      && DirtyLists(repeating: TailedList()).count == ChargeClass.count
      && CleanLists(repeating: 0).count == SizeClass.maxGranules
      && ExtentBins.Heads(repeating: 0).count == ExtentBins.count
      && ExtentBins.Bitmap(repeating: 0).count == ExtentBins.bitmapWords
    if !agree { Diagnostics.fatal("internal error: a table's length disagrees with its constant", 0) }
    if SlabGeometry.metadataBytes != UInt(zms_header_array_bytes()) {
      Diagnostics.fatal("internal error: ZMS_HEADER_ARRAY_BYTES disagrees with the header arrays", 0)
    }
    if slabAt(ThreadZone.sentinel).pointee.base == 0 {
      Diagnostics.fatal("internal error: the sentinel slab's base is not at ZMS_SENTINEL_BASE_WORD", 0)
    }
  }

  private static func boot() -> Bool {
    if MemoryLayout<Zone>.size > zms_empty_zone_bytes() {
      Diagnostics.fatal("internal error: zone record larger than the empty zone", UInt(MemoryLayout<Zone>.size))
    }
    checkTables()
    if !prepared { prepare() }
    guard Zones.setUp(), Depot.setUp(), Arena.setUp(), Orphans.setUp(), BigBlocks.setUp(), LazyUnmap.setUp()
    else { return false }
    Sampling.boot()
    if !keyCreated {
      guard pthread_key_create(&Zones.key, Zones.destructor) == 0 else { return false }
      keyCreated = true
    }
    return true
  }

  /// What boot does once, whatever becomes of its mappings.
  private static func prepare() {
    pid = UInt(getpid())
    cpus = max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
    Config.load(cpus: cpus)
    OS.setPageSize(forced: Config.testPageSize)
    HugePages.load(kernelPageSize: OS.systemPageSize)
    drawSecrets()
    zms_set_check_lock_order(Config.checkLocks)
    zms_background_reinit()
    zms_set_fork_repair(forkRepair)
    zms_fork_word_setup()
    _ = Limit.set(Config.limit)
    Retention.depotFloor = Config.depotSlabsPerCPU * UInt(cpus) * SlabGeometry.size
    Teardown.slots = min(cpus, Int(ZMS_MAX_TEARDOWN_SLOTS))
    Background.setPolicy()
    prepared = true
  }

  /// The secret behind every slab's link key and freed tag (SlabKeys), from getrandom
  /// (with a fallback that mixes an address and the clock if the kernel has none to give).
  private static func drawSecrets() {
    var word: UInt = 0
    let got = withUnsafeMutableBytes(of: &word) { getrandom($0.baseAddress, 8, UInt32(GRND_NONBLOCK)) }
    if got != 8 {
      word = SlabKeys.mix(OS.nowNanoseconds() ^ UInt(bitPattern: zms_empty_zone_address()))
    }
    SlabKeys.secret = word
  }

  /// The library constructor.
  static func construct() {
    guard ensure() else { return }
    Console.capture(keepingDuplicate: Config.printStats || Config.profile || Config.guardRate != 0)
    Numa.setUp()
    if Numa.enabled { Arena.applyNumaPolicyToExistingRegions() }
    // What dlopen of the stack walker keeps is the allocator's own, not the program's.
    Stats.countingAsInternal { Sampling.construct() }
    constructed = true
    StatsPage.publish()
  }

  /// The library destructor (process exit, and _exit).
  static func destruct() {
    guard state.load(ordering: .acquiring) == ready, !isSharingParentMemory else { return }
    if Profiler.enabled { ProfileDump.atExit() }
    if Config.printStats { Summary.printAtExit() }
    StatsPage.atExit()
  }
}

@c(zmcore_construct) public func zmcore_construct() { Boot.construct() }
@c(zmcore_destruct) public func zmcore_destruct() { Boot.destruct() }
