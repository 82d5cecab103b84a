// ProfReport.swift: the symbolised heap profile, one part per process, and the text
// `zm prof` writes.
//
// Owns: turning each raw profile (one per process of the command, or one per file given
// with --from) into a ProcessHeap, named by its command and pid, of stacks of function
// names; the difference from a base profile (--base); and two of the outputs:
//  - collapsed stacks, the format of flamegraph.pl and speedscope: one line per stack,
//    the process ("python3 (pid 42)") then its frames outermost first, joined by ";", a
//    space, then the bytes;
//  - the table of allocation sites, one section per process: the function that called
//    malloc (the innermost frame), with its two callers, its bytes allocated in all,
//    live at the peak and live when the profile was written (at exit: never freed, the
//    leaks), sorted by the figure the view names.
// Every byte figure is an estimate from the samples.

/// Which figure of a stack to show.
enum Metric: CaseIterable {
  case total   // bytes allocated over the whole run
  case peak    // bytes live when the live estimate peaked
  case live    // bytes live when the profile was written (at exit: never freed)
}

struct NamedStack {
  var frames: [SymbolFrame]   // outermost first
  var total: Int64 = 0
  var peak: Int64 = 0
  var live: Int64 = 0
  var samples: Int64 = 0
  var liveSamples: Int64 = 0

  func value(_ metric: Metric) -> Int64 {
    switch metric {
    case .total: total
    case .peak: peak
    case .live: live
    }
  }

  mutating func add(_ other: NamedStack, times sign: Int64) {
    total += sign * other.total
    peak += sign * other.peak
    live += sign * other.live
    samples += sign * other.samples
    liveSamples += sign * other.liveSamples
  }
}

/// The stacks of one profile: one process, at one moment.
struct ProcessHeap {
  let pid: UInt64
  let comm: String
  let reason: String
  var stacks: [NamedStack] = []
  var rate: UInt64
  var dropped: UInt64
  /// The base this one is the difference from (--base), if any ("": none matched).
  var base: String?

  var name: String { "\(comm) (pid \(pid))" }
  /// What the live figure is: at exit, the blocks never freed.
  var liveLabel: String { reason == "exit" ? "live at exit" : "live now" }
  var samples: Int64 { stacks.reduce(0) { $0 + $1.samples } }

  init(_ profile: RawProfile, _ symbols: Symbolizer) {
    pid = profile.pid
    comm = profile.comm
    reason = profile.reason
    rate = profile.header["rate"] ?? 0
    dropped = profile.header["dropped_samples"] ?? 0
    var index: [[SymbolFrame]: Int] = [:]
    for raw in profile.stacks {
      var frames = raw.frames.reversed().flatMap { symbols.frames($0, profile).reversed() }
      if frames.isEmpty { frames = [SymbolFrame(name: "[no stack]", location: "")] }
      let stack = NamedStack(frames: frames, total: Int64(raw.totalBytes), peak: Int64(raw.peakBytes),
                             live: Int64(raw.liveBytes), samples: Int64(raw.totalSamples),
                             liveSamples: Int64(raw.liveSamples))
      merge(stack, times: 1, &index)
    }
  }

  /// This profile less the base's figures, stack by stack.
  func subtracting(_ old: ProcessHeap) -> ProcessHeap {
    var diff = self
    var index = Dictionary(uniqueKeysWithValues: stacks.enumerated().map { ($1.frames, $0) })
    for stack in old.stacks { diff.merge(stack, times: -1, &index) }
    diff.base = old.name + (old.reason == "exit" ? "" : " (\(old.reason) dump)")
    return diff
  }

  private mutating func merge(_ stack: NamedStack, times sign: Int64, _ index: inout [[SymbolFrame]: Int]) {
    let i = index[stack.frames] ?? {
      stacks.append(NamedStack(frames: stack.frames))
      index[stack.frames] = stacks.count - 1
      return stacks.count - 1
    }()
    stacks[i].add(stack, times: sign)
  }

  func sum(_ metric: Metric) -> Int64 { stacks.reduce(0) { $0 + $1.value(metric) } }

