// SyscallCount.swift: the munmap, madvise, mmap and futex calls of a workload (and
// how many of them failed), counted the same way under every allocator.
//
// zonemalloc counts its own munmap calls (zm_stats), no other allocator does, and
// none counts madvise or its futex waits. So a workload marked countSyscalls runs
// once more per allocator, after its timed repetitions, under
//   strace -f -c --seccomp-bpf -o REPORT -e trace=munmap,madvise,mmap,futex -E LD_PRELOAD=LIB CMD
// -f follows every thread and child, -c only counts, and with --seccomp-bpf only
// these calls stop the program (the others run at full speed); -E sets the preload
// for the command only, so strace itself never runs on the allocator under test.
// A traced futex call is slowed, which stretches the critical sections of the
// locks it serves: contention under strace can be higher than in the timed runs, the
// same for every allocator. The counts are of every call the process makes, by the
// allocator or anything else (libc, the loader, node's own threads): the same program
// under every allocator, so the differences are the allocators'. The run is not
// timed. Its counts join the workload's figures as sys_<call> and sys_<call>_failed
// (calls that returned an error: for futex, mostly EAGAIN, a wait whose word had
// already changed), and per free (sys_<call>_per_free, sys_<call>_per_100_frees) when
// the ok line has frees=N.

import Foundation

/// The counts of one traced run of a workload under one allocator.
struct SyscallRecord {
  let workload: String
  let allocator: String
  /// nil when the traced run passed; otherwise why it failed.
  let failure: String?
  /// Calls and failed calls per system call.
  let calls: [String: SyscallTally]
  /// frees=N of the run's ok line, when the workload prints it.
  let frees: Int?

  /// The figures this run adds to its workload's summary.
  var metrics: [String: Double] {
    guard failure == nil else { return [:] }
    var m: [String: Double] = [:]
    for name in SyscallCount.traced {
      let tally = calls[name] ?? SyscallTally(calls: 0, failed: 0)
      let n = Double(tally.calls)
      m["sys_" + name] = n
      m["sys_\(name)_failed"] = Double(tally.failed)
      if let frees, frees > 0 {
        m["sys_\(name)_per_free"] = n / Double(frees)
        m["sys_\(name)_per_100_frees"] = 100 * n / Double(frees)
      }
    }
    return m
  }
}

/// strace -c's calls and errors columns for one system call.
struct SyscallTally: Equatable {
  let calls: Int
  let failed: Int
}

enum SyscallCount {
  static let traced = ["munmap", "madvise", "mmap", "futex"]

  /// The strace command prefix to count with, or nil (after a line saying why) when
  /// strace is missing or cannot trace here (no ptrace in a container, say). A strace
  /// without --seccomp-bpf (before 5.3) still counts, only slower.
  static func tracer(paths: Paths) -> [String]? {
    guard let strace = Builder.findTool(preferred: "/usr/bin/strace", name: "strace") else {
      print("skipping the system-call counts: strace is not installed (apt-get install strace)")
      return nil
    }
    for prefix in [[strace, "-f", "-c", "--seccomp-bpf"], [strace, "-f", "-c"]] where works(prefix, paths) {
      return prefix
    }
    print("skipping the system-call counts: strace cannot trace here (see \(paths.logDir)/strace-probe.err)")
    return nil
  }

  private static func works(_ prefix: [String], _ paths: Paths) -> Bool {
    let log = paths.logDir + "/strace-probe"
    let spec = RunSpec(argv: prefix + ["-o", "/dev/null", "-e", "trace=munmap", "true"],
                       env: ProcessInfo.processInfo.environment, stdoutPath: log + ".out",
                       stderrPath: log + ".err", timeout: 30)
    return Spawner.run(spec).end == .exited(0)
  }

  /// The traced command line: the counts go to report, the preload to the command only.
  static func command(tracer: [String], report: String, preload: String?, argv: [String]) -> [String] {
    tracer + ["-o", report, "-e", "trace=" + traced.joined(separator: ",")]
      + (preload.map { ["-E", "LD_PRELOAD=" + $0] } ?? []) + argv
  }

  /// Calls and failed calls per system call from strace -c's table, whose rows read
  /// `% time  seconds  usecs/call  calls  [errors]  syscall` (errors blank when none).
  static func parse(_ text: String) -> [String: SyscallTally] {
    var out: [String: SyscallTally] = [:]
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      guard f.count == 5 || f.count == 6, let name = f.last, traced.contains(String(name)),
            let n = Int(f[3]) else { continue }
      out[String(name)] = SyscallTally(calls: n, failed: f.count == 6 ? Int(f[4]) ?? 0 : 0)
    }
    return out
  }
}
