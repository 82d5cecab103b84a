// ProfilerTests.swift: the sampled heap profiler (ZONEMALLOC_PROF) and `zm prof`.
//
// - prof_sites.c allocates about 1 GiB from hot_a (60%), hot_b (30%) and cold_c (10%),
//   plus tiny blocks, and prints the exact bytes. `zm prof` must name the three
//   functions, in the collapsed stacks and in the SVG, with shares of the bytes
//   allocated within 5 points of the truth; at the peak hot_b, which keeps 64 MiB live,
//   holds most of the live bytes.
// - python3 running a dict-heavy script: the top sites of the table are CPython
//   functions (names the python binary or libpython defines).
// - `zm prof --help` explains the command and its outputs.
// - The SVG opens in headless Chromium (skipped, saying so, where it is not installed):
//   its DOM has labelled frames, and a screenshot is produced.
// - prof_dump.c: a profile is written by zm_prof_dump, on ZONEMALLOC_PROF_SIGNAL and at
//   exit, each in the documented format; zm_prof_dump says ENOTSUP with profiling off.
// - prof_counts.c: with most allocations sampled, malloc_count grows by exactly the
//   program's own calls: the profiler never allocates through malloc.
// - The malloc(32)+free fast path costs the same instructions (callgrind) with the
//   profiler off and on (at a rate that never samples).
import Foundation
import Testing

/// Runs `zm prof` on argv with outputs at <dir>/prof.*; returns the outcome and the prefix.
func zmProf(_ argv: [String], options: [String] = [], timeout: Double = 120) throws -> (Outcome, String) {
  let prefix = try Paths.makeTempDir("prof") + "/prof"
  let outcome = try Subprocess.run([try Paths.launcher(), "prof", "--out", prefix] + options + ["--"] + argv,
                                   env: ["ZONEMALLOC_LIB": try Paths.library()], timeout: timeout)
  return (outcome, prefix)
}

/// Shares of named frames in collapsed stacks and in the SVG's panels.
enum ProfileShares {
  /// name -> share (0...1) of the bytes of the stacks that contain a frame of that name.
  static func collapsed(_ text: String, names: [String]) -> [String: Double] {
    var total = 0.0
    var byName: [String: Double] = [:]
    for line in text.split(separator: "\n") {
      guard let space = line.lastIndex(of: " "), let bytes = Double(line[line.index(after: space)...]) else { continue }
      let frames = Set(line[..<space].split(separator: ";").map(String.init))
      total += bytes
      for name in names where frames.contains(name) { byName[name, default: 0] += bytes }
    }
    return byName.mapValues { $0 / max(total, 1) }
  }

  /// name -> share of the panel `id` ("total" or "peak"), from the frames' tooltips.
  static func svg(_ text: String, panel id: String, names: [String]) -> [String: Double] {
    guard let start = text.range(of: "<g id=\"\(id)\"") else { return [:] }
    let panel = text[start.upperBound...]
    let end = panel.range(of: "\n</g>\n")?.lowerBound ?? panel.endIndex
    var bytes: [String: Double] = [:]
    for title in panel[..<end].components(separatedBy: "<title>").dropFirst() {
      let words = title.components(separatedBy: " — ")
      guard words.count >= 2, let value = Double(words[1].prefix { $0.isNumber }) else { continue }
      bytes[words[0], default: 0] += value
    }
    let all = bytes["all"] ?? 1
    return bytes.filter { names.contains($0.key) }.mapValues { $0 / all }
  }
}

@Suite("heap profiler")
struct ProfilerTests {
  static let sites = ["hot_a", "hot_b", "cold_c"]

