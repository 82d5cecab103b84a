// StaticLinkTests.swift: lib/libzonemalloc.a and the CMake package that `zm install`
// puts in a prefix (Sources/ZoneLauncher/StaticArchive.swift, CMakePackage.swift).
//
// The archive must export exactly what the shared library exports (the malloc family,
// zm_*, _exit, the C++ operators) and keep every other symbol local, the weak swift_*
// runtime functions of Embedded Swift among them, so that it cannot take the place of a
// Swift program's runtime. A CMake project that finds the package with
// find_package(zonemalloc 0.1) (CMAKE_PREFIX_PATH) must build a program against each
// target, and each program must allocate through zonemalloc (zm_owns, and the summary's
// malloc_count): the shared one loads the prefix's libzonemalloc.so.0; the static one
// loads no libzonemalloc at all, and names no symbol of the archive (only libc's strdup
// calls malloc), so only the target's --undefined=malloc brings the allocator in.
// api_checks.c also runs linked with the archive (LinkedProgramTests). Without cmake the
// CMake test prints a line and skips.
import Foundation
import Testing

@Suite("static library and CMake package")
struct StaticLinkTests {
  /// The global symbols an ELF file defines (nm's letters in upper case), with `flags`.
  func definedGlobals(_ flags: [String], _ path: String) throws -> Set<String> {
    let nm = try Subprocess.run(["nm"] + flags + ["--defined-only", path])
    #expect(nm.succeeded, "\(nm)")
    return Set(nm.stdoutLines.compactMap { line -> String? in
      let words = line.split(separator: " ")
      guard words.count == 3, let kind = words[1].first, kind.isUppercase else { return nil }
      return String(words[2])
    })
  }

  @Test func theArchiveExportsWhatTheSharedLibraryExportsAndNothingElse() throws {
    let archive = try TestProgram.installed() + "/lib/libzonemalloc.a"
    let members = try Subprocess.run(["ar", "t", archive])
    expectSuccess(members, stdout: ["zonemalloc.o"])
    let exported = try definedGlobals(["-D"], try Paths.library())
    let global = try definedGlobals([], archive)
    #expect(exported.count >= 60 && exported.contains("malloc") && exported.contains("zm_stats"), "\(exported.sorted())")
    let extra = global.subtracting(exported).sorted(), missing = exported.subtracting(global).sorted()
    #expect(global == exported, "archive only: \(extra); shared library only: \(missing)")
    let undefined = try Subprocess.run(["nm", "--undefined-only", archive])
    #expect(!undefined.stdout.contains("swift"), "the archive needs a Swift runtime:\n\(undefined)")
  }

  @Test func aCMakeProjectFindsThePackageAndLinksEachTarget() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/cmake") else {
      print("skipped: cmake is not installed (apt-get install cmake)")
      return
    }
    let prefix = try TestProgram.installed()
    let project = try Paths.makeTempDir("cmake")
    try """
      cmake_minimum_required(VERSION 3.16)
      project(zmdemo C)
      find_package(zonemalloc 0.1 REQUIRED)
      add_executable(demo_shared demo.c)
      target_link_libraries(demo_shared PRIVATE zonemalloc::zonemalloc)
      add_executable(demo_static plain.c)
      target_link_libraries(demo_static PRIVATE zonemalloc::zonemalloc-static)

      """.write(toFile: project + "/CMakeLists.txt", atomically: false, encoding: .utf8)
    try """
      #include <stdio.h>
      #include <stdlib.h>
      #include <string.h>
      #include <zonemalloc.h>
      int main(void) {
        char *copy = strdup("zonemalloc");
        printf("demo owns %d\\n", zm_owns(copy));
        return 0;
      }

      """.write(toFile: project + "/demo.c", atomically: false, encoding: .utf8)
    try """
      #include <stdio.h>
      #include <string.h>
      int main(void) { puts(strdup("plain")); return 0; }

      """.write(toFile: project + "/plain.c", atomically: false, encoding: .utf8)
    let configure = try Subprocess.run(["cmake", "-S", project, "-B", project + "/build",
                                        "-DCMAKE_PREFIX_PATH=" + prefix], timeout: 180)
    expectSuccess(configure)
    expectSuccess(try Subprocess.run(["cmake", "--build", project + "/build"], timeout: 180))
    for (name, output) in [("demo_shared", "demo owns 1"), ("demo_static", "plain")] {
      let program = project + "/build/" + name
      let run = try Subprocess.run([program], env: ["ZONEMALLOC_STATS": "1"])
      expectSuccess(run, stdout: [output])
      #expect(SummaryTests.headers(run.stderr).count == 1, "\(name) printed no summary:\n\(run)")
      #expect(StatsSummary.require(run)["malloc_count"] ?? 0 >= 1, "\(run)")
      let ldd = try Subprocess.run(["ldd", program])
      let loaded = ldd.stdoutLines.filter { $0.contains("libzonemalloc") }
        .map { $0.trimmingCharacters(in: .whitespaces).components(separatedBy: " (")[0] }
      let expected = name == "demo_shared" ? ["libzonemalloc.so.0 => \(prefix)/lib/libzonemalloc.so.0"] : []
      #expect(loaded == expected, "\(ldd)")
    }
  }
}
