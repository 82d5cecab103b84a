// main.swift: the zonemalloc-bench driver's entry point.
//
// `swift build -c release && .build/release/zonemalloc-bench` compiles the C workloads
// of bench/workloads, measures the single-thread fast path with callgrind, runs every
// workload under every installed allocator (interleaved, 5 repetitions by default),
// counts munmap, madvise, mmap and futex calls under strace for the workloads that ask,
// prints the report, and writes CSV and SVG files into bench/results/. The exit
// status is 1 when any run failed (or an argument was wrong), else 0.

import Foundation

func runMain() -> Int32 {
  let options: Options
  do {
    options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
  } catch {
    FileHandle.standardError.write(Data("zonemalloc-bench: \(error)\n\(Options.usage)\n".utf8))
    return 2
  }
  let paths = Paths(outOverride: options.out)
  let lib = options.lib.map(Paths.absolute) ?? paths.defaultLib

  let workloads: [Workload], allocators: [Allocator]
  do {
    workloads = try Workloads.select(options.only)
    if options.list { return listAll(lib) }
    allocators = try Allocators.select(options.allocators, hugePages: options.hugePages, zonemallocLib: lib)
  } catch {
    FileHandle.standardError.write(Data("zonemalloc-bench: \(error)\n".utf8))
    return 2
  }
  guard !allocators.isEmpty else {
    print("no allocator to run")
    return 1
  }
  return runSuite(options: options, paths: paths, workloads: workloads, allocators: allocators)
}

func runSuite(options: Options, paths: Paths, workloads: [Workload], allocators: [Allocator]) -> Int32 {
  let started = monotonicSeconds()
  print("zonemalloc-bench: \(workloads.count) workloads x \(allocators.count) allocators x "
        + "\(options.repetitions) reps\(options.quick ? " (quick scales)" : ""); library \(allocators.first { $0.name == "zonemalloc" }?.library ?? "(zonemalloc not run)")")
  let builder = Builder(paths: paths)
  let progress = Progress()
  try? FileManager.default.createDirectory(atPath: paths.logDir, withIntermediateDirectories: true)

  var fast: [FastPathResult]?
  if options.fastPath {
    fast = FastPath.measure(allocators, builder: builder, paths: paths, progress: progress.show)
    progress.finish()
  }
  let tracer = options.strace && workloads.contains { $0.countSyscalls } ? SyscallCount.tracer(paths: paths) : nil
  let suite = Suite(workloads: workloads, allocators: allocators, options: options, builder: builder, paths: paths,
                    tracer: tracer)
  let records = suite.run()
  let results = collect(records, syscalls: suite.syscalls, workloads: workloads, allocators: allocators)

  let headlines = Dictionary(uniqueKeysWithValues: workloads.map { ($0.name, $0.headline) })
  let table = TableReport(results: results, fastPath: fast, headlines: headlines).render()
  let elapsed = monotonicSeconds() - started
  let stamp = MachineInfo.describe() + String(format: "; suite took %.0f s", elapsed)
  print("\n" + table + "\n" + stamp)
  save(results, fast: fast, table: table + "\n" + stamp + "\n", to: paths.out)

  let fastFailed = fast?.contains { $0.failure != nil } ?? false
  if results.anyFailure || fastFailed {
    print("some runs FAILED (see above and .build/bench-bin/logs/)")
    return 1
  }
  return 0
}

/// The suite's summaries, over the workloads that ran (a skipped one has no records),
/// with the strace counts merged into the figures.
func collect(_ records: [RunRecord], syscalls: [SyscallRecord], workloads: [Workload],
             allocators: [Allocator]) -> SuiteResults {
  let ran = workloads.filter { w in records.contains { $0.workload == w.name } }
  var summaries: [String: Summary] = [:]
  for w in ran {
    for a in allocators {
      let mine = records.filter { $0.workload == w.name && $0.allocator == a.name }
      if mine.isEmpty { continue }
      summaries[w.name + "\u{1}" + a.name] = Stats.summarize(mine, workload: w.name, allocator: a.name)
    }
  }
  for c in syscalls {
    summaries[c.workload + "\u{1}" + c.allocator]?.metrics.merge(c.metrics) { _, counted in counted }
  }
  let names = allocators.map(\.name)
  let baseline = names.contains("zonemalloc") ? "zonemalloc" : names[0]
  let twins = ran.compactMap { w in w.uncappedTwin.map { (w.name, $0) } }
  return SuiteResults(workloads: ran.map(\.name), allocators: names, baseline: baseline,
                      summaries: summaries, records: records, syscalls: syscalls,
                      uncappedTwins: Dictionary(uniqueKeysWithValues: twins),
                      fixedWall: Set(ran.filter(\.fixedWall).map(\.name)))
}

func save(_ results: SuiteResults, fast: [FastPathResult]?, table: String, to dir: String) {
  do {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try CSVReport.write(results, fastPath: fast, to: dir)
    try Charts.write(results, to: dir)
    try table.write(toFile: dir + "/table.txt", atomically: true, encoding: .utf8)
    print("results written to \(dir): runs.csv, summary.csv, syscalls.csv, figures.csv, fastpath.csv, time_ratio.svg,"
          + " rss_ratio.svg, table.txt")
  } catch {
    print("could not write results to \(dir): \(error)")
  }
}

func listAll(_ lib: String) -> Int32 {
  print("workloads:")
  func padded(_ s: String) -> String { "  " + s.padding(toLength: 22, withPad: " ", startingAt: 0) }
  for w in Workloads.all { print(padded(w.name) + w.summary + (w.optIn ? "  [only with --only]" : "")) }
  print("allocators:")
  for a in Allocators.all(zonemallocLib: lib) {
    let env = a.env.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
    print(padded(a.name) + (a.library ?? "(no preload)") + env + (a.isAvailable ? "" : "  [not found]"))
  }
  return 0
}

exit(runMain())
