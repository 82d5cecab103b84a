// ProfFile.swift: reading a heap profile written by libzonemalloc (ZONEMALLOC_PROF=1).
//
// Owns: the parser of the format documented in docs/DESIGN.md ("The heap profile
// file"): a header of `name value` lines (numbers, and the words `comm`, the process's
// command name, and `reason`, what wrote it: exit, request, signal or interval; the
// `library` address is not needed: the stacks start at the program's call into the
// allocator), one line per stack
// (`total_bytes total_samples live_bytes live_samples peak_bytes : addr addr ...`,
// innermost first), then `maps` and a copy of the process's /proc/self/maps.
#if canImport(Glibc)
import Glibc
#endif

/// One mapping of the profiled process.
struct Mapping {
  let start: UInt
  let end: UInt
  let offset: UInt
  let path: String
}

/// One stack of the profile and what its samples stand for (bytes are estimates).
struct RawStack {
  let totalBytes: UInt64
  let totalSamples: UInt64
  let liveBytes: UInt64
  let liveSamples: UInt64
  let peakBytes: UInt64
  /// Return addresses, innermost first, from the program's call into the allocator.
  let frames: [UInt]
}

struct RawProfile {
  let path: String
  var header: [String: UInt64] = [:]
  /// The command name (/proc/PID/comm), "?" when the profile does not say.
  var comm = "?"
  /// exit, request, signal or interval ("exit" when the profile does not say).
  var reason = "exit"
  var stacks: [RawStack] = []
  var mappings: [Mapping] = []

  var pid: UInt64 { header["pid"] ?? 0 }

  /// Parses the file; nil with a reason when it is not a zonemalloc heap profile.
  static func read(_ path: String) -> (RawProfile?, String) {
    guard let lines = FileSystem.lines(path) else { return (nil, "cannot read \(path)") }
    guard lines.first == "zonemalloc heap profile 1" else { return (nil, "\(path) is not a zonemalloc heap profile") }
    var profile = RawProfile(path: path)
    var inMaps = false
    for line in lines.dropFirst() where !line.isEmpty {
      if inMaps {
        if let m = mapping(line) { profile.mappings.append(m) }
      } else if line == "maps" {
        inMaps = true
      } else if line.first!.isNumber {
        guard let stack = stack(line) else { return (nil, "\(path): bad stack line: \(line.prefix(80))") }
        profile.stacks.append(stack)
      } else {
        let words = line.split(separator: " ")
        guard words.count == 2 else { continue }
        switch words[0] {
        case "comm": profile.comm = String(words[1])
        case "reason": profile.reason = String(words[1])
        default: if let value = UInt64(words[1]) { profile.header[String(words[0])] = value }
        }
      }
    }
    return (profile, "")
  }

  /// The mapping holding an address.
  func mapping(of address: UInt) -> Mapping? {
    mappings.first { address >= $0.start && address < $0.end }
  }

  private static func stack(_ line: Substring) -> RawStack? {
    let halves = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
    let counts = halves[0].split(separator: " ").compactMap { UInt64($0) }
    guard halves.count == 2, counts.count == 5 else { return nil }
    let frames = halves[1].split(separator: " ").compactMap(hex)
    return RawStack(totalBytes: counts[0], totalSamples: counts[1], liveBytes: counts[2],
                    liveSamples: counts[3], peakBytes: counts[4], frames: frames)
  }

  /// "start-end perms offset dev inode [path]"
  private static func mapping(_ line: Substring) -> Mapping? {
    let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
    guard fields.count >= 5 else { return nil }
    let range = fields[0].split(separator: "-")
    guard range.count == 2, let start = hex(range[0]), let end = hex(range[1]), let offset = hex(fields[2]) else {
      return nil
    }
    let path = fields.count == 6 ? String(fields[5].drop { $0 == " " }) : ""
    return Mapping(start: start, end: end, offset: offset, path: path)
  }

  static func hex(_ text: Substring) -> UInt? {
    UInt(text.hasPrefix("0x") ? text.dropFirst(2) : text, radix: 16)
  }
}