  /// One site of the table: the innermost frame, and what its stacks add up to.
  struct Site {
    let frame: SymbolFrame
    var figures = NamedStack(frames: [])
    var callers: [String: Int64] = [:]

    /// Its commonest callers, innermost first: " < f < g", or "".
    var from: String {
      callers.max { $0.value < $1.value || $0.value == $1.value && $0.key > $1.key }
        .map { $0.key.isEmpty ? "" : " < " + $0.key } ?? ""
    }
  }

  /// The sites, largest first by the metric; those whose figure is 0 are left out.
  func sites(by metric: Metric) -> [Site] {
    var sites: [SymbolFrame: Site] = [:]
    for stack in stacks {
      let leaf = stack.frames.last!
      let callers = stack.frames.dropLast().suffix(2).reversed().map(\.name).joined(separator: " < ")
      sites[leaf, default: Site(frame: leaf)].figures.add(stack, times: 1)
      sites[leaf, default: Site(frame: leaf)].callers[callers, default: 0] += stack.value(metric)
    }
    let order: [Metric] = [metric] + Metric.allCases.filter { $0 != metric }
    return sites.values.filter { $0.figures.value(metric) != 0 }.sorted { a, b in
      for m in order where a.figures.value(m) != b.figures.value(m) { return a.figures.value(m) > b.figures.value(m) }
      return a.frame.name < b.frame.name
    }
  }
}

struct HeapProfile {
  var processes: [ProcessHeap]
  /// The processes whose profile holds no sample ("bash (pid 42)").
  var unsampled: [String]
  /// True when the figures are differences from a base (--base).
  let isDiff: Bool

  /// The processes of the profiles, each less its base when bases are given: the base
  /// profile of the same pid, or else the one of the same command with the most samples.
  init(_ profiles: [RawProfile], base: [RawProfile], _ symbols: Symbolizer) {
    isDiff = !base.isEmpty
    let old = base.map { ProcessHeap($0, symbols) }
    unsampled = base.isEmpty ? profiles.filter(\.stacks.isEmpty).map { "\($0.comm) (pid \($0.pid))" } : []
    processes = profiles.filter { !$0.stacks.isEmpty || !base.isEmpty }.map { profile in
      let heap = ProcessHeap(profile, symbols)
      guard !old.isEmpty else { return heap }
      let match = old.first { $0.pid == heap.pid }
        ?? old.filter { $0.comm == heap.comm }.max { $0.samples < $1.samples }
      guard let match else { return heap.withoutBase() }
      return heap.subtracting(match)
    }
  }

  var samples: Int64 { processes.reduce(0) { $0 + $1.samples } }
  var rate: UInt64 { processes.map(\.rate).max() ?? 0 }
  var dropped: UInt64 { processes.reduce(0) { $0 + $1.dropped } }
  func sum(_ metric: Metric) -> Int64 { processes.reduce(0) { $0 + $1.sum(metric) } }

  /// The processes, largest first by the metric.
  func sorted(by metric: Metric) -> [ProcessHeap] {
    processes.sorted { $0.sum(metric) > $1.sum(metric) || $0.sum(metric) == $1.sum(metric) && $0.pid < $1.pid }
  }

  /// flamegraph.pl's input: "python3 (pid 42);main;f;g 1234" per stack whose figure is
  /// above 0 (in a difference: the growth).
  func collapsed(_ metric: Metric) -> String {
    processes.flatMap { process in
      process.stacks.filter { $0.value(metric) > 0 }.map {
        ([process.name] + $0.frames.map(\.name)).map(\.replacingSemicolons).joined(separator: ";") + " \($0.value(metric))"
      }
    }.sorted().joined(separator: "\n") + "\n"
  }
}

extension ProcessHeap {
  /// A process the base profiles do not have: all of it is growth.
  func withoutBase() -> ProcessHeap {
    var diff = self
    diff.base = ""
    return diff
  }
}

extension String {
  var replacingSemicolons: String { String(map { $0 == ";" ? ":" : $0 }) }
}
