// Expectations.swift: checks on subprocess outcomes, shared by every test that runs a
// program, plus the environment that preloads the library.
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
