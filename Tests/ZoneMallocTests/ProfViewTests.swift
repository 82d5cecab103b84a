// ProfViewTests.swift: `zm prof` on real programs: process by process, its views, the
// difference from a base, periodic dumps and the pprof file.
//
// - A shell script that runs python3 and prof_leaks.c (a C program): the table has a
//   section per process, named by command and pid; `--comm python3` keeps only
//   python's (no site of the C program or of bash); the leak view (--view live) ranks
//   leak_site, whose 48 MiB are never freed, first in the C program's section, though
//   churn_site allocated five times as much. No line about the scratch folder's
//   profiles reaches stderr.
// - prof_leaks grow: two zm_prof_dump profiles, 64 MiB more from grow_site in the
//   second; `--base` puts grow_site first with about +64 MiB, and steady_site, which
//   did not change, not at all.
// - ZONEMALLOC_PROF_INTERVAL=200ms: prof_leaks tick writes numbered profiles whose
//   reason is "interval", whose live bytes grow, and whose difference names tick_site.
// - --pprof: the file is gzip (gzip -t) holding the sites' names; `go tool pprof -top`
//   lists the table's top three sites in the same order (skipped, saying so, without
//   go).
// - One sample is "1 sample".
// - A stripped copy of prof_leaks is named in the one warning about objects without a
//   symbol table (their frames' names come from dynamic symbols); the unstripped
//   program is not.
// - ZONEMALLOC_PROF_INTERVAL takes 100ms to 86400s and warns otherwise;
//   ZONEMALLOC_PROF_QUIET=1 writes the exit profile without a line about it.
import Foundation
import Testing

@Suite("zm prof: processes, views, base, pprof")
struct ProfViewTests {
  /// The sections of a table: heading line -> its site names, in order.
  static func sections(_ stdout: String) -> [(heading: String, sites: [String])] {
    var result: [(String, [String])] = []
    for line in stdout.split(separator: "\n").map(String.init) {
      if line.hasPrefix("== ") {
        result.append((line, []))
      } else if !result.isEmpty, !line.hasPrefix("zm prof:"), !line.contains("  site"), let site = siteName(line) {
        result[result.count - 1].1.append(site)
      }
    }
    return result
  }

  /// The site's function name in a row: the first word after the byte and share columns.
  static func siteName(_ row: String) -> String? {
    let words = row.split(separator: " ")
    let figures = words.prefix { $0.first.map { $0.isNumber || $0 == "+" || $0 == "-" } == true || ["B", "KiB", "MiB", "GiB"].contains($0) }
    return words.count > figures.count ? String(words[figures.count]) : nil
  }

  /// The script, and prof_leaks under a link named prof_leaks (its command name).
  static func family() throws -> (script: String, program: String) {
    let dir = try Paths.makeTempDir("family")
    let program = dir + "/prof_leaks"
    try FileManager.default.createSymbolicLink(atPath: program, withDestinationPath: try TestProgram.build("prof_leaks.c", linkage: .plain))
    let script = dir + "/family.sh"
    try """
      python3 -c 'd = {i: str(i) * 4 for i in range(400000)}; print(len(d))'
      "$1" leak
      """.write(toFile: script, atomically: true, encoding: .utf8)
    return (script, program)
  }

