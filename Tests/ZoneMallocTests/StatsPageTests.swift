// StatsPageTests.swift: `zm stats PID` and `zm top PID` read the counters of a running
// process from the stats page its libzonemalloc publishes (/dev/shm/zonemalloc.<pid>).
//
// - stats_target.c, 4 threads allocating and freeing at full speed: zm stats and zm top
//   read it while it runs (the counts grow, every zm top line has malloc and free
//   rates, and the program runs as fast while zm top watches it; it is never traced
//   or stopped). Once it is quiet (SIGUSR1), zm stats matches the summary it prints
//   at exit, which can differ only by the few blocks the exit path allocates.
// - A process without zonemalloc, and a pid with no process, get one line on stderr.
// - Pages left behind by killed processes are removed by the next zm stats (once they
//   are 2 s old: a younger one may belong to a process that has not mapped it yet).
// - stats_fork.c: a forked child publishes a page of its own; both pages go at exit.
// - stats_idle.c, idle after a few allocations: with a second thread the background
//   thread keeps the page fresh (a snapshot well under a second old); a single-threaded
//   program keeps the snapshot of its last refresh, and zm stats says how old it is.
import Foundation
import Testing

/// The counters `zm stats PID` prints ("name value" lines), or the failed outcome.
func zmStats(_ pid: pid_t) throws -> ([String: UInt64], Outcome) {
  let outcome = try Subprocess.run([try Paths.launcher(), "stats", String(pid)])
  var fields: [String: UInt64] = [:]
  for line in outcome.stdoutLines {
    let words = line.split(separator: " ")
    if words.count >= 2, let value = UInt64(words[1]) { fields[String(words[0])] = value }
  }
  return (fields, outcome)
}

extension Heavy {
  @Suite("zm stats and zm top on a running program")
  struct StatsPageHeavyTests {
    @Test func statsAndTopReadARunningThreadedProgramWithoutStoppingIt() throws {
      let program = try TestProgram.build("stats_target.c", linkage: .plain)
      let running = try RunningProcess([program, "4"], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
      let pid = running.pid
      _ = try running.waitForLine("ready ")
      usleep(300_000)

      // Running: two reads a second apart give the rate with nobody watching.
      let (first, firstOutcome) = try zmStats(pid)
      expectSuccess(firstOutcome)
      let t0 = Date()
      usleep(1_000_000)
      let (second, _) = try zmStats(pid)
      let quietRate = Double((second["malloc_count"] ?? 0) &- (first["malloc_count"] ?? 0)) / Date().timeIntervalSince(t0)
      #expect((second["malloc_count"] ?? 0) > (first["malloc_count"] ?? 0), "the counts grow: \(first) then \(second)")

      let top = try Subprocess.run([try Paths.launcher(), "top", "-n", "2", String(pid)], timeout: 30)
      expectSuccess(top)
      let rows = top.stdoutLines.filter { $0.trimmingCharacters(in: .whitespaces).first?.isNumber == true }
      #expect(rows.count == 2, "two lines of zm top:\n\(top)")
      let mallocRates = rows.compactMap { row -> Double? in
        let fields = row.split(separator: " ")
        // time, allocated (2 words), active, mapped, cached (2 each), malloc/s, free/s, remote
        return fields.count >= 11 ? Double(fields[9]) : nil
      }
      #expect(mallocRates.count == 2 && mallocRates.allSatisfy { $0 > 0 }, "malloc rates in zm top:\n\(top.stdout)")
      let watchedRate = mallocRates.reduce(0, +) / Double(max(mallocRates.count, 1))
      #expect(watchedRate > quietRate / 3, "watched by zm top it runs at \(watchedRate)/s, alone \(quietRate)/s")
      let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
      #expect(status.contains("TracerPid:\t0\n"), "nothing attached to the process:\n\(status)")
      #expect(!status.contains("State:\tT") && !status.contains("State:\tt"), "the process is not stopped:\n\(status)")

      // Quiet: the page, refreshed by the background thread, matches the exit summary.
      running.signal(SIGUSR1)
      _ = try running.waitForLine("quiet ")
      usleep(1_200_000)
      let (quiet, _) = try zmStats(pid)
      running.signal(SIGUSR2)
      let outcome = running.finish()
      expectSuccess(outcome)
      let exit = StatsSummary.require(outcome)
      for name in ["malloc_count", "free_count"] {
        let seen = quiet[name] ?? 0, final = exit[name] ?? 0
        #expect(final >= seen && final - seen <= 16, "\(name): zm stats \(seen), at exit \(final)")
        #expect((second[name] ?? 0) <= final, "\(name) while running \(second[name] ?? 0) <= at exit \(final)")
      }
      #expect(quiet["remote_frees"] == exit["remote_frees"], "remote_frees: \(quiet) vs \(exit)")
      let allocatedGap = Int64(bitPattern: (exit["allocated"] ?? 0) &- (quiet["allocated"] ?? 0))
      #expect(abs(allocatedGap) <= 64 << 10, "allocated: zm stats \(quiet["allocated"] ?? 0), at exit \(exit["allocated"] ?? 0)")
      #expect(!FileManager.default.fileExists(atPath: "/dev/shm/zonemalloc.\(pid)"), "the page is removed at exit")
      print("measured: \(Int(quietRate)) mallocs/s alone, \(Int(watchedRate))/s under zm top; quiet malloc_count "
            + "\(quiet["malloc_count"] ?? 0), at exit \(exit["malloc_count"] ?? 0)")
    }
  }
}

@Suite("zm stats and zm top")
struct StatsPageTests {
  @Test func aProcessWithoutZonemallocGetsOneLine() throws {
    let sleeper = try RunningProcess(["sleep", "30"])
    usleep(100_000)
    for command in ["stats", "top"] {
      let outcome = try Subprocess.run([try Paths.launcher(), command, String(sleeper.pid)])
      #expect(outcome.exitCode == 1, "\(outcome)")
      let lines = outcome.stderr.split(separator: "\n")
      #expect(lines.count == 1 && lines[0].contains("did not load zonemalloc"), "\(outcome)")
    }
    let gone = try Subprocess.run(["true"]).pid
    let outcome = try Subprocess.run([try Paths.launcher(), "stats", String(gone)])
    #expect(outcome.exitCode == 1 && outcome.stderr == "zm: no process \(gone) is running\n", "\(outcome)")
  }

