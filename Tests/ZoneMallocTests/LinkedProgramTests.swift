// LinkedProgramTests.swift: the malloc family by its libc names, from a C program
// compiled with -I<pkg>/include and linked with -lzonemalloc, and again linked with the
// static library lib/libzonemalloc.a that `zm install` makes (Tests/programs/api_checks.c).
//
// Each named check runs in its own process; the program also asserts with zm_owns()
// that the blocks came from zonemalloc, so a program that silently got glibc's malloc
// fails. Being single-threaded, it also checks what the in-process tests cannot:
// counters (mallinfo2, zm_stats), a freed block no longer being owned, the memory limit.
import Foundation
import Testing

@Suite("malloc family via a C program linked with -lzonemalloc or libzonemalloc.a")
struct LinkedProgramTests {
  static let checks = [
    "malloc_zero", "free_null", "realloc_null", "realloc_zero", "calloc_overflow", "calloc_zeroes",
    "huge_malloc", "reallocarray_overflow", "posix_memalign_invalid", "posix_memalign_powers",
    "aligned_alloc_invalid", "memalign_valloc_pvalloc", "size_sweep", "realloc_contents", "malloc_trim",
    "mallinfo2", "mallopt", "owns", "version", "stats_snapshot", "stats_peaks", "set_limit",
  ]

  static let linkages: [Linkage] = [.linked, .archive]

  func runCheck(_ name: String, _ linkage: Linkage) throws -> Outcome {
    let program = try TestProgram.build("api_checks.c", linkage: linkage)
    return try Subprocess.run([program, name], timeout: 60)
  }

  @Test(arguments: checks, linkages)
  func apiCheck(_ name: String, _ linkage: Linkage) throws {
    expectSuccess(try runCheck(name, linkage), stdout: ["ok \(name)"])
  }

  @Test(arguments: linkages)
  func mallocStatsPrintsZonemallocSummaryToStderr(_ linkage: Linkage) throws {
    let outcome = try runCheck("malloc_stats", linkage)
    expectSuccess(outcome, stdout: ["ok malloc_stats"])
    #expect(outcome.stderr.contains("zonemalloc:"), "malloc_stats printed no zonemalloc summary:\n\(outcome)")
  }
}
