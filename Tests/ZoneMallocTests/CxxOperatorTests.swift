// CxxOperatorTests.swift: the C++ operators new and delete exported by libzonemalloc.so
// (Sources/ZoneExports/Operators.c).
//
// - nm -D shows every replaceable operator of C++17 defined, and ldd shows no libstdc++.
// - Tests/programs/cxx_operators.cpp, preloaded and linked: every operator resolves into
//   libzonemalloc, every form hands out zonemalloc blocks with the asked alignment (1 to
//   1 MiB), sized delete with the requested size frees, nothrow new of SIZE_MAX/2 is
//   nullptr, the throwing forms throw std::bad_alloc, and a new_handler that frees memory
//   lets a failed new under a memory cap succeed (libstdc++'s retry loop).
// - Tests/programs/operators_from_c.c, without libstdc++: nothrow forms return NULL and a
//   failed throwing new aborts with one line.
import Foundation
import Testing

@Suite("C++ operators new and delete")
struct CxxOperatorTests {
  static let operators = [
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
  ]

  @Test func everyOperatorIsExported() throws {
    let outcome = try Subprocess.run(["nm", "-D", "--defined-only", try Paths.library()])
    expectSuccess(outcome)
    let defined = Set(outcome.stdoutLines.compactMap { line -> String? in
      let fields = line.split(separator: " ")
      return fields.count == 3 && fields[1] == "T" ? String(fields[2]) : nil
    })
    #expect(Set(Self.operators).subtracting(defined).isEmpty, "not exported: \(Set(Self.operators).subtracting(defined))")
  }

  @Test func libstdcxxIsNotLinked() throws {
    let outcome = try Subprocess.run(["ldd", try Paths.library()])
    expectSuccess(outcome)
    #expect(!outcome.stdout.contains("libstdc++"), "\(outcome.stdout)")
  }

  @Test(arguments: [Linkage.plain, Linkage.linked])
  func cxxProgram(linkage: Linkage) throws {
    let program = try TestProgram.build("cxx_operators.cpp", linkage: linkage)
    let env = linkage == .plain ? try preloadEnvironment() : [:]
    let outcome = try Subprocess.run([program], env: env)
    expectSuccess(outcome)
    #expect(outcome.stdout.hasPrefix("cxx operators ok "), "\(outcome)")
  }

  @Test(arguments: ["roundtrip", "nothrow"])
  func fromCWithoutLibstdcxx(check: String) throws {
    let program = try TestProgram.build("operators_from_c.c", linkage: .linked)
    expectSuccess(try Subprocess.run([program, check]), stdout: ["ok \(check)"])
  }

  @Test func failedThrowingNewWithoutLibstdcxxAborts() throws {
    let program = try TestProgram.build("operators_from_c.c", linkage: .linked)
    let outcome = try Subprocess.run([program, "throwing"])
    #expect(outcome.signal == SIGABRT, "\(outcome)")
    #expect(outcome.stderr == "zonemalloc: operator new: out of memory\n", "\(outcome)")
  }
}
