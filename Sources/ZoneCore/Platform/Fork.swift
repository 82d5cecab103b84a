// Fork.swift: pthread_atfork handlers around every global lock (seed 001).
//
// Owns: the three handlers. prepare takes every lock in the documented order, so that no
// lock is held by a thread that will not exist in the child; parent releases them; child
// re-creates them and then makes the other threads' zones dead in O(1) (Zones.swift).
// After fork the child walks none of the parent's memory and writes none of it: no
// copy-on-write storm, however large the heap. It drops its parent's stats page.

import ZoneSupport

enum Fork {
  static func register() {
    pthread_atfork(prepare, parent, child)
  }

  private static let prepare: @convention(c) () -> Void = {
    Lock.forEachInOrder { $0.lock() }
  }

  private static let parent: @convention(c) () -> Void = {
    Lock.forEachInOrder { $0.unlock() }
  }

  private static let child: @convention(c) () -> Void = {
    zms_reinit_locks()
    guard Global.state != nil else { return }
    Zones.afterForkInChild()
    Background.afterForkInChild()
    StatsPage.afterForkInChild()
  }
}
