// ListsTests.swift: the intrusive lists, directly (Lists.swift), on nodes in an array.
import Testing

/// Nodes 1...15 of a table of links (node 0 is "none").
nonisolated(unsafe) private var links = [UInt](repeating: 0, count: 32)

private enum TableLinks: ListLinks {
  static func next(_ node: UInt) -> UnsafeMutablePointer<UInt> { pointer(Int(node) * 2) }
  static func prev(_ node: UInt) -> UnsafeMutablePointer<UInt> { pointer(Int(node) * 2 + 1) }
  static func pointer(_ index: Int) -> UnsafeMutablePointer<UInt> {
    links.withUnsafeMutableBufferPointer { $0.baseAddress! + index }
  }
}

@Suite("intrusive lists", .serialized)
struct ListsTests {
  func nodes(_ head: UInt) -> [UInt] {
    var seen: [UInt] = []
    LinkedList<TableLinks>.forEach(head) { seen.append($0) }
    return seen
  }

  @Test func pushRemoveAndPopKeepBothDirectionsLinked() {
    links = [UInt](repeating: 0, count: 32)
    var head: UInt = 0
    for node: UInt in 1...5 { LinkedList<TableLinks>.push(&head, node) }
    #expect(nodes(head) == [5, 4, 3, 2, 1])
    LinkedList<TableLinks>.remove(&head, 3)
    LinkedList<TableLinks>.remove(&head, 5)
    #expect(nodes(head) == [4, 2, 1] && TableLinks.prev(2).pointee == 4 && TableLinks.prev(4).pointee == 0)
    #expect(LinkedList<TableLinks>.pop(&head) == 4 && nodes(head) == [2, 1])
    #expect(TableLinks.next(3).pointee == 0 && TableLinks.prev(3).pointee == 0, "a removed node keeps no links")
  }

  @Test func aTailedListKeepsItsOldestAndItsCount() {
    links = [UInt](repeating: 0, count: 32)
    var list = TailedList<TableLinks>()
    for node: UInt in 1...4 { list.push(node) }
    #expect(list.head == 4 && list.tail == 1 && list.count == 4)
    list.remove(1)
    #expect(list.tail == 2 && list.count == 3)
    #expect(list.popHead() == 4 && list.head == 3 && list.tail == 2)
    list.remove(2)
    list.remove(3)
    #expect(list.head == 0 && list.tail == 0 && list.count == 0)
  }

  @Test func aChainIsLastInFirstOut() {
    links = [UInt](repeating: 0, count: 32)
    var chain = Chain<TableLinks>()
    for node: UInt in [7, 8, 9] { chain.append(node) }
    #expect(chain.count == 3 && chain.pop() == 9 && chain.pop() == 8 && chain.pop() == 7 && chain.pop() == nil)
  }
}
