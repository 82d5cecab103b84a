// Workloads.swift: the catalogue of benchmark workloads and their arguments.
//
// A workload is a C program from bench/workloads (compiled by the driver), the
// dict/string Python script, the node.js script or the sqlite3 SQL script from
// bench/programs. Each entry gives the arguments for the normal suite (about 1-4 s
// under glibc on a 2-core machine) and for --quick, any environment it needs, and the
// keys of its final `ok key=value ...` line that the report shows next to time and
// memory (sys_* keys come from the strace run of SyscallCount.swift). A few flags say
// how the report treats it: a capped workload has an uncapped twin and is left out of
// the "w/o" geometric means; a fixed-wall workload idles for a fixed time, so its
// wall time is left out of the wall-time means; an opt-in workload runs only when
// --only names it (the huge-page workloads, 5 to 15 s each at the scale of issue 24).

import Foundation

enum Program {
  /// A C source in bench/workloads (without .c), compiled to .build/bench-bin.
  case c(String)
  /// A Python script in bench/programs, run by python3.
  case python(String)
  /// A SQL script in bench/programs, run by the sqlite3 shell on an in-memory database;
  /// the argument is passed as the @n parameter.
  case sqlite(String)
  /// A JavaScript file in bench/programs, run by node; skipped where node is missing.
  case node(String)
}

struct Workload {
  let name: String
  let summary: String
  let program: Program
  let args: [String]
  let quickArgs: [String]
  var env: [String: String] = [:]
  /// Keys of the ok line worth showing in the report (medians over repetitions).
  var headline: [String] = []
  /// Variables taken out of the driver's environment for this workload.
  var unsetEnv: [String] = []
  /// Set on a workload run under a cap that only zonemalloc honours: the catalogue
  /// name of the same workload without the cap, reported beside it.
  var uncappedTwin: String? = nil
  /// Most of the wall time is a fixed idle period, the same under every allocator.
  var fixedWall = false
  /// Run once more per allocator under strace to count its system calls (SyscallCount.swift).
  var countSyscalls = false
  /// Left out of the default run; runs only when named by --only.
  var optIn = false

  func arguments(quick: Bool) -> [String] { quick ? quickArgs : args }
}

