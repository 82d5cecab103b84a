// Lists.swift: intrusive lists, written once for every kind of node.
//
// Owns: doubly linked lists whose links live in the nodes themselves (slab headers, zone
// records, extent slots), known by a head word, or by a head and a tail with a count;
// and singly linked chains, for batches that pass from one owner to another. A node is
// a nonzero word (an address, or a slot number) and 0 ends a list, so a list costs no
// memory beyond its nodes and needs no allocation. Not thread-safe: each list names the
// lock (or the owner) that guards it.
// Touches: only the links its ListLinks type points it at.

/// Where a kind of node keeps its two links.
protocol ListLinks {
  associatedtype Node: FixedWidthInteger
  static func next(_ node: Node) -> UnsafeMutablePointer<Node>
  static func prev(_ node: Node) -> UnsafeMutablePointer<Node>
}

/// A doubly linked list known by its head word. Pushes go in front.
enum LinkedList<L: ListLinks> {
  static func push(_ head: inout L.Node, _ node: L.Node) {
    L.prev(node).pointee = 0
    L.next(node).pointee = head
    if head != 0 { L.prev(head).pointee = node }
    head = node
  }

  static func remove(_ head: inout L.Node, _ node: L.Node) {
    let next = L.next(node).pointee
    let prev = L.prev(node).pointee
    if prev != 0 { L.next(prev).pointee = next } else { head = next }
    if next != 0 { L.prev(next).pointee = prev }
    L.next(node).pointee = 0
    L.prev(node).pointee = 0
  }

  static func pop(_ head: inout L.Node) -> L.Node? {
    guard head != 0 else { return nil }
    let node = head
    remove(&head, node)
    return node
  }

  /// Appends at the tail of a list known by its head and its tail word.
  static func append(_ head: inout L.Node, _ tail: inout L.Node, _ node: L.Node) {
    L.next(node).pointee = 0
    L.prev(node).pointee = tail
    if tail == 0 { head = node } else { L.next(tail).pointee = node }
    tail = node
  }

  /// Removes a node from a list known by its head and its tail word.
  static func remove(_ head: inout L.Node, _ tail: inout L.Node, _ node: L.Node) {
    if tail == node { tail = L.prev(node).pointee }
    remove(&head, node)
  }

  static func pop(_ head: inout L.Node, _ tail: inout L.Node) -> L.Node? {
    guard head != 0 else { return nil }
    let node = head
    remove(&head, &tail, node)
    return node
  }

  /// Calls body for each node, front to back; body may not unlink the node it is given.
  static func forEach(_ head: L.Node, _ body: (L.Node) -> Void) {
    var node = head
    while node != 0 {
      let next = L.next(node).pointee
      body(node)
      node = next
    }
  }
}

/// A doubly linked list with its tail and length: newest at the head, oldest at the tail.
struct TailedList<L: ListLinks> {
  var head: L.Node = 0
  var tail: L.Node = 0
  var count: UInt = 0

  mutating func push(_ node: L.Node) {
    LinkedList<L>.push(&head, node)
    if tail == 0 { tail = node }
    count += 1
  }

  mutating func remove(_ node: L.Node) {
    LinkedList<L>.remove(&head, &tail, node)
    count -= 1
  }

  mutating func popHead() -> L.Node? {
    guard head != 0 else { return nil }
    let node = head
    remove(node)
    return node
  }
}

/// A singly linked chain through `next` alone, with its length: a batch handed from one
/// owner to another in one step.
struct Chain<L: ListLinks> {
  var head: L.Node = 0
  var count: UInt = 0

  mutating func append(_ node: L.Node) {
    L.next(node).pointee = head
    head = node
    count += 1
  }

  mutating func pop() -> L.Node? {
    guard head != 0 else { return nil }
    let node = head
    head = L.next(node).pointee
    count -= 1
    return node
  }
}
