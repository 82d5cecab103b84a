// FuzzTests.swift: the short run of the API fuzzer (Tests/fuzz, issue 23) in `swift test`.
//
// - The harness (api_fuzzer.c, built by Tests/fuzz/build.sh with the Swift toolchain's
//   clang and -fsanitize=fuzzer, linked against the library under test) runs for 20 s
//   from the seed corpus of Tests/fuzz/corpus and must find nothing.
// - The same harness with the planted bug (planted_realloc.c: a realloc that drops the
//   last byte it must keep) must fail within the same short run, with the shadow model's
//   "realloc kept contents" message; that shows the run can find that class of bug.
// - The AddressSanitizer build of the harness (zonemalloc reached through dlsym) runs
//   for 10 s: the harness's own memory use is checked while it drives the allocator.
// - An aligned operator new of an impossible size fails (libstdc++'s own operator, to
//   which zonemalloc hands a failed request, rounds SIZE_MAX up to a tiny size; the
//   exported operator hands it a size that stays impossible).
// Without a clang that has libFuzzer each test prints why and passes without running.
import Foundation
import Testing

extension Heavy {
  @Suite("API fuzzer: short runs")
  struct FuzzTests {
    static let fuzzDir = Paths.packageRoot + "/Tests/fuzz"

    /// The toolchain's clang next to `swift`, when it has the libFuzzer runtime.
    static let clang: String? = {
      let outcome = try? Subprocess.shell("command -v swift")
      guard let swift = outcome?.stdoutLines.first, let real = try? Paths.resolved(swift) else { return nil }
      let clang = (real as NSString).deletingLastPathComponent + "/clang"
      let probe = try? Subprocess.shell("echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' "
                                        + "| '\(clang)' -x c -fsanitize=fuzzer - -o /dev/null")
      return probe?.succeeded == true ? clang : nil
    }()

    /// Builds a variant of the harness into the scratch folder; nil (with a printed line)
    /// when there is no fuzzer-capable clang.
    func build(_ variant: String) throws -> String? {
      guard let clang = Self.clang else {
        print("skipped: no clang with -fsanitize=fuzzer next to swift; the fuzzer was not run")
        return nil
      }
      let out = Paths.scratch + "/fuzz/api_fuzzer-" + variant
      let outcome = try Subprocess.run([Self.fuzzDir + "/build.sh", variant, out],
                                       env: ["ZF_CC": clang, "ZONEMALLOC_LIB": try Paths.library()], timeout: 300)
      guard outcome.succeeded else { throw HarnessError("cannot build the \(variant) fuzzer:\n\(outcome)") }
      return out
    }

    /// Runs the fuzzer for `seconds` from a copy of the seed corpus (new units go to the
    /// copy, never into the repository).
    func fuzz(_ binary: String, seconds: Int, env: [String: String] = [:]) throws -> Outcome {
      let work = try Paths.makeTempDir("fuzz-corpus")
      let artifacts = try Paths.makeTempDir("fuzz-artifacts")
      return try Subprocess.run([binary, "-max_total_time=\(seconds)", "-rss_limit_mb=0", "-print_final_stats=1",
                                 "-artifact_prefix=" + artifacts + "/", work, Self.fuzzDir + "/corpus"],
                                env: env, timeout: Double(seconds) + 120)
    }

    /// libFuzzer's final statistic `name`.
    func stat(_ outcome: Outcome, _ name: String) -> Int {
      outcome.stderr.split(separator: "\n").first { $0.hasPrefix("stat::\(name):") }
        .flatMap { Int($0.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") } ?? -1
    }

    @Test func shortRunFromTheSeedCorpusFindsNothing() throws {
      guard let fuzzer = try build("plain") else { return }
      let outcome = try fuzz(fuzzer, seconds: 20)
      #expect(outcome.succeeded && outcome.stderr.contains("Done "), "the fuzzer found something:\n\(outcome)")
      #expect(!outcome.stderr.contains("zf: FAILED"), "\(outcome)")
      let runs = stat(outcome, "number_of_executed_units")
      #expect(runs > 1000, "too few inputs ran in 20 s: \(runs)\n\(outcome)")
      print("measured: API fuzzer, 20 s from the seed corpus: \(runs) inputs, \(stat(outcome, "average_exec_per_sec")) "
            + "exec/s, \(stat(outcome, "new_units_added")) new units, no finding")
    }

    @Test func plantedReallocThatDropsTheLastByteIsFound() throws {
      guard let fuzzer = try build("planted") else { return }
      let outcome = try fuzz(fuzzer, seconds: 20)
      #expect(!outcome.succeeded, "the planted bug was not found in 20 s:\n\(outcome)")
      #expect(outcome.stderr.contains("zf: FAILED") && outcome.stderr.contains("realloc kept contents"),
              "the run failed for another reason:\n\(outcome)")
      print("measured: planted realloc bug found after \(String(format: "%.1f", outcome.seconds)) s: "
            + "\(outcome.stderr.split(separator: "\n").first { $0.hasPrefix("zf: FAILED") } ?? "")")
    }

    @Test func addressSanitizerBuildOfTheHarnessFindsNothing() throws {
      guard let fuzzer = try build("asan") else { return }
      let outcome = try fuzz(fuzzer, seconds: 10, env: ["ASAN_OPTIONS": "allocator_may_return_null=1"])
      #expect(outcome.succeeded && !outcome.stderr.contains("ERROR: AddressSanitizer"), "\(outcome)")
      print("measured: ASan build of the API fuzzer, 10 s: \(stat(outcome, "number_of_executed_units")) inputs")
    }

    @Test func alignedNewOfAnImpossibleSizeFails() throws {
      guard let fuzzer = try build("plain") else { return }
      expectSuccess(try Subprocess.run([fuzzer, Self.fuzzDir + "/known/aligned_new_overflow"], timeout: 60))
    }
  }
}
