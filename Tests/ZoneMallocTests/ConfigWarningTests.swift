// ConfigWarningTests.swift: the warnings about the ZONEMALLOC_* settings
// (Sources/ZoneCore/Policy/EnvironmentScan.swift, KnownVariables.swift; zm's
// WarningMarker.swift).
//
// A name that is no variable gets one line naming the nearest known one (or saying it is
// ignored when none is near); a known name gets none. Under `zm run`, a bad value is
// reported once for the whole command, by the first process, and not again by the
// processes of a pipeline or by a program the shell executes in its place, while a
// process whose settings differ (the script set a bad value) reports its own. Without
// zm every process reports, as docs/CONFIGURATION.md says.
import Foundation
import Testing

@Suite("configuration warnings: unknown names, once per run")
struct ConfigWarningTests {
  static let badLimit = "zonemalloc: ignoring ZONEMALLOC_LIMIT=lots (expected a size such as 512M or 2G "
    + "(at least 1M)); the default stays in force"

  /// The lines of stderr that come from zonemalloc.
  func warnings(_ outcome: Outcome) -> [String] {
    outcome.stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("zonemalloc: ") }
  }

  @Test(arguments: [
    ("ZONEMALLOC_STAT", "zonemalloc: unknown variable ZONEMALLOC_STAT; did you mean ZONEMALLOC_STATS?"),
    ("ZONEMALLOC_GUARD_RATES", "zonemalloc: unknown variable ZONEMALLOC_GUARD_RATES; did you mean ZONEMALLOC_GUARD_RATE?"),
    ("ZONEMALLOC_stats_format", "zonemalloc: unknown variable ZONEMALLOC_stats_format; did you mean ZONEMALLOC_STATS_FORMAT?"),
    ("ZONEMALLOC_FOO", "zonemalloc: unknown variable ZONEMALLOC_FOO (ignored)"),
  ])
  func anUnknownNameGetsOneWarningWithTheNearestKnownOne(_ name: String, _ expected: String) throws {
    let outcome = try Subprocess.run(["/bin/true"], env: try preloadEnvironment([name: "1"]))
    expectSuccess(outcome)
    #expect(warnings(outcome) == [expected], "\(outcome)")
  }

  @Test func knownNamesGetNoWarning() throws {
    let env = try preloadEnvironment(["ZONEMALLOC_GUARD_RATE": "0", "ZONEMALLOC_LIB": "/nowhere",
                                      "ZONEMALLOC_STATS_FORMAT": "json", "ZONEMALLOC_BACKGROUND": "auto"])
    let outcome = try Subprocess.run(["/bin/true"], env: env)
    expectSuccess(outcome)
    #expect(warnings(outcome) == [], "\(outcome)")
  }

  func zmRun(_ script: String, _ env: [String: String] = [:]) throws -> Outcome {
    try Subprocess.run([try Paths.launcher(), "run", "--", "/bin/sh", "-c", script],
                       env: env.merging(["ZONEMALLOC_LIB": try Paths.library()]) { $1 }, timeout: 60)
  }

  @Test func aBadValueIsReportedOncePerZmRun() throws {
    let pipeline = "ls / | sort | head -1"
    let once = try zmRun(pipeline, ["ZONEMALLOC_LIMIT": "lots", "ZONEMALLOC_STAT": "1"])
    expectSuccess(once)
    #expect(warnings(once) == [Self.badLimit,
                               "zonemalloc: unknown variable ZONEMALLOC_STAT; did you mean ZONEMALLOC_STATS?"],
            "\(once)")
    let executed = try zmRun("exec ls -d /", ["ZONEMALLOC_LIMIT": "lots"])
    expectSuccess(executed, stdout: ["/"])
    #expect(warnings(executed) == [Self.badLimit], "\(executed)")
    let changed = try zmRun("ZONEMALLOC_LIMIT=lots ls -d /; ls -d /")
    expectSuccess(changed)
    #expect(warnings(changed) == [Self.badLimit], "the script's own bad value went unreported:\n\(changed)")
    let preloaded = try Subprocess.run(["/bin/sh", "-c", pipeline],
                                       env: try preloadEnvironment(["ZONEMALLOC_LIMIT": "lots"]))
    #expect(warnings(preloaded).count == 4, "without zm each of the 4 processes reports:\n\(preloaded)")
  }
}