  @Test func pagesLeftByKilledProcessesAreRemoved() throws {
    let sleeper = try RunningProcess(["sleep", "30"])
    let gone = try Subprocess.run(["true"]).pid
    let stale = ["/dev/shm/zonemalloc.\(gone)", "/dev/shm/zonemalloc.\(sleeper.pid)"]
    for path in stale { #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 4096))) }
    sleep(2) // zm leaves pages younger than 2 s alone (their process may not have mapped them yet)
    let outcome = try Subprocess.run([try Paths.launcher(), "stats", String(sleeper.pid)])
    #expect(outcome.stderr.contains("did not load zonemalloc"), "\(outcome)")
    for path in stale { #expect(!FileManager.default.fileExists(atPath: path), "\(path) is still there") }
  }

  @Test(arguments: [1, 2])
  func anIdleProgramShowsHowOldItsSnapshotIs(threads: Int) throws {
    let program = try TestProgram.build("stats_idle.c", linkage: .plain)
    let running = try RunningProcess([program, String(threads)], env: try preloadEnvironment())
    let pid = pid_t(try #require(reportFields(try running.waitForLine("ready "))["pid"]))
    usleep(2_000_000)
    let (fields, outcome) = try zmStats(pid)
    expectSuccess(outcome)
    let header = outcome.stdoutLines.first ?? ""
    let age = header.components(separatedBy: "taken ").last.flatMap { Int($0.prefix { $0.isNumber }) }
    let ms = try #require(age, "no age in \(header)")
    #expect(fields["threads_live"] == UInt64(threads), "\(outcome)")
    if threads > 1 {
      #expect(ms < 1_200, "the background thread keeps a threaded program's page fresh: \(header)")
    } else {
      #expect(ms >= 1_500, "an idle single-threaded program keeps its last snapshot: \(header)")
    }
  }

  @Test func aForkedChildPublishesItsOwnPage() throws {
    let program = try TestProgram.build("stats_fork.c", linkage: .plain)
    let go = try Paths.makeTempDir("fork") + "/go"
    let running = try RunningProcess([program, go], env: try preloadEnvironment())
    let f = reportFields(try running.waitForLine("child "))
    let child = pid_t(try #require(f["pid"])), parent = pid_t(try #require(f["parent"]))
    let (childStats, childOutcome) = try zmStats(child)
    expectSuccess(childOutcome)
    #expect(childOutcome.stdout.hasPrefix("zonemalloc statistics of pid \(child) "), "\(childOutcome)")
    #expect((childStats["allocated"] ?? 0) >= 8 << 20, "the child holds 8 MiB: \(childStats)")
    expectSuccess(try zmStats(parent).1)
    #expect(FileManager.default.createFile(atPath: go, contents: nil))
    expectSuccess(running.finish(), stdout: ["child pid=\(child) parent=\(parent)", "done"])
    for pid in [child, parent] {
      #expect(!FileManager.default.fileExists(atPath: "/dev/shm/zonemalloc.\(pid)"), "page of \(pid) left behind")
    }
  }
}
