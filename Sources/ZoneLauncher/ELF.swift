// ELF.swift: the ELF headers zm reads before it preloads anything.
//
// Owns: reading, from a file's ELF header, its class (32/64-bit), byte order, type
// (executable or shared object) and machine; and, for a 64-bit little-endian file (what
// zm itself is), from its program headers whether it asks for a program interpreter
// (PT_INTERP: the dynamic loader, which is what honours LD_PRELOAD), and from its dynamic
// section its SONAME and whether it is marked a position-independent
// program (DF_1_PIE), which the dynamic loader refuses to preload; and its loadable
// segments, which `zm prof` needs to turn a file offset into an address; and, from its
// section headers, whether it still has a symbol table (is not stripped). Also the names
// of the common machines, for messages.
// Touches: FileSystem (reads at most a few KiB of the file, and the section headers).

struct ELFFile {
  private static let sharedObject: UInt16 = 3  // ET_DYN: a shared library, or a position-independent program

  let elfClass: UInt8    // 1: 32-bit, 2: 64-bit
  let byteOrder: UInt8   // 1: little-endian, 2: big-endian
  let type: UInt16
  let machine: UInt16
  /// nil when the program headers were not read (not a 64-bit little-endian file).
  let hasInterpreter: Bool?
  /// The dynamic section's entries by tag (the first of each); empty without one.
  private let dynamic: [UInt64: UInt64]
  /// The PT_LOAD segments (empty when the program headers were not read).
  let loadSegments: [Segment]
  /// The SONAME (from the string table the dynamic section names), nil without one.
  let soname: String?

  let path: String

  /// The headers of path; nil if it cannot be read or is not an ELF file.
  init?(path: String) {
    self.path = path
    guard let header = FileSystem.read(path, offset: 0, count: 64), header.count >= 20,
          header[0...3] == [0x7f, 0x45, 0x4c, 0x46] else { return nil }
    elfClass = header[4]
    byteOrder = header[5]
    type = UInt16(little: header, at: 16)
    machine = UInt16(little: header, at: 18)
    let segments = elfClass == 2 && byteOrder == 1 && header.count == 64
      ? ELFFile.segments(path, header) : nil
    hasInterpreter = segments.map { $0.contains { $0.type == 3 } }  // PT_INTERP
    dynamic = segments?.first { $0.type == 2 }.map { ELFFile.entries(path, $0) } ?? [:]  // PT_DYNAMIC
    let entries = dynamic
    let loads: [Segment] = segments?.filter { $0.type == 1 } ?? []  // PT_LOAD
    loadSegments = loads
    soname = entries[14].flatMap { name in  // DT_SONAME, an offset in DT_STRTAB
      entries[5].flatMap { ELFFile.string(path, at: UInt($0 &+ name), in: loads) }
    }
  }

  /// Whether the file has a .symtab section (SHT_SYMTAB); nil when its section headers
  /// cannot be read (not a 64-bit little-endian file, or an implausible table: at most
  /// 65,535 entries of 64 to 256 bytes are read).
  var hasSymbolTable: Bool? {
    guard elfClass == 2 && byteOrder == 1, let header = FileSystem.read(path, offset: 0, count: 64),
          header.count == 64 else { return nil }
    let offset = Int(clamping: UInt64(little: header, at: 40))  // e_shoff
    let entrySize = Int(UInt16(little: header, at: 58))        // e_shentsize
    let count = Int(UInt16(little: header, at: 60))            // e_shnum
    if offset == 0 || count == 0 { return false }              // no section headers at all
    guard entrySize >= 64 && entrySize <= 256,
          let table = FileSystem.read(path, offset: offset, count: entrySize * count),
          table.count == entrySize * count else { return nil }
    return (0..<count).contains { UInt32(little: table, at: $0 * entrySize + 4) == 2 }  // sh_type
  }

  /// A shared object with a SONAME: a library, even when it can also be run (ld.so).
  var hasSoname: Bool { dynamic[14] != nil }  // DT_SONAME

  /// A shared object that the dynamic loader can load as a library (not a PIE program).
  var isLoadableLibrary: Bool {
    type == ELFFile.sharedObject && (dynamic[0x6fff_fffb] ?? 0) & 0x0800_0000 == 0  // DT_FLAGS_1, DF_1_PIE
  }

  /// Whether this file runs on the same machine as `other` (class, byte order, machine).
  func sameMachine(as other: ELFFile) -> Bool {
    elfClass == other.elfClass && byteOrder == other.byteOrder && machine == other.machine
  }

  /// "x86-64", "aarch64", ... or "machine N", with the class when it is 32-bit.
  var machineName: String {
    let names: [UInt16: String] = [3: "i386", 40: "arm", 62: "x86-64", 183: "aarch64", 243: "riscv"]
    return (names[machine] ?? "machine \(machine)") + (elfClass == 1 ? " (32-bit)" : "")
  }

  /// A program header: its type, where it is in the file, its address, and its size in
  /// the file.
  struct Segment {
    let type: UInt32
    let offset: Int
    let address: UInt
    let size: Int
  }

  private static func segments(_ path: String, _ header: [UInt8]) -> [Segment]? {
    let offset = Int(clamping: UInt64(little: header, at: 32))
    let entrySize = Int(UInt16(little: header, at: 54))
    let count = Int(UInt16(little: header, at: 56))
    guard entrySize >= 56, count <= 512,
          let table = FileSystem.read(path, offset: offset, count: entrySize * count),
          table.count == entrySize * count else { return nil }
    return (0..<count).map { i in
      let at = i * entrySize
      return Segment(type: UInt32(little: table, at: at), offset: Int(clamping: UInt64(little: table, at: at + 8)),
                     address: UInt(UInt64(little: table, at: at + 16)), size: Int(clamping: UInt64(little: table, at: at + 32)))
    }
  }

  /// The NUL-terminated string (at most 255 bytes) at a loaded address, nil when no
  /// segment holds it.
  private static func string(_ path: String, at address: UInt, in segments: [Segment]) -> String? {
    guard let segment = segments.first(where: { address >= $0.address && address - $0.address < UInt($0.size) }),
          case let (offset, overflow) = segment.offset.addingReportingOverflow(Int(clamping: address - segment.address)),
          !overflow, let bytes = FileSystem.read(path, offset: offset, count: 256),
          let end = bytes.firstIndex(of: 0) else { return nil }
    return String(decoding: bytes[..<end], as: UTF8.self)
  }

  /// The dynamic segment's (tag, value) entries, 16 bytes each, up to DT_NULL.
  private static func entries(_ path: String, _ segment: Segment) -> [UInt64: UInt64] {
    guard let bytes = FileSystem.read(path, offset: segment.offset, count: min(segment.size, 1 << 16)) else {
      return [:]
    }
    var entries: [UInt64: UInt64] = [:]
    for at in stride(from: 0, to: bytes.count - 15, by: 16) {
      let tag = UInt64(little: bytes, at: at)
      if tag == 0 { break }
      if entries[tag] == nil { entries[tag] = UInt64(little: bytes, at: at + 8) }
    }
    return entries
  }
}

extension FixedWidthInteger {
  /// The little-endian integer at `offset` in bytes.
  init(little bytes: [UInt8], at offset: Int) {
    var value: Self = 0
    for i in 0..<MemoryLayout<Self>.size { value |= Self(bytes[offset + i]) << (8 * i) }
    self = value
  }
}
