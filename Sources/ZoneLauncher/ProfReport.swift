// ProfReport.swift: the symbolised heap profile and the text `zm prof` writes.
//
// Owns: merging one or more raw profiles (one per process of the command) into stacks of
// function names, and two of the outputs:
//  - collapsed stacks, the format of flamegraph.pl and speedscope: one line per stack,
//    frames outermost first joined by ";", a space, then the bytes;
//  - the top-N table of allocation sites: the function that called malloc (the
//    innermost frame), with its two callers, by bytes allocated in all, with its live
//    bytes at the peak.
// Every byte figure is an estimate from the samples.

/// Which figure of a stack to show.
enum Metric {
  case total   // bytes allocated over the whole run
  case peak    // bytes live when the live estimate peaked
}

struct NamedStack {
  var frames: [SymbolFrame]   // outermost first
  var total: UInt64 = 0
  var peak: UInt64 = 0
  var samples: UInt64 = 0

  func value(_ metric: Metric) -> UInt64 { metric == .total ? total : peak }
}

struct HeapProfile {
  var stacks: [NamedStack] = []
  var processes = 0   // those that took samples
  var samples: UInt64 = 0
  var rate: UInt64 = 0
  var dropped: UInt64 = 0

  init(_ profiles: [RawProfile], _ symbols: Symbolizer) {
    var index: [[SymbolFrame]: Int] = [:]
    for profile in profiles where !profile.stacks.isEmpty {
      processes += 1
      rate = profile.header["rate"] ?? rate
      dropped += profile.header["dropped_samples"] ?? 0
      for raw in profile.stacks {
        var frames = raw.frames.reversed().flatMap { symbols.frames($0, profile).reversed() }
        if frames.isEmpty { frames = [SymbolFrame(name: "[no stack]", location: "")] }
        let i = index[frames] ?? {
          stacks.append(NamedStack(frames: frames))
          index[frames] = stacks.count - 1
          return stacks.count - 1
        }()
        stacks[i].total += raw.totalBytes
        stacks[i].peak += raw.peakBytes
        stacks[i].samples += raw.totalSamples
        samples += raw.totalSamples
      }
    }
  }

  func sum(_ metric: Metric) -> UInt64 { stacks.reduce(0) { $0 + $1.value(metric) } }

  /// flamegraph.pl's input: "main;f;g 1234" per stack with bytes.
  func collapsed(_ metric: Metric) -> String {
    stacks.filter { $0.value(metric) > 0 }
      .map { $0.frames.map { $0.name.replacingSemicolons }.joined(separator: ";") + " \($0.value(metric))" }
      .sorted().joined(separator: "\n") + "\n"
  }

  /// The sites (innermost functions) by bytes allocated, with their peak live bytes.
  func topTable(_ count: Int) -> String {
    struct Site { var total: UInt64 = 0; var peak: UInt64 = 0; var callers: [String: UInt64] = [:] }
    var sites: [SymbolFrame: Site] = [:]
    for stack in stacks {
      let leaf = stack.frames.last!
      let callers = stack.frames.dropLast().suffix(2).reversed().map(\.name).joined(separator: " < ")
      sites[leaf, default: Site()].total += stack.total
      sites[leaf, default: Site()].peak += stack.peak
      sites[leaf, default: Site()].callers[callers, default: 0] += stack.total
    }
    let total = max(sum(.total), 1), peak = max(sum(.peak), 1)
    var lines = ["      total       %   peak live       %  site"]
    for (frame, site) in sites.sorted(by: { $0.value.total > $1.value.total || $0.value.total == $1.value.total && $0.value.peak > $1.value.peak }).prefix(count) {
      let place = frame.location.isEmpty ? frame.name : "\(frame.name) (\(frame.location))"
      let from = site.callers.max { $0.value < $1.value }.map { $0.key.isEmpty ? "" : " < " + $0.key } ?? ""
      lines.append(Size.readable(site.total).leftPadded(11) + percent(site.total, total) + Size.readable(site.peak).leftPadded(12)
                   + percent(site.peak, peak) + "  " + place + from)
    }
    return lines.joined(separator: "\n")
  }

  private func percent(_ part: UInt64, _ whole: UInt64) -> String {
    let tenths = (part * 1000 + whole / 2) / whole
    return "\(tenths / 10).\(tenths % 10)%".leftPadded(8)
  }
}

extension String {
  var replacingSemicolons: String { String(map { $0 == ";" ? ":" : $0 }) }
}
