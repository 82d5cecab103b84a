// StatsReaderTests.swift: `zm stats` and `zm top` trust nothing in a stats page, and
// check their arguments.
//
// A python3 process (Tests/programs/stats_page_forge.py) publishes a crafted page as its
// own: valid magic, version and pid, mapped so that /proc/<pid>/maps shows it. With
// every counter and the time stamp at 2^64-1, zm stats prints them and zm top runs (its
// cached column is a sum that used to overflow and kill it with SIGILL). Names without
// their NUL, a file truncated after the header and a counter count past the layout are
// refused with one line; a sequence counter that stays odd ends the wait with one line.
// Escape sequences in a name and in the process name reach the terminal escaped. zm top
// refuses -d and -n values outside their range (-d 5000 and -d inf used to overflow
// usleep's argument and kill it with SIGILL), and both commands refuse a bad PID and
// name an operand after it. When /proc/PID/maps cannot be read (zm as nobody, the process
// root's) and there is no page, zm says it cannot tell whether zonemalloc is loaded.
import Foundation
import Testing

@Suite("zm stats and zm top against crafted pages")
struct StatsReaderTests {
  /// A python3 process publishing a page of the given kind; its pid.
  final class ForgedPage {
    let process: RunningProcess
    let pid: pid_t

    init(_ kind: String) throws {
      process = try RunningProcess(["python3", Paths.programs + "/stats_page_forge.py", kind])
      pid = pid_t(try #require(reportFields(try process.waitForLine("ready "))["pid"]))
    }

    deinit { unlink("/dev/shm/zonemalloc.\(pid)") } // the process is killed, not left to remove it
  }

  func zm(_ args: [String]) throws -> Outcome {
    try Subprocess.run([try Paths.launcher()] + args, timeout: 30)
  }

  /// Expects exit status 1, nothing on stdout and one line on stderr that contains text.
  func expectRefused(_ outcome: Outcome, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(outcome.exitCode == 1 && outcome.stdout.isEmpty, "\(outcome)", sourceLocation: sourceLocation)
    let lines = outcome.stderr.split(separator: "\n")
    #expect(lines.count == 1 && lines[0].contains(text) && lines[0].utf8.count < 300, "\(outcome)",
            sourceLocation: sourceLocation)
  }

  @Test func everyCounterAtTheMaximum() throws {
    let page = try ForgedPage("max")
    let stats = try zm(["stats", String(page.pid)])
    expectSuccess(stats)
    #expect(stats.stdoutLines.contains("lazy_cached 18446744073709551615 (16777216.0 TiB)"), "\(stats)")
    let top = try zm(["top", "-n", "2", "-d", "0.1", String(page.pid)])
    expectSuccess(top)
    let rows = top.stdoutLines.filter { $0.contains("TiB") }
    #expect(rows.count == 2 && rows.allSatisfy { $0.contains("18446744073709551615 (+0)") }, "\(top)")
  }

  @Test func namesWithoutTheirNulAreRefused() throws {
    let page = try ForgedPage("nonul")
    for command in ["stats", "top"] {
      expectRefused(try zm([command, String(page.pid)]), "the name of counter 1 is empty or does not end")
    }
  }

  @Test func aTruncatedPageIsRefused() throws {
    let page = try ForgedPage("truncated")
    expectRefused(try zm(["stats", String(page.pid)]), "is malformed: it is truncated to 1000 bytes")
  }

  @Test func aCountPastTheLayoutIsRefused() throws {
    let page = try ForgedPage("count")
    expectRefused(try zm(["stats", String(page.pid)]), "it claims 18446744073709551615 counters")
  }

  @Test func aPageThatNeverSettlesEndsTheWait() throws {
    let page = try ForgedPage("busy")
    expectRefused(try zm(["stats", String(page.pid)]), "its snapshot never settled")
  }

  @Test func escapeSequencesArePrintedEscaped() throws {
    let page = try ForgedPage("escapes")
    let stats = try zm(["stats", String(page.pid)])
    expectSuccess(stats)
    #expect(stats.stdoutLines.first?.contains("(\\x1b[31mred)") == true, "\(stats)")
    #expect(stats.stdoutLines.contains("allocated\\x1b]0;pwned\\x07\\x1b[2J 1007"), "\(stats)")
    let top = try zm(["top", "-n", "1", "-d", "0.1", String(page.pid)])
    expectSuccess(top)
    for outcome in [stats, top] {
      let controls = (outcome.stdout + outcome.stderr).utf8.filter { $0 < 0x20 && $0 != 0x0a }
      #expect(controls.isEmpty, "control bytes \(controls) reach the terminal:\n\(outcome)")
    }
  }

  @Test(arguments: [["-d", "5000"], ["-d", "inf"], ["-d", "nan"], ["-d", "1e400"], ["-d", "0.05"], ["-d", "-1"],
                    ["-n", "0"], ["-n", "99999999999999999999"], ["-n", "1000000001"], ["-n", "2.5"]])
  func topRefusesValuesOutsideTheirRange(option: [String]) throws {
    let page = try ForgedPage("valid")
    let outcome = try zm(["top"] + option + [String(page.pid)])
    #expect(outcome.exitCode == 2 && outcome.stdout.isEmpty, "\(outcome)")
    let range = option[0] == "-d" ? "expected a number from 0.1 to 3600" : "expected a whole number from 1 to 1000000000"
    #expect(outcome.stderr == "zm: bad \(option[0]) \(option[1]): \(range)\n", "\(outcome)")
  }

  @Test(arguments: ["0", "-1", "abc", "4194305", "99999999999"])
  func aBadPidIsRefused(pid: String) throws {
    for command in ["stats", "top"] {
      let outcome = try zm([command, "--", pid])
      #expect(outcome.exitCode == 2, "\(outcome)")
      #expect(outcome.stderr == "zm: bad PID \(pid): expected a whole number from 1 to 4194304\n", "\(outcome)")
    }
  }

  @Test func anOperandAfterThePidIsNamed() throws {
    let page = try ForgedPage("valid")
    for args in [["stats", String(page.pid), "extra"], ["top", "-n", "2", String(page.pid), "extra"]] {
      let outcome = try zm(args)
      #expect(outcome.exitCode == 2 && outcome.stdout.isEmpty, "\(outcome)")
      #expect(outcome.stderr.hasPrefix("zm: \(args[0]) takes one PID; unexpected after it: extra\n"), "\(outcome)")
    }
  }

  @Test func unreadableMapsWithoutAPageIsNoVerdict() throws {
    guard SetuidTests.canRun else {
      print("skipped: needs root and setpriv to run zm as another user")
      return
    }
    let sleeper = try RunningProcess(["sleep", "30"])
    let outcome = try Subprocess.run(SetuidTests.asNobody([try Paths.launcher(), "stats", String(sleeper.pid)]),
                                     timeout: 30)
    expectRefused(outcome, "cannot tell whether process \(sleeper.pid) loaded zonemalloc")
    #expect(!outcome.stderr.contains("loaded zonemalloc but"), "\(outcome)")
  }
}
