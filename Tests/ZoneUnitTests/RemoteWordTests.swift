// RemoteWordTests.swift: the remote word's encoding, directly (RemoteWord.swift).
import Testing

@Suite("the remote word")
struct RemoteWordTests {
  static let states = [RemoteState.normal, RemoteState.notify, RemoteState.signalling, RemoteState.orphan,
                       RemoteState.parked, RemoteState.reaping]

  @Test func fieldsRoundTripWithoutOverlap() {
    let edges: [UInt] = [0, 1, 2, 4087, RemoteWord.field]
    for state in Self.states {
      for head in edges {
        for count in edges {
          let word = RemoteWord.make(state, head: head, count: count)
          #expect(RemoteWord.state(word) == state && RemoteWord.headIndex(word) == head)
          #expect(RemoteWord.count(word) == count)
          #expect(word & RemoteWord.observed == 0, "the reaper's mark is its own bit")
        }
      }
    }
  }

  @Test func theReapersMarkLeavesTheFieldsAlone() {
    let word = RemoteWord.make(RemoteState.normal, head: 9, count: 7)
    let marked = word | RemoteWord.observed
    #expect(RemoteWord.state(marked) == RemoteState.normal && RemoteWord.headIndex(marked) == 9)
    #expect(RemoteWord.count(marked) == 7)
  }

  @Test func whollyFreeMeansEveryChunkOnTheStackOfAnOwnedSlab() {
    #expect(RemoteWord.isWhollyFree(RemoteWord.make(RemoteState.normal, head: 3, count: 4), capacity: 4))
    #expect(!RemoteWord.isWhollyFree(RemoteWord.make(RemoteState.normal, head: 3, count: 3), capacity: 4))
    #expect(!RemoteWord.isWhollyFree(RemoteWord.make(RemoteState.normal, head: 0, count: 4), capacity: 4))
    for state in Self.states where state != RemoteState.normal {
      #expect(!RemoteWord.isWhollyFree(RemoteWord.make(state, head: 3, count: 4), capacity: 4))
    }
  }

  @Test func aReapedWordKeepsTheCountWithoutAStack() {
    let reaped = RemoteWord.reaped(count: 11)
    #expect(RemoteWord.isReaped(reaped) && RemoteWord.count(reaped) == 11 && RemoteWord.state(reaped) == RemoteState.normal)
    #expect(!RemoteWord.isReaped(RemoteWord.make(RemoteState.normal)))
    #expect(!RemoteWord.isReaped(RemoteWord.make(RemoteState.normal, head: 1, count: 1)))
  }

  @Test func aPushTellsTheOwnerOnlyWhenTheSlabAskedForIt() {
    for state in Self.states {
      let push = RemotePush(word: RemoteWord.make(state, count: 0), capacity: 5, generation: 0)
      #expect(push.mustSignal == (state == RemoteState.notify), "state \(state)")
      #expect(!push.emptiedSlab)
    }
    #expect(RemotePush(word: RemoteWord.make(RemoteState.normal, count: 3), capacity: 4, generation: 0).emptiedSlab)
    #expect(!RemotePush(word: RemoteWord.make(RemoteState.normal, count: 2), capacity: 4, generation: 0).emptiedSlab)
    #expect(!RemotePush(word: RemoteWord.make(RemoteState.orphan, count: 3), capacity: 4, generation: 0).emptiedSlab)
    #expect(DetachedRemote(head: 0, count: 3).reaped && !DetachedRemote(head: 0x1000, count: 3).reaped)
  }
}
