// ProfSymbols.swift: names for the return addresses of heap profiles.
//
// Owns: turning a run-time address into a place in an object file, and that place into
// function names. The mapping that holds the address gives the file and its offset in
// the file; the file's ELF program headers turn the offset into the address addr2line
// expects (lld, for one, lays segments out with p_vaddr != p_offset). addr2line
// (binutils) then names every address of one object in one batch call: with -i an
// inlined call expands into the functions it was inlined from, and it falls back to
// the dynamic symbols of a stripped object. What it cannot name, or an address outside
// any file, becomes "object+0xoffset" or "[unknown]"; the objects without a symbol table
// (stripped) are named in one warning, since their dynamic symbols can name a frame wrongly.
// Touches: ELFFile (the segments), ChildProcess (addr2line), FileSystem.
#if canImport(Glibc)
import Glibc
#endif

/// A function name and, when known, its source location ("file.c:42").
struct SymbolFrame: Hashable {
  let name: String
  let location: String
}

final class Symbolizer {
  /// A folder for addr2line's output.
  private let scratch: String
  private var names: [String: [UInt: [SymbolFrame]]] = [:]   // object path -> address -> frames
  private var segments: [String: [(offset: UInt, vaddr: UInt, size: UInt)]] = [:]
  private(set) var warning: String?
  /// The objects of the profiles' stacks that have no symbol table, in one line.
  private(set) var strippedWarning: String?

  init(scratch: String) { self.scratch = scratch }

  /// Names every address of the profiles, one addr2line call per object and batch.
  func load(_ profiles: [RawProfile]) {
    var wanted: [String: Set<UInt>] = [:]
    for profile in profiles {
      for stack in profile.stacks {
        for address in stack.frames {
          if let (path, vaddr) = place(address, profile) { wanted[path, default: []].insert(vaddr) }
        }
      }
    }
    for (path, addresses) in wanted.sorted(by: { $0.key < $1.key }) {
      names[path] = addr2line(path, Array(addresses).sorted())
    }
    let stripped = wanted.keys.sorted().filter { ELFFile(path: $0)?.hasSymbolTable == false }
    if !stripped.isEmpty {
      strippedWarning = "no symbol table (stripped) in " + stripped.joined(separator: ", ")
        + ": their frames are named from their dynamic symbols, the nearest exported function,"
        + " which can be the wrong one (a debug-symbol package, or an unstripped build, names them)"
    }
  }

  /// The frames of one return address, innermost first (inlined functions expand).
  func frames(_ address: UInt, _ profile: RawProfile) -> [SymbolFrame] {
    guard let (path, vaddr) = place(address, profile) else {
      let object = profile.mapping(of: address)?.path ?? ""
      return [SymbolFrame(name: object.isEmpty ? "[unknown]" : object, location: "")]
    }
    if let known = names[path]?[vaddr], !known.isEmpty { return known }
    return [SymbolFrame(name: FileSystem.lastComponent(path) + "+0x" + String(vaddr, radix: 16), location: "")]
  }

  /// The object file and the address inside it of the instruction before a return
  /// address (the call), or nil when the address is not in a file.
  private func place(_ address: UInt, _ profile: RawProfile) -> (String, UInt)? {
    guard let m = profile.mapping(of: address), m.path.hasPrefix("/"), !m.path.hasSuffix("(deleted)") else { return nil }
    let fileOffset = address - 1 - m.start + m.offset
    let loads = segments[m.path] ?? loadSegments(m.path)
    guard let s = loads.first(where: { fileOffset >= $0.offset && fileOffset < $0.offset + $0.size }) else {
      return (m.path, fileOffset)
    }
    return (m.path, fileOffset - s.offset + s.vaddr)
  }

  /// PT_LOAD segments of the file: (file offset, address, size), from its ELF headers.
  private func loadSegments(_ path: String) -> [(offset: UInt, vaddr: UInt, size: UInt)] {
    let result = (ELFFile(path: path)?.loadSegments ?? []).map { (UInt($0.offset), $0.address, UInt($0.size)) }
    segments[path] = result
    return result
  }

  /// addr2line -a -f -C -i on a batch of addresses: address -> frames, innermost first.
  private func addr2line(_ path: String, _ addresses: [UInt]) -> [UInt: [SymbolFrame]] {
    var result: [UInt: [SymbolFrame]] = [:]
    let out = scratch + "/addr2line.out"
    for start in stride(from: 0, to: addresses.count, by: 2000) {
      let batch = addresses[start..<min(start + 2000, addresses.count)].map { "0x" + String($0, radix: 16) }
      let end = ChildProcess.run(["addr2line", "-a", "-f", "-C", "-i", "-e", path] + batch,
                                 changes: ["LD_PRELOAD": nil], stdoutPath: out)
      guard case .exited(0) = end, let lines = FileSystem.lines(out) else {
        warning = "addr2line (binutils) did not run: frames are named object+offset"
        return result
      }
      parse(lines, into: &result)
    }
    return result
  }

  /// Groups of "0xADDRESS", then pairs of "function" and "file:line" lines.
  private func parse(_ lines: [Substring], into result: inout [UInt: [SymbolFrame]]) {
    var current: UInt?
    var i = 0
    while i < lines.count {
      let line = lines[i]
      if line.hasPrefix("0x"), let address = RawProfile.hex(line) {
        current = address
        result[address] = []
        i += 1
        continue
      }
      // A function inlined into a copy of itself shows twice in a row: once is enough.
      if let address = current, line != "??", !line.isEmpty, result[address]!.last?.name != String(line) {
        let location = i + 1 < lines.count ? String(lines[i + 1]) : ""
        result[address]!.append(SymbolFrame(name: String(line), location: location.hasPrefix("??") ? "" : shortLocation(location)))
      }
      i += 2
    }
  }

  /// "/long/path/file.c:42 (discriminator 1)" -> "file.c:42"
  private func shortLocation(_ location: String) -> String {
    FileSystem.lastComponent(String(location.prefix { $0 != " " }))
  }
}
