// RemoteWord.swift: the encoding of a slab's remote word, and what a push or a drain
// found in it.
//
// Owns: the word's fields and states (SlabState.swift says what each state means and
// does every transition). Pure: arithmetic on words, so the tests check it directly.

enum RemoteState {
  static let normal: UInt = 0
  static let notify: UInt = 1
  static let signalling: UInt = 2
  static let orphan: UInt = 3
  static let parked: UInt = 4
  static let reaping: UInt = 5
  static let mask: UInt = 7
}

/// The fields of the remote word, low to high: state (3 bits), the reaper's mark (1 bit),
/// the head chunk as its 16-byte index in the slab plus one (13 bits; 0: the stack is
/// empty), and how many chunks the stack holds (13 bits). A slab holds at most 4096
/// chunks. Nothing of the owner's own work is counted here: the owner's local frees,
/// its carving and its hand-outs never touch the word.
enum RemoteWord {
  /// The reaper saw the slab wholly free at its last tick (Reaper.swift). A push or a
  /// drain rebuilds the word without it.
  static let observed: UInt = 8
  static let headShift: UInt = 4
  static let countShift: UInt = 17
  static let field: UInt = (1 << 13) - 1

  @inline(__always) static func headIndex(_ word: UInt) -> UInt { (word >> headShift) & field }
  @inline(__always) static func count(_ word: UInt) -> UInt { (word >> countShift) & field }
  @inline(__always) static func state(_ word: UInt) -> UInt { word & RemoteState.mask }

  static func make(_ state: UInt, head: UInt = 0, count: UInt = 0) -> UInt {
    state | head << headShift | count << countShift
  }

  /// Chunks counted with no stack: the reaper returned them.
  @inline(__always) static func isReaped(_ word: UInt) -> Bool { headIndex(word) == 0 && count(word) != 0 }
  static func reaped(count: UInt) -> UInt { make(RemoteState.normal, count: count) }

  /// Every chunk of a slab of `capacity` sits on the stack (so all were carved, none is
  /// live, none on the owner's local list), and the owner holds the slab in its zone:
  /// the reaper may return it.
  static func isWhollyFree(_ word: UInt, capacity: UInt) -> Bool {
    state(word) == RemoteState.normal && headIndex(word) != 0 && count(word) == capacity
  }
}

/// What a remote push found, in a slab of `capacity` chunks, in which generation of
/// signals (SlabState.swift, SignalsInFlight).
struct RemotePush {
  let word: UInt
  let capacity: UInt
  let generation: UInt
  /// The owner asked to hear of the next remote free: the pusher must tell it.
  var mustSignal: Bool { RemoteWord.state(word) == RemoteState.notify }
  /// The push brought the slab's last chunk back: the reaper should watch it.
  var emptiedSlab: Bool { RemoteWord.count(word) + 1 == capacity && RemoteWord.state(word) == RemoteState.normal }
}

/// A remote list taken by the owner: its head chunk and length, or a reaped slab's count.
struct DetachedRemote {
  let head: UInt
  let count: UInt
  var reaped: Bool { head == 0 }
}
