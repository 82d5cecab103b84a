// ProtoWriter.swift: a protocol buffer encoder, for the pprof file (zm has no
// dependencies).
//
// Owns: the wire format profile.proto needs: varints, length-delimited fields (strings,
// bytes, nested messages) and packed repeated integers.

/// A protocol buffer message being encoded.
struct ProtoWriter {
  private(set) var bytes: [UInt8] = []

  private mutating func varint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      bytes.append(UInt8(v & 0x7f) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  private mutating func key(_ field: Int, wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

  /// An int64 or uint64 field (a negative value takes ten bytes, as int64's do); 0 is
  /// left out, the default.
  mutating func integer(_ field: Int, _ value: Int64) {
    guard value != 0 else { return }
    key(field, wireType: 0)
    varint(UInt64(bitPattern: value))
  }

  mutating func lengthDelimited(_ field: Int, _ payload: [UInt8]) {
    key(field, wireType: 2)
    varint(UInt64(payload.count))
    bytes += payload
  }

  /// A string field, written even when empty (a repeated string keeps its place).
  mutating func string(_ field: Int, _ text: String) { lengthDelimited(field, Array(text.utf8)) }

  mutating func message(_ field: Int, _ body: (inout ProtoWriter) -> Void) {
    var inner = ProtoWriter()
    body(&inner)
    lengthDelimited(field, inner.bytes)
  }

  /// Fields encoded by another writer, appended as they are.
  mutating func append(encoded other: ProtoWriter) { bytes += other.bytes }

  /// A packed repeated integer field; nothing when empty.
  mutating func packed(_ field: Int, _ values: [Int64]) {
    guard !values.isEmpty else { return }
    var inner = ProtoWriter()
    for v in values { inner.varint(UInt64(bitPattern: v)) }
    lengthDelimited(field, inner.bytes)
  }
}
