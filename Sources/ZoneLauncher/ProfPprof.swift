// ProfPprof.swift: the heap profile as pprof reads it (`zm prof --pprof FILE`).
//
// Owns: the profile.proto message (github.com/google/pprof, proto/profile.proto),
// gzipped, built from the symbolised profile:
//  - five sample types, per stack: alloc_samples (count) and alloc_space (bytes), the
//    samples taken and bytes allocated in all; inuse_samples and inuse_space, those live
//    when the profile was written (at exit: never freed); peak_space, the bytes live at
//    the peak. The default is the view's (alloc_space, peak_space or inuse_space), so
//    `go tool pprof -top FILE` ranks the sites as zm prof's table does. Against a base,
//    the values are the changes, negative for what shrank;
//  - one location per frame zm names (an inlined call is a location of its own), with
//    one line of a function named as zm names it, with its file and line; the outermost
//    location of every sample is its process, "python3 (pid 42)", so that pprof's tree
//    and flame graph have one root per process; each sample also carries the labels
//    pid (a number) and comm;
//  - one mapping, "zm prof", that says every location has its functions, files, lines
//    and inlined frames already (pprof then symbolises nothing);
//  - period: one sample per `rate` bytes (space, bytes).
// Touches: HeapProfile, ProtoWriter, Gzip.

struct PprofFile {
  static let sampleTypes: [(String, String)] = [
    ("alloc_samples", "count"), ("alloc_space", "bytes"), ("inuse_samples", "count"), ("inuse_space", "bytes"),
    ("peak_space", "bytes"),
  ]

  private var strings: [String] = [""]
  private var stringIndex: [String: Int64] = ["": 0]
  private var locations: [SymbolFrame: Int64] = [:]
  private var functions: [String: Int64] = [:]   // name + "\0" + file -> id
  private var body = ProtoWriter()
  private var locationMessages = ProtoWriter()
  private var functionMessages = ProtoWriter()

  /// The gzipped profile.
  static func encode(_ profile: HeapProfile, view: Metric) -> [UInt8] {
    var file = PprofFile()
    return Gzip.wrap(file.build(profile, view: view))
  }

  private mutating func build(_ profile: HeapProfile, view: Metric) -> [UInt8] {
    for (type, unit) in Self.sampleTypes {
      let t = string(type), u = string(unit)
      body.message(1) { $0.integer(1, t); $0.integer(2, u) }
    }
    let pidKey = string("pid"), commKey = string("comm")
    for process in profile.processes {
      let root = location(SymbolFrame(name: process.name, location: ""))
      let comm = string(process.comm)
      for stack in process.stacks {
        let values = [stack.samples, stack.total, stack.liveSamples, stack.live, stack.peak]
        guard values.contains(where: { $0 != 0 }) else { continue }
        let ids = stack.frames.reversed().map { location($0) } + [root]
        body.message(2) { sample in
          sample.packed(1, ids)
          sample.packed(2, values)
          sample.message(3) { $0.integer(1, pidKey); $0.integer(3, Int64(process.pid)) }
          sample.message(3) { $0.integer(1, commKey); $0.integer(2, comm) }
        }
      }
    }
    let mappingName = string("zm prof")
    body.message(3) { mapping in // one mapping that says every function is named already
      mapping.integer(1, 1)
      mapping.integer(5, mappingName)
      for field in 7...10 { mapping.integer(field, 1) } // has_functions, _filenames, _line_numbers, _inline_frames
    }
    let space = string("space"), bytes = string("bytes")
    let defaultType = string(view == .total ? "alloc_space" : view == .peak ? "peak_space" : "inuse_space")
    let comment = string("zm prof" + (profile.isDiff ? ": changes since the base profiles" : ""))
    var out = body
    out.append(encoded: locationMessages)
    out.append(encoded: functionMessages)
    for s in strings { out.string(6, s) }
    out.message(11) { $0.integer(1, space); $0.integer(2, bytes) }
    out.integer(12, Int64(profile.rate))
    out.packed(13, [comment])
    out.integer(14, defaultType)
    return out.bytes
  }

  private mutating func string(_ text: String) -> Int64 {
    if let i = stringIndex[text] { return i }
    strings.append(text)
    stringIndex[text] = Int64(strings.count - 1)
    return Int64(strings.count - 1)
  }

  /// The id of the frame's location (and of its function), entered on first use.
  private mutating func location(_ frame: SymbolFrame) -> Int64 {
    if let id = locations[frame] { return id }
    let id = Int64(locations.count + 1)
    locations[frame] = id
    let (file, line) = Self.split(frame.location)
    let function = self.function(frame.name, file)
    locationMessages.message(4) { loc in
      loc.integer(1, id)
      loc.integer(2, 1)
      loc.message(4) { $0.integer(1, function); $0.integer(2, line) }
    }
    return id
  }

  private mutating func function(_ name: String, _ file: String) -> Int64 {
    let key = name + "\0" + file
    if let id = functions[key] { return id }
    let id = Int64(functions.count + 1)
    functions[key] = id
    let n = string(name), f = string(file)
    functionMessages.message(5) { fn in
      fn.integer(1, id)
      fn.integer(2, n)
      fn.integer(3, n)
      fn.integer(4, f)
    }
    return id
  }

  /// "file.c:42" -> ("file.c", 42); a location without a line number keeps line 0.
  private static func split(_ location: String) -> (String, Int64) {
    guard let colon = location.lastIndex(of: ":"), let line = Int64(location[location.index(after: colon)...]) else {
      return (location, 0)
    }
    return (String(location[..<colon]), line)
  }
}
