// ProfCommand.swift: `zm prof`, the heap profiler's front end.
//
// Owns: the command line of `zm prof`, running the command with the profiler on (each
// process writes its profile into the scratch folder of a ProfSession at exit, without
// a line on stderr about it, ZONEMALLOC_PROF_QUIET; the session also owns the signals,
// the wait for processes that outlive the command and the cleanup), choosing the
// processes (--pid, --comm), and turning the profiles, less their base (--base), into
// the outputs (ProfFlameGraph, the collapsed stacks, ProfPprof) and the table on stdout
// (ProfTable), ranked by the view (--view). `--from FILE...` reads profiles written
// earlier (ZONEMALLOC_PROF=1, zm_prof_dump, the ZONEMALLOC_PROF_SIGNAL signal or
// ZONEMALLOC_PROF_INTERVAL) instead of running a command. --top N is checked: 1 to
// 10^9; --pid as a PID; --rate as the library reads ZONEMALLOC_PROF_RATE.
// Touches: Library, Preload, Size, ProfSession, Options, FileSystem, Console, the other
// Prof files.
#if canImport(Glibc)
import Glibc
#endif

enum ProfCommand {
  static let help = """
    usage: zm prof [options] [--] CMD [ARGS...]
           zm prof [options] --from PROFILE...
           zm prof --help

    Runs CMD with libzonemalloc.so preloaded and its sampled heap profiler on, then shows
    where the memory was allocated, process by process (a shell script's bash and the
    programs it runs each have their own section, named by command and pid):
      - a table of the top N allocation sites of each process on stdout (the function
        that called malloc, and its callers), with the bytes each allocated in all,
        held live when the process's heap was at its peak, and held live when the
        profile was written: for the profile written at exit, the sampled blocks never
        freed (the leaks: --view live), for one written on the signal or the interval,
        those live at that moment;
      - PREFIX.svg, a flame graph of those three figures, one root per process (open it
        in a browser; hover over a frame for its bytes);
      - PREFIX.total.collapsed, PREFIX.peak.collapsed and PREFIX.live.collapsed, the same
        stacks in the collapsed format of flamegraph.pl and speedscope
        ("python3 (pid 42);main;f;malloc_site BYTES");
      - with --pprof FILE, the profile for pprof (gzipped profile.proto): sample types
        alloc_space, peak_space, inuse_space (bytes) and alloc_samples, inuse_samples;
        `go tool pprof -top FILE` ranks the sites as the table does.
    Every process of CMD that loads the library writes a profile when it exits. When CMD
    leaves processes running (a daemon, a background job), zm prof waits for them and
    says so; ^C then stops the wait and keeps their folder, and zm names it. Bytes are
    estimates: the profiler samples one allocation per SIZE bytes allocated on average
    (a Poisson process over bytes, so each sample stands for its size divided by its
    chance of being sampled), and records its stack.

    options:
      --rate SIZE    mean bytes between samples (ZONEMALLOC_PROF_RATE; default 512K):
                     smaller is more precise and slower
      --out PREFIX   where the files go (default zm-prof: zm-prof.svg, ...)
      --top N        rows of the table per process (default 10; 1 to 1000000000)
      --view WHAT    what the table and pprof rank sites by: alloc (bytes allocated in
                     all, the default), peak (live at the peak) or live (live when the
                     profile was written: at exit, the leaks)
      --pid N        only the process N (may be given more than once)
      --comm NAME    only processes whose command name (/proc/PID/comm, at most 15
                     characters) is NAME (may be given more than once)
      --base OLD     show the change since the profile OLD (may be given more than
                     once): each process is compared with the base profile of the same
                     pid, or else of the same command name (the one with the most
                     samples); the table ranks sites by their growth
      --pprof FILE   also write the profile for pprof to FILE
      --from FILE    read profiles written earlier instead of running a command (last
                     option: every argument after it is a profile)
                     (ZONEMALLOC_PROF=1 writes zonemalloc.<pid>.prof at exit; a running
                     process with ZONEMALLOC_PROF_SIGNAL=USR2 writes one on kill -USR2,
                     with ZONEMALLOC_PROF_INTERVAL=60s one a minute)

    Frames are named with addr2line (binutils) from the object files named in the
    profile's copy of /proc/<pid>/maps: run zm prof on the machine that ran CMD, before
    its binaries change. zm prof exits with CMD's exit status.
    """

  struct Options {
    var rate: String?
    var out = "zm-prof"
    var top = 10
    var view = Metric.total
    var pids: Set<UInt64> = []
    var comms: Set<String> = []
    var base: [String] = []
    var pprof: String?
    var from: [String] = []
    var command: [String] = []
  }

  static func main(_ args: ArraySlice<String>) -> Int32 {
    let options = parse(args)
    let session = ProfSession()
    if !options.from.isEmpty {
      report(options.from, options, session, title: "zm prof: " + options.from.joined(separator: " "))
      return 0
    }
    let end = runProfiled(options, session)
    let files = session.profiles
    session.checkpoint()
    if files.isEmpty {
      let how = end.status > 128 ? "was killed by signal \(end.status - 128)" : "exited with status \(end.status)"
      Console.error("prof: no heap profile was written (\(options.command[0]) \(how); "
                    + "a process writes its profile when it exits normally)")
    } else {
      report(files, options, session, title: "zm prof: " + options.command.joined(separator: " "))
    }
    return end.status
  }