enum Workloads {
  static let all: [Workload] = [
    Workload(name: "larson", summary: "server threads inherit and free each other's objects",
             program: .c("larson"), args: ["4", "160"], quickArgs: ["4", "16"],
             headline: ["ops_per_s"]),
    Workload(name: "xmalloc", summary: "4 producers, 4 consumers; every free is remote",
             program: .c("xmalloc"), args: ["4", "10000000", "--consumers", "4"],
             quickArgs: ["4", "1000000", "--consumers", "4"],
             headline: ["objs_per_s", "zm_remote_frees", "zm_owner_signals"]),
    Workload(name: "thread-pool", summary: "4 workers pass tasks of 16 B-64 KiB blocks to each other",
             program: .c("thread_pool"), args: ["4", "1000000"], quickArgs: ["4", "100000"],
             headline: ["tasks_per_s", "zm_remote_frees", "zm_owner_signals"]),
    Workload(name: "mixed-lifetime", summary: "1 thread, 16 B-8 KiB, sliding window of live blocks",
             program: .c("mixed_lifetime"), args: ["1", "20000000"], quickArgs: ["1", "2000000"],
             headline: ["ops_per_s"]),
    Workload(name: "tight-loop-1t", summary: "malloc+free of 16..1000 B in a tight loop, 1 thread",
             program: .c("tight_loop"), args: ["1", "100000000"], quickArgs: ["1", "10000000"],
             headline: ["pairs_per_s"]),
    Workload(name: "tight-loop-2t", summary: "the same loop in 2 threads at once",
             program: .c("tight_loop"), args: ["2", "60000000"], quickArgs: ["2", "6000000"],
             headline: ["pairs_per_s"]),
    Workload(name: "cache-thrash", summary: "threads allocate, write and free tiny objects",
             program: .c("false_sharing"), args: ["thrash", "2", "160000"],
             quickArgs: ["thrash", "2", "20000"]),
    Workload(name: "cache-scratch", summary: "tiny objects handed to threads, then reused",
             program: .c("false_sharing"), args: ["scratch", "2", "160000"],
             quickArgs: ["scratch", "2", "20000"]),
    Workload(name: "size-sweep", summary: "every size class to 16 KiB, then big sizes",
             program: .c("size_sweep"), args: ["1", "150"], quickArgs: ["1", "10"]),
    Workload(name: "realloc-growth", summary: "buffers grown by realloc to 6 MiB, checked",
             program: .c("realloc_growth"), args: ["2", "24"], quickArgs: ["2", "3"],
             headline: ["moved"]),
    Workload(name: "big-churn", summary: "2 threads, 32 KiB-4 MiB blocks, latency of every call",
             program: .c("big_churn"), args: ["2", "40000"], quickArgs: ["2", "4000"],
             headline: ["malloc_p99_ns", "malloc_max_ns", "free_p99_ns", "free_max_ns",
                        "munmaps_per_free", "zm_purge_max_step_ns", "sys_munmap_per_free", "sys_madvise"],
             countSyscalls: true),
    Workload(name: "big-churn-32", summary: "big-churn with 32 live blocks per thread (~80 MiB live)",
             program: .c("big_churn"), args: ["2", "200000", "--slots", "32"],
             quickArgs: ["2", "20000", "--slots", "32"],
             headline: ["malloc_p99_ns", "malloc_p999_ns", "free_p99_ns", "free_p999_ns", "munmaps_per_free",
                        "zm_purge_max_step_ns", "sys_munmap", "sys_munmap_per_free", "sys_madvise"],
             countSyscalls: true),
    Workload(name: "big-churn-pile", summary: "big-churn while a third thread frees 320 MiB",
             program: .c("big_churn"), args: ["2", "40000", "--pile", "320"],
             quickArgs: ["2", "4000", "--pile", "300"],
             headline: ["pile_free_total_ns", "pile_free_max_ns", "malloc_p999_ns", "malloc_max_ns",
                        "free_p999_ns", "free_max_ns", "zm_purge_max_step_ns"]),
    Workload(name: "big-touch-2t", summary: "2 threads, 32 live blocks of 32 KiB-4 MiB each, 3 bytes touched",
             program: .c("big_touch"), args: ["2", "400000"], quickArgs: ["2", "40000"],
             headline: Workloads.bigTouchKeys, countSyscalls: true),
    Workload(name: "big-touch-4t", summary: "big-touch-2t at 4 threads (oversubscribed on 2 cores)",
             program: .c("big_touch"), args: ["4", "400000"], quickArgs: ["4", "40000"],
             headline: Workloads.bigTouchKeys, countSyscalls: true),
    Workload(name: "thread-storm", summary: "10,000 short-lived threads, ~300 alive at once",
             program: .c("thread_storm"), args: ["300", "10000"], quickArgs: ["300", "1500"],
             headline: ["threads_per_s", "peak_alive", "zm_orphan_slabs"]),
    Workload(name: "fork-heavy", summary: "300 MiB heap of small objects forks 30 children",
             program: .c("fork_heavy"), args: ["1", "30", "--heap-mib", "300"],
             quickArgs: ["1", "5", "--heap-mib", "100"],
             headline: ["fork_p50_us", "child_minflt_per_child"]),
    Workload(name: "mem-limit", summary: "live set at 80% of ZONEMALLOC_LIMIT=256M",
             program: .c("mem_limit"), args: ["2", "10000000"], quickArgs: ["2", "1000000"],
             env: ["ZONEMALLOC_LIMIT": "256M"],
             headline: ["refusals", "peak_live_mib", "zm_limit_reclaims", "zm_limit_refusals"],
             uncappedTwin: "mem-limit-uncapped"),
    Workload(name: "mem-limit-uncapped", summary: "mem-limit's live set (205 MiB) with no cap",
             program: .c("mem_limit"), args: ["2", "10000000"], quickArgs: ["2", "1000000"],
             headline: ["peak_live_mib"], unsetEnv: ["ZONEMALLOC_LIMIT"]),
    Workload(name: "remote-release", summary: "256 MiB freed by another thread, then RSS for 3 s",
             program: .c("release"), args: ["remote", "2", "256"],
             quickArgs: ["remote", "2", "64", "--idle-ms", "1000"],
             headline: Workloads.releaseKeys, fixedWall: true, countSyscalls: true),
    Workload(name: "idle-release", summary: "256 MiB freed by its own thread, then RSS for 3 s",
             program: .c("release"), args: ["own", "2", "256"],
             quickArgs: ["own", "2", "64", "--idle-ms", "1000"],
             headline: Workloads.releaseKeys, fixedWall: true, countSyscalls: true),
    Workload(name: "pointer-chase", summary: "8 M 64-byte nodes linked in random order, walked 3 times",
             program: .c("pointer_chase"), args: ["1", "8000000"], quickArgs: ["1", "1000000"],
             headline: ["walk_s", "walk_cpu_s", "ns_per_step", "build_s", "free_s", "rss_mib", "huge_share"],
             optIn: true),
    Workload(name: "hash-lookup", summary: "chained hash table of 8 M 32-byte nodes, 8 M random lookups",
             program: .c("hash_lookup"), args: ["1", "8000000"], quickArgs: ["1", "1000000"],
             headline: ["lookup_s", "lookup_cpu_s", "ns_per_lookup", "build_s", "free_s", "rss_mib",
                        "huge_share"],
             optIn: true),
    Workload(name: "sparse-release", summary: "heap grown to 1 GiB, 90% freed at random, RSS 3 s later",
             program: .c("sparse_release"), args: ["1", "1024"], quickArgs: ["1", "128"],
             headline: ["rss_peak_mib", "huge_share_peak", "rss_after_mib", "huge_share_after", "rss_3s_mib",
                        "huge_share_3s", "lazyfree_3s_mib", "free_ms"],
             fixedWall: true, optIn: true),
    Workload(name: "python-dict", summary: "python3 dict/string script, PYTHONMALLOC=malloc",
             program: .python("dict_strings.py"), args: ["2"], quickArgs: ["1"],
             env: ["PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"]),
    Workload(name: "node-app", summary: "node: Maps, JSON, Buffers of 64 B-64 KiB, zlib",
             program: .node("node_app.js"), args: ["12"], quickArgs: ["3"],
             headline: ["sys_madvise", "sys_munmap"], countSyscalls: true),
    Workload(name: "sqlite-insert", summary: "sqlite3 in memory: insert, index, update, delete",
             program: .sqlite("rows.sql"), args: ["250000"], quickArgs: ["30000"]),
  ]

  /// The figures of the two release workloads.
  static let releaseKeys = ["baseline_mib", "peak_mib", "rss_500ms_mib", "rss_1s_mib", "rss_2s_mib",
                            "rss_3s_mib", "release_ms", "release90_ms", "sys_munmap", "sys_madvise"]

  /// The figures of the two big-touch workloads (issue 27: futex calls per 100 frees).
  static let bigTouchKeys = ["wall_ns_per_op", "cpu_ns_per_op", "sys_futex", "sys_futex_failed",
                             "sys_futex_per_100_frees", "sys_munmap", "sys_madvise", "sys_mmap"]

  /// The workloads named by --only (all but the opt-in ones when nil), in catalogue order.
  static func select(_ names: [String]?) throws -> [Workload] {
    guard let names else { return all.filter { !$0.optIn } }
    for n in names where !all.contains(where: { $0.name == n }) {
      throw OptionError.badValue("--only", n)
    }
    return all.filter { names.contains($0.name) }
  }
}
