// Expectations.swift: checks on subprocess outcomes, shared by every test that runs a
// program, plus the environment that preloads the library, the comparison of a command
// under glibc and under zonemalloc, and `ulimit -v` for a child.
//
// Each check records a failure that carries the whole outcome (command, how it ended,
// the tail of stdout and stderr), so a failing test says what the program did.
import Foundation
import Testing

/// The environment addition that puts the library under test in front of glibc.
func preloadEnvironment(_ extra: [String: String] = [:]) throws -> [String: String] {
  ["LD_PRELOAD": try Paths.library()].merging(extra) { _, new in new }
}

/// Expects exit status 0 and, when given, exactly these stdout lines.
func expectSuccess(_ outcome: Outcome, stdout expected: [String]? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(outcome.succeeded, "\(outcome)", sourceLocation: sourceLocation)
  if let expected {
    #expect(outcome.stdoutLines == expected, "unexpected output:\n\(outcome)", sourceLocation: sourceLocation)
  }
}

/// Expects exit status 0 and a single stdout line starting with `prefix`; returns the
/// `name=value` fields of that line.
@discardableResult
func expectReport(_ outcome: Outcome, prefix: String,
                  sourceLocation: SourceLocation = #_sourceLocation) -> [String: Int] {
  expectSuccess(outcome, sourceLocation: sourceLocation)
  let line = outcome.stdoutLines.last ?? ""
  #expect(line.hasPrefix(prefix), "expected a line starting with `\(prefix)`:\n\(outcome)",
          sourceLocation: sourceLocation)
  return reportFields(line)
}

/// The `name=value` integer fields of a report line such as "storm ok threads=8 orphan_frees=3".
func reportFields(_ line: String) -> [String: Int] {
  var fields: [String: Int] = [:]
  for word in line.split(separator: " ") {
    let parts = word.split(separator: "=", maxSplits: 1)
    if parts.count == 2, let value = Int(parts[1]) { fields[String(parts[0])] = value }
  }
  return fields
}

/// argv run under `ulimit -v kib` (RLIMIT_AS set in the child, before it execs argv).
func underAddressSpaceLimit(kib: Int, _ argv: [String]) -> [String] {
  ["/bin/sh", "-c", "ulimit -v \(kib) && exec \"$@\"", "sh"] + argv
}

/// Runs argv under glibc and then with the library preloaded (`env` in both, `preloaded`
/// added to the second) and expects both to succeed with the same stdout and stderr.
@discardableResult
func expectSameAsGlibc(_ argv: [String], env: [String: String] = [:], preloaded: [String: String] = [:],
                       timeout: Double = 120, sourceLocation: SourceLocation = #_sourceLocation)
  throws -> (glibc: Outcome, zonemalloc: Outcome)
{
  let glibc = try Subprocess.run(argv, env: env, timeout: timeout)
  let zonemalloc = try Subprocess.run(argv, env: try preloadEnvironment(env.merging(preloaded) { _, new in new }),
                                      timeout: timeout)
  #expect(glibc.succeeded, "the command fails under glibc too:\n\(glibc)", sourceLocation: sourceLocation)
  #expect(zonemalloc.succeeded, "\(zonemalloc)", sourceLocation: sourceLocation)
  #expect(zonemalloc.stdout == glibc.stdout && zonemalloc.stderr == glibc.stderr,
          "output differs from glibc's:\n--- under glibc ---\n\(glibc)\n--- with zonemalloc ---\n\(zonemalloc)",
          sourceLocation: sourceLocation)
  return (glibc, zonemalloc)
}

/// The value of "0x..." text.
func hexValue(_ text: String) -> UInt64? {
  text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : nil
}

/// Every "0x..." number in text, whatever its spelling (0x1f, 0x000000000000001F).
func hexNumbers(in text: String) -> Set<UInt64> {
  Set(text.matches(of: /0[xX][0-9a-fA-F]{1,16}/).compactMap { hexValue(String($0.output).lowercased()) })
}
