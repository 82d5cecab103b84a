// ProfCommand.swift: `zm prof`, the heap profiler's front end.
//
// Owns: the command line of `zm prof`, running the command with the profiler on (each
// process writes its profile into the scratch folder of a ProfSession at exit, which
// also owns the signals, the wait for processes that outlive the command and the
// cleanup), and turning the profiles into the three outputs (ProfReport,
// ProfFlameGraph) and the table on stdout. `--from FILE...` reads profiles written
// earlier (ZONEMALLOC_PROF=1, zm_prof_dump, or the ZONEMALLOC_PROF_SIGNAL signal)
// instead of running a command. --top N is checked: 1 to 10^9; --rate as the library
// reads ZONEMALLOC_PROF_RATE.
// Touches: Library, Preload, Size, ProfSession, Options, FileSystem, Console, the other
// Prof files.
#if canImport(Glibc)
import Glibc
#endif

enum ProfCommand {
  static let help = """
    usage: zm prof [--rate SIZE] [--out PREFIX] [--top N] [--] CMD [ARGS...]
           zm prof [--out PREFIX] [--top N] --from PROFILE...
           zm prof --help

    Runs CMD with libzonemalloc.so preloaded and its sampled heap profiler on, then shows
    where the memory was allocated:
      - a table of the top N allocation sites on stdout (the function that called
        malloc, and its callers), by bytes allocated over the run, with the bytes each
        held live when the heap was at its peak;
      - PREFIX.svg, a flame graph of the bytes allocated and of the bytes live at the
        peak (open it in a browser; hover over a frame for its bytes);
      - PREFIX.total.collapsed and PREFIX.peak.collapsed, the same stacks in the
        collapsed format of flamegraph.pl and speedscope ("main;f;malloc_site BYTES").
    Every process of CMD that loads the library writes a profile when it exits; they are
    added together. When CMD leaves processes running (a daemon, a background job), zm
    prof waits for them and says so; ^C then stops the wait and keeps their folder, and
    zm names it. Bytes are estimates: the profiler samples one allocation per SIZE
    bytes allocated on average (a Poisson process over bytes, so each sample stands for
    its size divided by its chance of being sampled), and records its stack.

    options:
      --rate SIZE    mean bytes between samples (ZONEMALLOC_PROF_RATE; default 512K):
                     smaller is more precise and slower
      --out PREFIX   where the files go (default zm-prof: zm-prof.svg, ...)
      --top N        rows of the table (default 10; 1 to 1000000000)
      --from FILE    read profiles written earlier instead of running a command
                     (ZONEMALLOC_PROF=1 writes zonemalloc.<pid>.prof at exit; a running
                     process with ZONEMALLOC_PROF_SIGNAL=USR2 writes one on kill -USR2)

    Frames are named with addr2line (binutils) from the object files named in the
    profile's copy of /proc/<pid>/maps: run zm prof on the machine that ran CMD, before
    its binaries change. zm prof exits with CMD's exit status.
    """

  struct Options {
    var rate: String?
    var out = "zm-prof"
    var top = 10
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
                                                      "--from": .optionalValue])
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

  /// Runs the command with the profiler on, and waits for it; how it ended.
  private static func runProfiled(_ options: Options, _ session: ProfSession) -> ChildProcess.End {
    let library = Library.locate()
    let existing = getenv("LD_PRELOAD").map { String(cString: $0) } ?? ""
    var changes: [String: String?] = [
      "LD_PRELOAD": Preload.value(library: library, existing: existing),
      "ZONEMALLOC_PROF": "1",
      "ZONEMALLOC_PROF_FILE": session.profilePattern,
    ]
    if let rate = options.rate { changes["ZONEMALLOC_PROF_RATE"] = rate }
    Preload.warnIfIgnored(options.command[0], library: library)
    return session.run(options.command, changes: changes)
  }

  /// Reads, symbolises and reports the profiles; ends zm at a checkpoint if a signal
  /// asks for it.
  private static func report(_ files: [String], _ options: Options, _ session: ProfSession, title: String) {
    var profiles: [RawProfile] = []
    for file in files {
      let (profile, problem) = RawProfile.read(file)
      guard let profile else { Console.fail(problem, status: 1) }
      profiles.append(profile)
    }
    let symbols = Symbolizer(scratch: session.scratch)
    symbols.load(profiles)
    session.checkpoint()
    if let warning = symbols.warning { Console.warn("prof: " + warning) }
    let heap = HeapProfile(profiles, symbols)
    session.checkpoint()
    let outputs = [
      (options.out + ".svg", FlameGraph(profile: heap, title: String(title.prefix(120))).svg()),
      (options.out + ".total.collapsed", heap.collapsed(.total)),
      (options.out + ".peak.collapsed", heap.collapsed(.peak)),
    ]
    for (path, text) in outputs {
      do { try FileSystem.replace(path, with: Array(text.utf8), mode: 0o644) } catch { Console.fail(error.message, status: 1) }
    }
    let rate = heap.rate > 0 ? Size.readable(heap.rate) : "?"
    Console.out("zm prof: \(heap.processes) process\(heap.processes == 1 ? "" : "es"), \(heap.samples) samples "
          + "(one per \(rate) allocated, on average)\(heap.dropped > 0 ? ", \(heap.dropped) dropped" : ""); "
          + "\(Size.readable(heap.sum(.total))) allocated in all, \(Size.readable(heap.sum(.peak))) live at the peak")
    Console.out(heap.topTable(options.top))
    Console.out("zm prof: wrote " + outputs.map(\.0).joined(separator: ", "))
  }
}