  @Test func zmProfFindsTheSitesWithTheirShares() throws {
    let program = try TestProgram.build("prof_sites.c", linkage: .plain)
    let (outcome, prefix) = try zmProf([program, "1024"])
    expectSuccess(outcome)
    let truthLine = try #require(outcome.stdoutLines.first { $0.hasPrefix("truth ") }, "\(outcome)")
    let truth = reportFields(truthLine)
    let total = Double(try #require(truth["total"]))
    let collapsed = try String(contentsOfFile: prefix + ".total.collapsed", encoding: .utf8)
    let svg = try String(contentsOfFile: prefix + ".svg", encoding: .utf8)
    let fromCollapsed = ProfileShares.collapsed(collapsed, names: Self.sites)
    let fromSVG = ProfileShares.svg(svg, panel: "total", names: Self.sites)
    for site in Self.sites {
      let expected = Double(truth[site] ?? 0) / total
      for (source, shares) in [("collapsed stacks", fromCollapsed), ("SVG", fromSVG)] {
        let share = try #require(shares[site], "\(site) is not named in the \(source):\n\(outcome.stdout)")
        #expect(abs(share - expected) <= 0.05,
                "\(site): \(share * 100)% of the bytes in the \(source), truth \(expected * 100)%")
      }
    }
    let peak = ProfileShares.svg(svg, panel: "peak", names: Self.sites)
    #expect((peak["hot_b"] ?? 0) > 0.5, "hot_b keeps 64 of the 80 MiB live at the peak: \(peak)")
    #expect(outcome.stdout.contains("hot_a (prof_sites.c:"), "the table names hot_a with its line:\n\(outcome.stdout)")
    print("measured: shares of bytes allocated, collapsed \(fromCollapsed), SVG \(fromSVG), truth \(truthLine); "
          + "peak \(peak)")
  }

  @Test func zmProfHelpExplainsIt() throws {
    let outcome = try Subprocess.run([try Paths.launcher(), "prof", "--help"])
    expectSuccess(outcome)
    for words in ["usage: zm prof", "--rate SIZE", ".svg", ".collapsed", "--from", "addr2line", "--view WHAT",
                  "--pid N", "--comm NAME", "--base OLD", "--pprof FILE", "leaks"] {
      #expect(outcome.stdout.contains(words), "zm prof --help does not mention \(words):\n\(outcome)")
    }
    let bad = try Subprocess.run([try Paths.launcher(), "prof"])
    #expect(bad.exitCode == 2 && bad.stderr.contains("prof needs a command"), "\(bad)")
  }

