// PageSizeTests.swift: alignment, guard pages and release at each page size the
// allocator supports, 4, 16 and 64 KiB (issue 25), natively and, where qemu-aarch64 is
// installed, for aarch64 under qemu-user (Tests/programs/page_geometry.c).
//
// This host and qemu-user run with 4 KiB pages, so the size is forced through the
// page-size source's test override, ZONEMALLOC_TEST_PAGE_SIZE (which the core reads in
// place of getauxval(AT_PAGESZ)). Whether the library under test reads it is asked
// first: page_geometry's pvalloc(1) reports the page size the allocator believes in.
// Where the variable is not read yet, a forced size other than 4 KiB is recorded as a
// known issue (the core's part of issue 25) instead of a failure, with one line saying
// so; every check applies once it is read.
import Foundation
import Synchronization
import Testing

@Suite("page sizes: alignment, guard pages, release")
struct PageSizeTests {
  static let variable = "ZONEMALLOC_TEST_PAGE_SIZE"

  enum Arch: String, CaseIterable, Sendable {
    case native, aarch64
  }

  /// Runs page_geometry with the page size forced (and the guarded slots on for the guard modes).
  static func run(_ arch: Arch, page: Int, mode: String, checking checked: Int? = nil) throws -> Outcome {
    var env = [variable: "\(page)"]
    if mode.hasPrefix("guard") {
      env["ZONEMALLOC_GUARD_RATE"] = "1"
      env["ZONEMALLOC_GUARD_UNDERFLOW"] = mode == "guard_under" ? "1" : "0"
    }
    let args = ["\(checked ?? page)", mode]
    switch arch {
    case .native:
      let program = try TestProgram.build("page_geometry.c", linkage: .plain)
      return try Subprocess.run([program] + args, env: try preloadEnvironment(env), timeout: 60)
    case .aarch64:
      return try CrossArch.run([try CrossArch.build("page_geometry.c")] + args, env: env, timeout: 120)
    }
  }

  private static let honoured = Mutex<[String: Bool]>([:])

  /// True when the library takes the forced size: pvalloc(1) then holds one such page.
  static func isHonoured(_ arch: Arch, page: Int) throws -> Bool {
    if page == 4096 { return true }
    let key = "\(arch.rawValue)-\(page)"
    if let known = honoured.withLock({ $0[key] }) { return known }
    let probe = try run(arch, page: page, mode: "align", checking: 4096)
    let answer = reportFields(probe.stdoutLines.last ?? "")["pvalloc_usable"] == page
    honoured.withLock { $0[key] = answer }
    return answer
  }

  func check(_ outcome: Outcome, mode: String, page: Int) {
    let f = expectReport(outcome, prefix: "\(mode == "guard_under" ? "guard" : mode) ok page=\(page)")
    if mode == "align" { #expect(f["pvalloc_usable"] == page, "pvalloc(1) holds one page: \(f)") }
  }

  @Test(arguments: Arch.allCases, [4096, 16384, 65536])
  func geometryHoldsAtThePageSize(arch: Arch, page: Int) throws {
    if arch == .aarch64 && CrossArch.skipped("page sizes") { return }
    let modes = ["align", "guard", "guard_under", "release"]
    guard try Self.isHonoured(arch, page: page) else {
      print("known issue: \(Self.variable)=\(page) is not read by the \(arch.rawValue) library yet: "
            + "pvalloc(1) holds 4 KiB (the page-size source of issue 25)")
      withKnownIssue("\(Self.variable) is not read by the core yet", isIntermittent: true) {
        for mode in modes { check(try Self.run(arch, page: page, mode: mode), mode: mode, page: page) }
      }
      return
    }
    var lines: [String] = []
    for mode in modes {
      let outcome = try Self.run(arch, page: page, mode: mode)
      check(outcome, mode: mode, page: page)
      lines.append(outcome.stdoutLines.last ?? "")
    }
    print("measured: \(arch.rawValue) at \(page >> 10) KiB pages: " + lines.joined(separator: "; "))
  }
}