  private static func parse(_ args: ArraySlice<String>) -> Options {
    let parser = OptionParser(usage: help, accepted: ["--rate": .value, "--out": .value, "--top": .value,
                                                      "--view": .value, "--pid": .value, "--comm": .value,
                                                      "--base": .value, "--pprof": .value, "--from": .optionalValue])
    let (given, operands) = parser.parse(args)
    var options = Options()
    var fromGiven = false
    for option in given {
      let value = option.value ?? ""
      switch option.name {
      case "--rate":
        switch Size.parse(value) {
        case .success(let bytes) where bytes > 0: options.rate = value
        case .success: Console.fail("bad --rate 0: expected a size of at least 1 byte", status: 2)
        case .failure(let error): Console.fail("bad --rate \(value.printable): \(error.reason)", status: 2)
        }
      case "--out": options.out = value
      case "--top": options.top = Argument.integer(value, in: 1...1_000_000_000, what: "--top")
      case "--view": options.view = view(value)
      case "--pid": options.pids.insert(UInt64(Argument.pid(value)))
      case "--comm": options.comms.insert(value)
      case "--base": options.base.append(value)
      case "--pprof": options.pprof = value
      default: // --from
        fromGiven = true
        if let file = option.value { options.from.append(file) }
      }
    }
    if fromGiven {
      options.from += operands
      if options.from.isEmpty { Console.usageError("--from needs a PROFILE", usage: help) }
    } else {
      options.command = Array(operands)
      if options.command.isEmpty { Console.usageError("prof needs a command", usage: help) }
    }
    return options
  }

  private static func view(_ text: String) -> Metric {
    switch text {
    case "alloc": return .total
    case "peak": return .peak
    case "live": return .live
    default: Console.fail("bad --view \(text.printable): expected alloc, peak or live", status: 2)
    }
  }

  /// Runs the command with the profiler on, and waits for it; how it ended.
  private static func runProfiled(_ options: Options, _ session: ProfSession) -> ChildProcess.End {
    let library = Library.locate()
    let existing = getenv("LD_PRELOAD").map { String(cString: $0) } ?? ""
    var changes: [String: String?] = [
      "LD_PRELOAD": Preload.value(library: library, existing: existing),
      "ZONEMALLOC_PROF": "1",
      "ZONEMALLOC_PROF_FILE": session.profilePattern,
      "ZONEMALLOC_PROF_QUIET": "1", // the files are zm's to read, and gone when it ends
    ]
    if let rate = options.rate { changes["ZONEMALLOC_PROF_RATE"] = rate }
    Preload.warnIfIgnored(options.command[0], library: library)
    for case let (name, value?) in changes { setenv(name, value, 1) }
    WarningMarker.set() // the settings' warnings once for the whole command, as zm run does
    return session.run(options.command, changes: [:])
  }

  /// Reads, symbolises and reports the profiles; ends zm at a checkpoint if a signal
  /// asks for it.
  private static func report(_ files: [String], _ options: Options, _ session: ProfSession, title: String) {
    let profiles = select(read(files), options)
    let base = read(options.base)
    let symbols = Symbolizer(scratch: session.scratch)
    symbols.load(profiles + base)
    session.checkpoint()
    if let warning = symbols.warning { Console.warn("prof: " + warning) }
    if let stripped = symbols.strippedWarning { Console.warn("prof: " + stripped) }
    let heap = HeapProfile(profiles, base: base, symbols)
    session.checkpoint()
    var outputs = [
      (options.out + ".svg", Array(FlameGraph(profile: heap, title: String(title.prefix(120))).svg().utf8)),
      (options.out + ".total.collapsed", Array(heap.collapsed(.total).utf8)),
      (options.out + ".peak.collapsed", Array(heap.collapsed(.peak).utf8)),
      (options.out + ".live.collapsed", Array(heap.collapsed(.live).utf8)),
    ]
    if let pprof = options.pprof { outputs.append((pprof, PprofFile.encode(heap, view: options.view))) }
    for (path, bytes) in outputs {
      do { try FileSystem.replace(path, with: bytes, mode: 0o644) } catch { Console.fail(error.message, status: 1) }
    }
    Console.out(summary(heap, options))
    Console.out(heap.table(top: options.top, by: options.view))
    Console.out("zm prof: wrote " + outputs.map(\.0).joined(separator: ", "))
  }

  private static func read(_ files: [String]) -> [RawProfile] {
    files.map { file in
      let (profile, problem) = RawProfile.read(file)
      guard let profile else { Console.fail(problem, status: 1) }
      return profile
    }
  }

  /// The profiles --pid and --comm keep; exits 1 naming the processes there are when
  /// they keep none.
  private static func select(_ profiles: [RawProfile], _ options: Options) -> [RawProfile] {
    let kept = profiles.filter {
      (options.pids.isEmpty || options.pids.contains($0.pid)) && (options.comms.isEmpty || options.comms.contains($0.comm))
    }
    if kept.isEmpty && !profiles.isEmpty {
      let there = profiles.map { "\($0.comm) (pid \($0.pid))" }.joined(separator: ", ")
      Console.fail("prof: no profile of the processes --pid and --comm name; there are: \(there)", status: 1)
    }
    return kept
  }

  private static func summary(_ heap: HeapProfile, _ options: Options) -> String {
    let count = heap.processes.count, samples = heap.samples
    let rate = heap.rate > 0 ? Size.readable(heap.rate) : "?"
    let sums = [Metric.total, .peak, .live].map { ProcessHeap.bytes(heap.sum($0), heap.isDiff) }
    return "zm prof: \(count) process\(count == 1 ? "" : "es"), "
      + (heap.isDiff ? "changes since the base: " : "\(samples) sample\(samples == 1 ? "" : "s") "
         + "(one per \(rate) allocated, on average)\(heap.dropped > 0 ? ", \(heap.dropped) dropped" : ""); ")
      + "\(sums[0]) allocated in all, \(sums[1]) live at the peak\(count == 1 ? "" : "s"), "
      + "\(sums[2]) live when written"
  }
}