  @Test func aScriptsProcessesHaveSectionsAndCommPicksPython() throws {
    let (script, program) = try Self.family()
    let (all, _) = try zmProf(["bash", script, program], options: ["--view", "live", "--top", "5"])
    expectSuccess(all)
    let sections = Self.sections(all.stdout)
    let leaks = try #require(sections.first { $0.heading.hasPrefix("== prof_leaks (pid ") }, "\(all)")
    #expect(sections.contains { $0.heading.hasPrefix("== python3 (pid ") }, "no python3 section:\n\(all)")
    #expect(leaks.heading.contains("written at exit"), "\(leaks.heading)")
    #expect(leaks.sites.first == "leak_site", "the leak view ranks leak_site first: \(leaks.sites)\n\(all)")
    #expect(!leaks.sites.contains("churn_site"), "churn_site frees everything: \(leaks.sites)")
    #expect(!all.stderr.contains("heap profile written"), "a line about deleted files:\n\(all.stderr)")

    let (python, prefix) = try zmProf(["bash", script, program], options: ["--comm", "python3"])
    expectSuccess(python)
    let only = Self.sections(python.stdout)
    #expect(only.count == 1 && only.first?.heading.hasPrefix("== python3 (pid ") == true, "\(python)")
    #expect(!python.stdout.contains("leak_site") && !python.stdout.contains("churn_site")
            && !python.stdout.contains("xmalloc"), "--comm python3 shows other programs' sites:\n\(python)")
    let collapsed = try String(contentsOfFile: prefix + ".total.collapsed", encoding: .utf8)
    #expect(collapsed.split(separator: "\n").allSatisfy { $0.hasPrefix("python3 (pid ") }, "\(collapsed.prefix(500))")
    let svg = try String(contentsOfFile: prefix + ".svg", encoding: .utf8)
    #expect(svg.contains("<title>python3 (pid ") && !svg.contains("leak_site"), "one root per process, python's only")
    print("measured: leak view of prof_leaks: \(leaks.sites); python3 alone: \(only.first?.sites ?? [])")
  }

  @Test func baseShowsThePlantedGrowth() throws {
    let program = try TestProgram.build("prof_leaks.c", linkage: .plain)
    let dir = try Paths.makeTempDir("base")
    let run = try Subprocess.run([program, "grow", dir + "/before.prof", dir + "/after.prof"],
                                 env: try preloadEnvironment(["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_FILE": dir + "/exit.prof"]))
    expectSuccess(run, stdout: ["done"])
    for view in ["alloc", "live"] {
      let diff = try Subprocess.run([try Paths.launcher(), "prof", "--out", dir + "/d", "--view", view,
                                     "--base", dir + "/before.prof", "--from", dir + "/after.prof"], timeout: 120)
      expectSuccess(diff)
      let section = try #require(Self.sections(diff.stdout).first, "\(diff)")
      #expect(section.sites.first == "grow_site", "--base --view \(view): the growth is not first:\n\(diff)")
      #expect(!section.sites.contains("steady_site"), "steady_site did not change:\n\(diff)")
      let row = try #require(diff.stdoutLines.first { $0.contains("grow_site") })
      let growth = Double(row.split(separator: " ").first.map { $0.dropFirst() } ?? "") ?? 0
      #expect(row.hasPrefix("  +") && abs(growth - 64) <= 16, "about +64 MiB: \(row)")
      print("measured: --base --view \(view): \(row.trimmingCharacters(in: .whitespaces))")
    }
  }

  @Test func theIntervalWritesNumberedProfilesOfWhatIsLiveThen() throws {
    let program = try TestProgram.build("prof_leaks.c", linkage: .plain)
    let dir = try Paths.makeTempDir("interval")
    let started = Date()
    let run = try Subprocess.run([program, "tick", "1500"],
                                 env: try preloadEnvironment(["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_INTERVAL": "200ms",
                                                              "ZONEMALLOC_PROF_FILE": dir + "/t.prof"]), timeout: 60)
    expectSuccess(run, stdout: ["done"])
    let seconds = Date().timeIntervalSince(started)
    var dumps: [[String: Int]] = []
    while FileManager.default.fileExists(atPath: dir + "/t.prof.\(dumps.count + 1)") {
      dumps.append(try ProfilerTests().profileHeader(dir + "/t.prof.\(dumps.count + 1)"))
    }
    let reasons = try (1...max(dumps.count, 1)).map { n in
      try String(contentsOfFile: dir + "/t.prof.\(n)", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("reason ") }
    }
    #expect(dumps.count >= 4 && Double(dumps.count) <= seconds * 5 + 1, "\(seconds) s at 200 ms: \(dumps.count) profiles")
    #expect(reasons.allSatisfy { $0 == "reason interval" }, "\(reasons)")
    let live = dumps.map { $0["live_bytes"] ?? 0 }
    #expect(live == live.sorted() && (live.last ?? 0) > (live.first ?? 0) + (50 << 20),
            "1 MiB more every 10 ms: live bytes grow: \(live)")
    let diff = try Subprocess.run([try Paths.launcher(), "prof", "--out", dir + "/d", "--view", "live", "--base",
                                   dir + "/t.prof.1", "--from", dir + "/t.prof.\(dumps.count)"], timeout: 120)
    expectSuccess(diff)
    #expect(Self.sections(diff.stdout).first?.sites.first == "tick_site", "\(diff)")
    print("measured: \(dumps.count) interval profiles in \(seconds) s, live bytes \(live)")
  }

  @Test func pprofListsTheSameTopThreeSites() throws {
    let program = try TestProgram.build("prof_sites.c", linkage: .plain)
    let dir = try Paths.makeTempDir("pprof")
    let (outcome, _) = try zmProf([program, "256"], options: ["--pprof", dir + "/heap.pb.gz"])
    expectSuccess(outcome)
    let table = Array((Self.sections(outcome.stdout).first?.sites ?? []).prefix(3))
    #expect(table == ["hot_a", "hot_b", "cold_c"], "\(outcome)")
    expectSuccess(try Subprocess.run(["gzip", "-t", dir + "/heap.pb.gz"]))
    let proto = try Subprocess.shell("gzip -dc '\(dir)/heap.pb.gz' | tr -c '[:print:]' '\\n'")
    for name in ["alloc_space", "inuse_space", "peak_space", "hot_a", "prof_sites.c"] {
      #expect(proto.stdoutLines.contains { $0.contains(name) }, "\(name) is not in the profile's strings")
    }
    guard (try? Subprocess.run(["go", "version"]))?.succeeded == true else {
      print("skipped: go is not installed (apt-get install golang-go): go tool pprof -top not compared")
      return
    }
    let home = try Paths.makeTempDir("gohome")
    let top = try Subprocess.run(["go", "tool", "pprof", "-top", dir + "/heap.pb.gz"],
                                 env: ["HOME": home, "GOCACHE": home + "/cache", "PPROF_TMPDIR": home], timeout: 180)
    expectSuccess(top)
    let rows = top.stdoutLines.drop { !$0.contains("flat%") }.dropFirst()
    let pprofTop = Array(rows.compactMap { $0.split(separator: " ").last.map(String.init) }.prefix(3))
    #expect(pprofTop == table, "go tool pprof -top: \(pprofTop), zm prof: \(table)\n\(top.stdout)")
    print("measured: top three sites, zm prof \(table), go tool pprof -top \(pprofTop)")
  }

  @Test func oneSampleIsOneSample() throws {
    let program = try TestProgram.build("prof_leaks.c", linkage: .plain)
    let (outcome, _) = try zmProf([program, "one"], options: ["--rate", "16M"])
    expectSuccess(outcome)
    #expect(outcome.stdout.contains(" 1 sample ") || outcome.stdout.contains(" 1 sample,"), "\(outcome)")
    #expect(!outcome.stdout.contains(" 1 samples"), "\(outcome)")
  }

  @Test func aStrippedProgramIsNamedInAWarning() throws {
    let built = try TestProgram.build("prof_leaks.c", linkage: .plain)
    let stripped = try Paths.makeTempDir("stripped") + "/prof_leaks_stripped"
    #expect(try Subprocess.run(["objcopy", "--strip-all", built, stripped]).succeeded, "objcopy --strip-all")
    let (bare, _) = try zmProf([stripped, "one"], options: ["--rate", "64K"])
    expectSuccess(bare)
    let warning = bare.stderr.split(separator: "\n").filter { $0.contains("no symbol table (stripped)") }
    #expect(warning.count == 1 && warning[0].contains(stripped), "one warning naming the stripped program:\n\(bare.stderr)")
    let (whole, _) = try zmProf([built, "one"], options: ["--rate", "64K"])
    expectSuccess(whole)
    let line = whole.stderr.split(separator: "\n").first { $0.contains("no symbol table (stripped)") } ?? ""
    #expect(!line.contains(built), "the unstripped program is named as stripped:\n\(whole.stderr)")
  }

  @Test func theIntervalIsCheckedAndQuietIsQuiet() throws {
    let dir = try Paths.makeTempDir("quiet")
    for (value, accepted) in [("1s", true), ("250ms", true), ("7", true), ("50ms", false), ("2x", false), ("86401", false)] {
      let outcome = try Subprocess.run(["/bin/true"], env: try preloadEnvironment(
        ["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_INTERVAL": value, "ZONEMALLOC_PROF_FILE": dir + "/p.prof"]))
      expectSuccess(outcome)
      #expect(outcome.stderr.contains("ignoring ZONEMALLOC_PROF_INTERVAL=\(value)") == !accepted, "\(value): \(outcome)")
    }
    let quiet = try Subprocess.run(["/bin/true"], env: try preloadEnvironment(
      ["ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_QUIET": "1", "ZONEMALLOC_PROF_FILE": dir + "/q.prof"]))
    expectSuccess(quiet)
    #expect(quiet.stderr.isEmpty && FileManager.default.fileExists(atPath: dir + "/q.prof"), "\(quiet)")
  }
}