  @Test func pythonTopSitesAreCPythonFunctions() throws {
    let python = try pythonExecutable()
    let script = try Paths.makeTempDir("py") + "/dicts.py"
    try """
      import random
      random.seed(7)
      tables = []
      for round in range(30):
          index = {}
          for i in range(20000):
              index.setdefault("k%d" % random.randrange(200000), {})[i] = i * 3
          tables.append({k: len(v) for k, v in index.items()})
          if len(tables) > 8:
              tables.pop(0)
      print(sum(len(t) for t in tables))
      """.write(toFile: script, atomically: true, encoding: .utf8)
    let (outcome, _) = try zmProf([python, script], options: ["--top", "5"])
    expectSuccess(outcome)
    // Rows: total, %, peak live, %, at exit, %, site (file:line) < caller < caller
    let rows = outcome.stdoutLines.drop { !$0.contains("site") }.dropFirst().prefix { !$0.isEmpty && !$0.hasPrefix("zm prof:") }
    let sites = rows.map { row -> (share: Double, names: [String]) in
      let words = row.split(separator: " ")
      let share = Double(words.count > 2 ? words[2].dropLast() : "") ?? 0
      let names = words.dropFirst(9).filter { $0 != "<" && !$0.hasPrefix("(") }.map(String.init)
      return (share, names)
    }
    let defined = try cpythonSymbols(python)
    let top = try #require(sites.first, "no table:\n\(outcome.stdout)")
    #expect(!top.names.isEmpty && top.names.allSatisfy(defined.contains),
            "the top site and its callers are CPython functions: \(top.names)\n\(outcome.stdout)")
    for site in sites where site.share >= 5 {
      #expect(defined.contains(site.names.first ?? ""), "a site with \(site.share)% is not CPython's: \(site.names)")
    }
    print("measured: python (\(python)) top sites: \(sites.map { "\($0.share)% \($0.names.joined(separator: " < "))" })")
  }

  @Test func theSVGOpensInChromium() throws {
    guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
      .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
      print("skipped: headless Chromium is not installed (apt-get install chromium)")
      return
    }
    let program = try TestProgram.build("prof_sites.c", linkage: .plain)
    let (outcome, prefix) = try zmProf([program, "256"])
    expectSuccess(outcome)
    let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,700"]
    let dom = try Subprocess.run([chromium] + flags + ["--dump-dom", "file://" + prefix + ".svg"], timeout: 90)
    #expect(dom.succeeded, "\(dom)")
    #expect(!dom.stdout.contains("error on line"), "Chromium reports an XML error:\n\(dom.stdout.prefix(2000))")
    for site in Self.sites {
      #expect(dom.stdout.contains(">\(site)</text>"), "no frame labelled \(site) in the rendered DOM")
    }
    let png = prefix + ".png"
    let shot = try Subprocess.run([chromium] + flags + ["--screenshot=" + png, "file://" + prefix + ".svg"], timeout: 90)
    #expect(shot.succeeded, "\(shot)")
    let size = (try? FileManager.default.attributesOfItem(atPath: png)[.size] as? Int) ?? 0
    #expect(size > 5000, "the screenshot is \(size) bytes")
  }

  @Test func profilesAreWrittenOnRequestOnTheSignalAndAtExit() throws {
    let program = try TestProgram.build("prof_dump.c", linkage: .linked)
    let dir = try Paths.makeTempDir("dumps")
    // One sample per 64 KiB on average: about 320 of the 512 blocks are sampled, so the
    // live estimate is within a few percent (at 512 KiB, 60 samples missed 25% once in 20).
    let env = ["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_RATE": "64K", "ZONEMALLOC_PROF_SIGNAL": "USR2",
               "ZONEMALLOC_PROF_FILE": dir + "/exit.%p.prof"]
    let running = try RunningProcess([program, dir + "/request.prof", dir + "/go"], env: env)
    #expect(try running.waitForLine("dumped ") == "dumped rc=0")
    let pid = running.pid
    _ = try running.waitForLine("ready ")
    running.signal(SIGUSR2)
    let signalled = "\(dir)/exit.\(pid).prof.1"
    for _ in 0..<1000 where !FileManager.default.fileExists(atPath: signalled) { usleep(10_000) }
    #expect(FileManager.default.createFile(atPath: dir + "/go", contents: nil))
    let outcome = running.finish()
    expectSuccess(outcome)
    #expect(outcome.stderr.contains("heap profile written to \(dir)/exit.\(pid).prof"), "\(outcome)")
    let request = try profileHeader(dir + "/request.prof")
    let signal = try profileHeader(signalled)
    let exit = try profileHeader("\(dir)/exit.\(pid).prof")
    let live = 32.0 * 1024 * 1024
    for (name, header) in [("zm_prof_dump", request), ("signal", signal)] {
      #expect(abs(Double(header["live_bytes"] ?? 0) - live) < live / 4, "\(name): 32 MiB live: \(header)")
    }
    #expect(Double(exit["live_bytes"] ?? 0) < live / 2, "at exit 1/8 of the blocks are live: \(exit)")
    for (path, reason) in [(dir + "/request.prof", "request"), (signalled, "signal"), ("\(dir)/exit.\(pid).prof", "exit")] {
      let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
      let comm = "comm " + (program as NSString).lastPathComponent.prefix(15) // the kernel keeps 15 bytes
      #expect(lines.contains("reason \(reason)") && lines.contains(Substring(comm)) && lines.contains("pid \(pid)"),
              "\(path): \(lines.prefix(6))")
    }
    let report = try Subprocess.run([try Paths.launcher(), "prof", "--out", dir + "/r", "--from", dir + "/request.prof"])
    expectSuccess(report)
    #expect(report.stdout.contains("keep_live"), "zm prof --from names the site:\n\(report)")

    let off = try Subprocess.run([program, dir + "/off.prof", dir + "/go"])
    expectSuccess(off, stdout: ["dumped rc=\(ENOTSUP)"])
  }

  @Test func theProfilerNeverAllocatesThroughMalloc() throws {
    let program = try TestProgram.build("prof_counts.c", linkage: .linked)
    let dump = try Paths.makeTempDir("counts") + "/counts.prof"
    let outcome = try Subprocess.run([program, "200000", dump],
                                     env: ["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_RATE": "4K",
                                           "ZONEMALLOC_PROF_FILE": dump + ".exit"], timeout: 120)
    let f = expectReport(outcome, prefix: "counts ok ")
    #expect(f["dump"] == 0, "\(outcome)")
    #expect(f["mallocs"] == f["calls"], "malloc_count grew by more than the program's calls: \(f)")
    let samples = try profileHeader(dump)["total_samples"] ?? 0
    #expect(samples > 10_000, "most allocations were sampled: \(samples)")
    print("measured: \(f["calls"] ?? 0) calls, malloc_count +\(f["mallocs"] ?? 0), \(samples) samples")
  }

  @Test func theFastPathIsTheSameWithTheProfilerOffAndOn() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/valgrind") else {
      print("skipped: valgrind is not installed (apt-get install valgrind)")
      return
    }
    let program = try TestProgram.build("fastpath_pairs.c", linkage: .plain)
    let lib = try Paths.makeTempDir("fastpath") + "/libzonemalloc.so"
    expectSuccess(try Subprocess.run(["objcopy", "--strip-debug", try Paths.library(), lib]))
    func perPair(_ env: [String: String]) throws -> Double {
      func count(_ n: Int) throws -> Double {
        let out = try Paths.makeTempDir("cg") + "/callgrind.out"
        let outcome = try Subprocess.run(["/usr/bin/valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                          program, String(n)], env: env.merging(["LD_PRELOAD": lib]) { $1 },
                                         timeout: 300)
        expectSuccess(outcome)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("summary:") || $0.hasPrefix("totals:") })
        return try #require(Double(line.split(separator: " ")[1]))
      }
      return (try count(200_000) - count(100_000)) / 100_000
    }
    // Guarded sampling off in both: its random events would blur the count.
    let off = try perPair(["ZONEMALLOC_GUARD_RATE": "0"])
    let on = try perPair(["ZONEMALLOC_GUARD_RATE": "0", "ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_RATE": "1T",
                          "ZONEMALLOC_PROF_FILE": "/dev/null"])
    #expect(abs(on - off) < 0.5, "instructions per malloc(32)+free: off \(off), on \(on)")
    #expect(off < 105, "the fast path grew: \(off) instructions per pair (104 without the profiler)")
    print("measured: instructions per malloc(32)+free pair: profiler off \(off), on \(on)")
  }

  // MARK: - Helpers

  /// The numeric header fields of a heap profile, after checking its first line.
  func profileHeader(_ path: String) throws -> [String: Int] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let lines = text.split(separator: "\n")
    #expect(lines.first == "zonemalloc heap profile 1", "\(path) starts with \(lines.first ?? "nothing")")
    #expect(lines.contains("maps"), "\(path) has no maps section")
    var fields: [String: Int] = [:]
    for line in lines.prefix(while: { $0 != "maps" }) {
      let words = line.split(separator: " ")
      if words.count == 2, let value = Int(words[1]) { fields[String(words[0])] = value }
    }
    return fields
  }

  /// The python3 on PATH, as the interpreter binary (not a wrapper script such as
  /// pyenv's shim, whose shell processes would be profiled too).
  func pythonExecutable() throws -> String {
    let outcome = try Subprocess.run(["python3", "-c", "import sys; print(sys.executable)"])
    expectSuccess(outcome)
    return try #require(outcome.stdoutLines.first)
  }

  /// Functions defined by the python binary and the libpython it loads.
  func cpythonSymbols(_ python: String) throws -> Set<String> {
    let ldd = try Subprocess.run(["ldd", python])
    let objects = [python] + ldd.stdoutLines.compactMap { line -> String? in
      guard line.contains("libpython"), let arrow = line.range(of: "=> ") else { return nil }
      return String(line[arrow.upperBound...].prefix { $0 != " " })
    }
    var names: Set<String> = []
    for object in objects {
      for flags in [["--defined-only"], ["-D", "--defined-only"]] {
        let nm = try Subprocess.run(["nm"] + flags + [object], timeout: 120)
        for line in nm.stdoutLines {
          let fields = line.split(separator: " ")
          if fields.count == 3, "tTwW".contains(fields[1]) { names.insert(String(fields[2])) }
        }
      }
    }
    return names
  }
}
