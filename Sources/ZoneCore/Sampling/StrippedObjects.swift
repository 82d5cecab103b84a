// StrippedObjects.swift: the objects of a report's stacks whose files have no .symtab.
//
// Owns: a small set of their paths (the loader's strings, compared by address: one per
// loaded object), filled while a report prints its stacks (CallStack.print), and the
// warning that names each once at the report's end: their frames are named from the
// dynamic symbols alone, so static functions show as "?". Allocates nothing.
// Touches: nothing.

struct StrippedObjects: ~Copyable {
  static let capacity = 8
  private var paths = InlineArray<8, UInt>(repeating: 0)
  private var count = 0

  init() {}

  mutating func note(_ path: UnsafePointer<CChar>) {
    let key = UInt(bitPattern: path)
    for i in 0..<count where paths[i] == key { return }
    guard count < StrippedObjects.capacity else { return }
    paths[count] = key
    count += 1
  }

  /// "zonemalloc: <path> has no symbol table (stripped): its frames are named from its
  /// dynamic symbols only", one line per object noted.
  func warn() {
    for i in 0..<count {
      var line = LineBuffer()
      line.append("zonemalloc: ")
      line.append(cString: UnsafePointer<CChar>(bitPattern: paths[i]).unsafelyUnwrapped, limit: 160)
      line.append(" has no symbol table (stripped): its frames are named from its dynamic symbols only")
      line.writeLine()
    }
  }
}
