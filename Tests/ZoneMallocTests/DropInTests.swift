// DropInTests.swift: zonemalloc as a drop-in wherever glibc works (issue 12). Each case
// runs the release library, preloaded into real programs or into the C programs of
// Tests/programs, and compares with glibc where glibc has an answer.
//
// - Address-space limits (Heavy): python3, perl, bash, gcc, a sort of 100k lines and
//   as_limit.c (32 threads allocating small, medium and big blocks) under `ulimit -v`
//   of 1 GiB and 256 MiB print exactly what they print under glibc, and succeed;
//   as_limit.c also lowers RLIMIT_AS itself after its first malloc (to 200 MiB, and to
//   64 MiB, where glibc still works) and then starts 16 threads.
// - glibc's blocks (glibc_blocks.c): free, realloc and malloc_usable_size of
//   __libc_malloc blocks (heap, thread arena, mmapped chunks) with every fd in use, and
//   with no /proc (unshare -Urm and a tmpfs over /proc).
// - Forged headers (forged_free.c): a fake glibc chunk header before an address inside a
//   small, medium or big block, or in arena space never carved, is refused with one line
//   "zonemalloc: free(): invalid pointer 0x..." and SIGABRT; a SIGABRT handler then
//   finds the pages the header named still mapped and unchanged.
// - Cross-thread double frees (double_free_threads.c): owner-then-foreign,
//   foreign-then-owner and foreign-then-foreign of a 64 B block abort in 100 runs of 100
//   (and of a 100 KB span in 20 of 20), before the program's allocation loop sees a
//   block handed out twice.
// - No hidden thread (single_thread_release.c): a single-threaded program that freed
//   8 MiB can unshare(CLONE_NEWUSER) 2 s later, and its RSS is back within 4 MiB of its
//   baseline (at least half of the 8 MiB returned without a thread);
//   with ZONEMALLOC_BACKGROUND=1 the same check sees the thread (the control).
// - Key destructors (key_destructor_storm.c, Heavy): 50,000 threads whose key destructor
//   allocates and re-arms the key in every round leave at most ncpus + 1 zones and
//   peak RSS within 2x of the same churn without destructor allocations; also under a
//   64 MiB ZONEMALLOC_LIMIT.
// - glibc's reports (glibc_reports.c): memalign(2^63, 2^63), a failing posix_memalign,
//   malloc_info(1, f), mallinfo and malloc_info(0, f) return and set what glibc does, the
//   XML has glibc's element structure, and the figures are zonemalloc's counters.
// - ZONEMALLOC_BACKGROUND=1 and 0: a threaded python3 one-liner prints what it does
//   under glibc.
// Each test prints a "measured:" line for the record.
import Foundation
import Testing

@Suite("drop-in: glibc's blocks, forged pointers, double frees, no hidden thread, reports")
struct DropInTests {
  // MARK: - glibc's blocks without /proc

  func expectGlibcBlocksWork(_ outcome: Outcome, mode: String) -> [String: Int] {
    let f = expectReport(outcome, prefix: "glibc blocks ok mode=\(mode) ")
    #expect(f["blocks"] == 24, "\(f)")
    #expect(f["mmapped"] == 9, "the blocks of 300 KB, 2 MiB and 40 MiB are glibc's mmapped chunks: \(f)")
    #expect(f["arena"] == 1, "the second thread's block comes from a glibc thread arena: \(f)")
    return f
  }

  @Test func glibcBlocksWorkWithEveryFileDescriptorInUse() throws {
    let program = try TestProgram.build("glibc_blocks.c", linkage: .plain)
    let f = expectGlibcBlocksWork(try Subprocess.run([program, "nofile"], env: try preloadEnvironment()), mode: "nofile")
    print("measured: glibc blocks with RLIMIT_NOFILE exhausted (\(f["fds"] ?? 0) fds opened): \(f["blocks"] ?? 0) blocks "
          + "freed and realloc'd, usable sizes as glibc's (\(f["usable_small"] ?? 0), \(f["usable_mmapped"] ?? 0))")
  }

  @Test func glibcBlocksWorkWithoutProc() throws {
    let probe = try Subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /proc"], timeout: 30)
    guard probe.succeeded else {
      print("skipped: cannot unmount /proc here: `unshare -Urm sh -c 'mount -t tmpfs none /proc'` failed: "
            + probe.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
      return
    }
    let program = try TestProgram.build("glibc_blocks.c", linkage: .plain)
    let argv = ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /proc && exec \"$0\" noproc", program]
    let f = expectGlibcBlocksWork(try Subprocess.run(argv, env: try preloadEnvironment()), mode: "noproc")
    print("measured: glibc blocks without /proc: \(f["blocks"] ?? 0) blocks freed and realloc'd, usable sizes as glibc's")
  }

  // MARK: - Forged glibc headers

  struct Forgery: Sendable, CustomTestStringConvertible {
    let target: String, header: String, call: String
    var testDescription: String { "\(call) at \(target) with a \(header) header" }
  }

  /// free with each header at each target; realloc and malloc_usable_size with the
  /// mmapped one; the PROT_NONE part of a window cannot take a header.
  static let forgeries: [Forgery] =
    ["small", "medium", "big", "committed"].flatMap { target in
      ["mmapped", "main", "arena"].map { Forgery(target: target, header: $0, call: "free") }
        + ["realloc", "usable"].map { Forgery(target: target, header: "mmapped", call: $0) }
    } + ["free", "realloc", "usable"].map { Forgery(target: "reserved", header: "none", call: $0) }

  @Test(arguments: forgeries, [false, true])
  func forgedHeaderIsRefusedWithOneLine(forgery: Forgery, probe: Bool) throws {
    let program = try TestProgram.build("forged_free.c", linkage: .plain, optimize: "-O0")
    let argv = [program, forgery.target, forgery.header, forgery.call] + (probe ? ["probe"] : [])
    let outcome = try Subprocess.run(argv, env: try preloadEnvironment(), timeout: 30)
    if probe {
      #expect(outcome.exitCode == 42,
              "expected the SIGABRT handler's exit 42 (43: the named pages were unmapped, 44: changed):\n\(outcome)")
    } else {
      #expect(outcome.signal == SIGABRT, "expected death by SIGABRT:\n\(outcome)")
    }
    let pointer = try #require(outcome.stdoutLines.first.flatMap(hexValue), "no pointer printed:\n\(outcome)")
    let function = forgery.call == "usable" ? "malloc_usable_size" : forgery.call
    let lines = outcome.stderr.split(separator: "\n")
    #expect(lines.count == 1 && lines[0].hasPrefix("zonemalloc: \(function)(): invalid pointer 0x")
            && hexNumbers(in: String(lines[0])) == [pointer],
            "stderr must be exactly one line `zonemalloc: \(function)(): invalid pointer \(String(pointer, radix: 16))`:\n\(outcome)")
  }

  // MARK: - Cross-thread double frees

  /// One run of double_free_threads; nil when it aborted as it must, else what went wrong.
  func doubleFreeFailure(_ program: String, _ order: String, seed: Int, size: Int) throws -> String? {
    let outcome = try Subprocess.run([program, order, "\(seed)", "\(size)"], env: try preloadEnvironment(), timeout: 30)
    let pointer = outcome.stdoutLines.first.flatMap(hexValue)
    if outcome.signal == SIGABRT, let pointer, outcome.stderr.contains("zonemalloc:"),
       outcome.stderr.contains("double free"), hexNumbers(in: outcome.stderr).contains(pointer) {
      return nil
    }
    return "seed \(seed): \(outcome)"
  }

  @Test(arguments: ["owner_foreign", "foreign_owner", "foreign_foreign"], [(size: 64, runs: 100), (size: 100_000, runs: 20)])
  func crossThreadDoubleFreeAbortsBeforeADuplicateHandOut(order: String, block: (size: Int, runs: Int)) throws {
    let program = try TestProgram.build("double_free_threads.c", linkage: .plain)
    let start = Date()
    var failures: [String] = []
    for seed in 0..<block.runs {
      if let failure = try doubleFreeFailure(program, order, seed: seed, size: block.size) { failures.append(failure) }
    }
    let why = "did not abort with a double-free message naming the block (exit 3: no abort; exit 4: a block was "
      + "handed out twice):\n" + failures.prefix(3).joined(separator: "\n")
    #expect(failures.isEmpty, "\(failures.count) of \(block.runs) runs \(why)")
    print("measured: double free \(order) of a \(block.size) B block: \(block.runs - failures.count) of \(block.runs) "
          + "runs aborted, \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
  }

  // MARK: - No hidden thread

  /// RSS above the baseline that may remain of the 8 MiB freed: the current slab of each
  /// size class the program used (about 2 MiB) or the lazy cache's floor without a
  /// background thread (2 MiB). glibc keeps all 8 MiB of the small blocks.
  static let slackKiB = 4 * 1024

  func release(_ mode: String, env: [String: String]?) throws -> [String: Int] {
    let program = try TestProgram.build("single_thread_release.c", linkage: .plain)
    let outcome = try Subprocess.run([program, mode], env: try env.map { try preloadEnvironment($0) } ?? [:], timeout: 30)
    return expectReport(outcome, prefix: "release ok mode=\(mode) ")
  }

  @Test(arguments: ["big", "small"])
  func singleThreadedProgramCanUnshareAndGetsItsMemoryBack(mode: String) throws {
    let f = try release(mode, env: [:])
    let baseline = try #require(f["baseline_kb"])
    #expect(f["threads"] == 1 && f["unshare"] == 0, "a thread the program did not ask for, or unshare failed: \(f)")
    #expect((f["peak_kb"] ?? 0) >= baseline + 7 * 1024, "8 MiB were written: \(f)")
    #expect((f["after_free_kb"] ?? .max) <= baseline + Self.slackKiB, "RSS right after the frees: \(f)")
    #expect((f["after_sleep_kb"] ?? .max) <= baseline + Self.slackKiB, "RSS after the 2 s sleep: \(f)")
    let forced = try release(mode, env: ["ZONEMALLOC_BACKGROUND": "1"])
    #expect(forced["threads"] == 2 && forced["unshare"] == -1 && forced["errno"] == Int(EINVAL),
            "control: with ZONEMALLOC_BACKGROUND=1 the thread exists and unshare fails with EINVAL: \(forced)")
    let glibc = try release(mode, env: nil)
    func rss(_ r: [String: Int]) -> String {
      "baseline \(r["baseline_kb"] ?? 0), peak \(r["peak_kb"] ?? 0), after free \(r["after_free_kb"] ?? 0), "
        + "after sleep \(r["after_sleep_kb"] ?? 0) KiB, threads \(r["threads"] ?? 0), unshare \(r["unshare"] ?? 0)"
    }
    print("measured: free 8 MiB (\(mode)) then unshare: zonemalloc \(rss(f)); glibc \(rss(glibc)); "
          + "ZONEMALLOC_BACKGROUND=1 \(rss(forced)) errno \(forced["errno"] ?? 0)")
  }

  // MARK: - glibc's reports and errno

  @Test func mallinfoMallocInfoAndAlignmentErrnoMatchGlibc() throws {
    let program = try TestProgram.build("glibc_reports.c", linkage: .plain)
    let glibc = try Subprocess.run([program]), zm = try Subprocess.run([program], env: try preloadEnvironment())
    expectSuccess(glibc)
    expectSuccess(zm)
    let g = MallocReport(glibc.stdout), z = MallocReport(zm.stdout)
    for name in ["memalign", "posix_memalign", "info_options", "info"] {
      #expect(z.line(name) != nil && z.line(name) == g.line(name), "`\(name)` differs from glibc's:\n\(glibc)\n\(zm)")
    }
    #expect(z.fields("memalign") == ["null": 1, "errno": Int(ENOMEM)], "memalign(2^63, 2^63): NULL and ENOMEM:\n\(zm)")
    #expect(z.fields("posix_memalign") == ["ret": Int(ENOMEM), "errno": Int(ENOMEM), "untouched": 1],
            "a failing posix_memalign returns ENOMEM and sets errno to ENOMEM:\n\(zm)")
    #expect(z.fields("info_options") == ["ret": Int(EINVAL), "errno": 1234, "written": 0],
            "malloc_info(1, f) returns EINVAL, writes nothing and leaves errno alone:\n\(zm)")
    #expect(g.fields("mallinfo")["errno"] == 1234 && z.fields("mallinfo")["errno"] == 1234, "mallinfo set errno:\n\(zm)")
    let gShape = try #require(MallocInfoXML(g.xml), "glibc's malloc_info XML:\n\(g.xml)")
    let zShape = try #require(MallocInfoXML(z.xml), "zonemalloc's malloc_info is not well-formed XML:\n\(z.xml)")
    #expect(zShape.structure == gShape.structure, "element structure differs:\n--- glibc ---\n\(g.xml)\n--- zonemalloc ---\n\(z.xml)")
    try expectZonemallocFigures(z, zShape)
  }

  /// mallinfo and malloc_info are zonemalloc's counters with 10 MiB live, and follow the frees.
  func expectZonemallocFigures(_ z: MallocReport, _ xml: MallocInfoXML) throws {
    let m = z.fields("mallinfo"), freed = z.fields("freed")
    // As glibc's, uordblks leaves out big blocks (its mmapped chunks): they are hblkhd.
    let small = try #require(m["uordblks"]), arena = try #require(m["arena"]), hblkhd = try #require(m["hblkhd"])
    let used = small + hblkhd
    #expect(used >= 10 << 20, "uordblks + hblkhd with 10 MiB live: \(m)")
    #expect(used == m["zm_allocated"] && small == m["uordblks2"], "mallinfo, mallinfo2 and zm_stats agree: \(m)")
    #expect(arena >= small && arena + hblkhd <= (m["zm_mapped"] ?? 0), "arena is what is held for slabs and spans: \(m)")
    #expect(m["hblks"] == 5 && hblkhd >= 5 << 20, "five 1 MiB big blocks: \(m)")
    #expect(xml.attribute("total", type: "mmap", "count") == 5 && xml.attribute("total", type: "mmap", "size") == hblkhd,
            "malloc_info's mmap total is the big blocks: \(xml.elements)")
    #expect(xml.attribute("system", type: "current", "size") == arena, "malloc_info's system size is mallinfo's arena")
    let freedUsed = (freed["uordblks"] ?? 0) + (freed["hblkhd"] ?? 0)
    #expect(freedUsed == freed["zm_allocated"] && used - freedUsed >= 10 << 20,
            "after the frees uordblks + hblkhd fell by the 10 MiB and still equals zm_stats: \(freed)")
    print("measured: mallinfo with 10 MiB live: zonemalloc \(m)")
  }

  // MARK: - The background thread forced on and off

  @Test(arguments: ["1", "0"])
  func pythonWorksWithTheBackgroundThreadForced(_ setting: String) throws {
    let script = "import threading\nr = []\nt = [threading.Thread(target=lambda i=i: r.append(len(str(list(range(i * 20000))))))"
      + " for i in range(8)]\n[x.start() for x in t]\n[x.join() for x in t]\nprint(sorted(r), sum(len(str(i)) for i in range(200000)))"
    let (glibc, zm) = try expectSameAsGlibc(["python3", "-c", script], env: ["PYTHONMALLOC": "malloc"],
                                            preloaded: ["ZONEMALLOC_BACKGROUND": setting], timeout: 60)
    print("measured: python3 with ZONEMALLOC_BACKGROUND=\(setting): \(String(format: "%.2f", zm.seconds)) s "
          + "(glibc \(String(format: "%.2f", glibc.seconds)) s), same output: \(zm.stdout == glibc.stdout)")
  }
}

/// The output of glibc_reports.c: one "name field=value ..." line per check, and the XML.
struct MallocReport {
  let lines: [String]
  let xml: String

  init(_ stdout: String) {
    let parts = stdout.components(separatedBy: "<<<xml\n")
    lines = stdout.split(separator: "\n").map(String.init)
    xml = parts.count == 2 ? parts[1].components(separatedBy: "xml>>>")[0] : ""
  }

  func line(_ name: String) -> String? { lines.first { $0.hasPrefix(name + " ") } }
  func fields(_ name: String) -> [String: Int] { line(name).map(reportFields) ?? [:] }
}

/// malloc_info's XML, checked well-formed by a small tokenizer (the format has only tags
/// with quoted attributes, no text, entities or declarations), and its structure: every
/// element's name and attribute names, with the `type` attribute's value, in order. The
/// entries inside <sizes> are left out: glibc lists one per bin that holds free chunks,
/// which depends on the program's history (zonemalloc lists none).
struct MallocInfoXML {
  let elements: [(name: String, attributes: [String: String])]
  let structure: [String]

  init?(_ text: String) {
    var stack: [String] = [], structure: [String] = []
    var elements: [(name: String, attributes: [String: String])] = []
    var rest = Substring(text), roots = 0
    let tag = /^\s*<(\/?)([A-Za-z_][\w-]*)((?:\s+[\w-]+="[^"<&]*")*)\s*(\/?)>/
    while let match = rest.firstMatch(of: tag) {
      rest = rest[match.range.upperBound...]
      let (closing, name, selfClosing) = (match.output.1 == "/", String(match.output.2), match.output.4 == "/")
      if closing {
        guard stack.popLast() == name else { return nil }
        if !stack.contains("sizes") { structure.append("</\(name)>") }
        continue
      }
      if stack.isEmpty { roots += 1 }
      let attributes = Self.attributes(String(match.output.3))
      elements.append((name, attributes))
      if !stack.contains("sizes") {
        structure.append("<\(name) \(attributes.keys.sorted().joined(separator: " ")) type=\(attributes["type"] ?? "")>")
      }
      if !selfClosing { stack.append(name) }
    }
    guard rest.allSatisfy(\.isWhitespace), stack.isEmpty, roots == 1 else { return nil }
    self.elements = elements
    self.structure = structure
  }

  private static func attributes(_ text: String) -> [String: String] {
    Dictionary(text.matches(of: /([\w-]+)="([^"]*)"/).map { (String($0.output.1), String($0.output.2)) }) { a, _ in a }
  }

  /// An integer attribute of the first element with this name and type.
  func attribute(_ name: String, type: String, _ attribute: String) -> Int? {
    elements.first { $0.name == name && $0.attributes["type"] == type }.flatMap { $0.attributes[attribute] }.flatMap { Int($0) }
  }
}

extension Heavy {
  @Suite("drop-in: address-space limits and key destructors")
  struct DropInHeavyTests {
    enum Command: String, CaseIterable, Sendable {
      case python3, perl, bash, gcc, sort, threads32
    }

    /// The command line; gcc writes into dir.
    func argv(_ command: Command, dir: String) throws -> [String] {
      let programs = Paths.programs
      switch command {
      case .python3:
        return ["python3", "-c", "import sys; sys.path.insert(0, '\(programs)'); import workload as w; "
                + "[print(f(), flush=True) for f in (w.dicts, w.strings, w.threads, w.forked)]"]
      case .perl:
        return ["perl", programs + "/workload.pl"]
      case .bash:
        return ["bash", "-c", "declare -A h; for ((i = 0; i < 30000; i++)); do h[k$i]=$((i * i % 1000)); done; "
                + "s=; for ((i = 0; i < 5000; i++)); do s+=\"${h[k$i]},\"; done; echo ${#h[@]} ${#s} ${s:0:20}"]
      case .gcc:
        // Compiles a test program (the object must be byte for byte glibc's gcc's), links it and runs it.
        return ["/bin/sh", "-c", "gcc -O2 -I '\(programs)' -c '\(programs)/as_limit.c' -o '\(dir)/as_limit.o' "
                + "&& md5sum < '\(dir)/as_limit.o' && gcc -pthread '\(dir)/as_limit.o' -o '\(dir)/as_limit' "
                + "&& '\(dir)/as_limit' threads 2"]
      case .sort:
        return ["/bin/sh", "-c", "seq 1 100000 | awk '{ print ($1 * 7919) % 100003 }' | sort -n | md5sum"]
      case .threads32:
        return [try TestProgram.build("as_limit.c", linkage: .plain), "threads", "32"]
      }
    }

    @Test(arguments: [1 << 20, 256 << 10], Command.allCases)
    func sameAsGlibcUnderUlimitV(limitKiB: Int, command: Command) throws {
      let dir = try Paths.makeTempDir("ulimit")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let argv = underAddressSpaceLimit(kib: limitKiB, try argv(command, dir: dir))
      let (glibc, zm) = try expectSameAsGlibc(argv, env: ["PYTHONMALLOC": "malloc"])
      print("measured: ulimit -v \(limitKiB >> 10) MiB, \(command.rawValue): glibc exit \(glibc.exitCode ?? -1) in "
            + "\(String(format: "%.2f", glibc.seconds)) s, zonemalloc exit \(zm.exitCode ?? -1) in "
            + "\(String(format: "%.2f", zm.seconds)) s, same output: \(zm.stdout == glibc.stdout)")
    }

    /// The program lowers RLIMIT_AS itself after its first malloc, then starts 16 threads.
    /// glibc works down to about 32 MiB here with MALLOC_ARENA_MAX=1; without it, whether
    /// a thread gets an arena of its own (64 MiB of address space) depends on timing, and
    /// glibc fails now and then even at 200 MiB.
    @Test(arguments: [200, 64])
    func programLoweringItsOwnAddressSpaceLimitStartsThreads(limitMiB: Int) throws {
      let program = try TestProgram.build("as_limit.c", linkage: .plain)
      let (glibc, zm) = try expectSameAsGlibc([program, "setrlimit", "\(limitMiB)", "16"],
                                             env: ["MALLOC_ARENA_MAX": "1"])
      print("measured: setrlimit(RLIMIT_AS, \(limitMiB) MiB) after the first malloc, then 16 threads: glibc exit "
            + "\(glibc.exitCode ?? -1), zonemalloc exit \(zm.exitCode ?? -1) \(zm.stderr.split(separator: "\n").first ?? "")")
    }

    func storm(_ mode: String, env: [String: String] = [:]) throws -> [String: Int] {
      let outcome = try runLinked("key_destructor_storm.c", [mode, "50000", "200"], env: env, timeout: 90)
      let f = expectReport(outcome, prefix: "destructors ok mode=\(mode) threads=50000 ")
      let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
      #expect(f["rounds"] == 200_000, "glibc runs the key destructor in 4 rounds per thread: \(f)")
      #expect((f["threads_live"] ?? .max) <= cpus + 1, "live zones after the storm: \(f)")
      return f
    }

    @Test func keyDestructorsThatAllocateInEveryRoundLeaveNoZonesOrMemoryBehind() throws {
      let plain = try storm("plain"), alloc = try storm("alloc")
      let plainHWM = try #require(plain["vmhwm_kb"]), allocHWM = try #require(alloc["vmhwm_kb"])
      #expect(allocHWM <= 2 * plainHWM, "peak RSS \(allocHWM) KiB, without destructor allocations \(plainHWM) KiB")
      let limited = try storm("alloc", env: ["ZONEMALLOC_LIMIT": "64M"])
      print("measured: 50,000 threads, key destructor allocating in 4 rounds: VmHWM \(allocHWM) KiB, RSS "
            + "\(alloc["rss_kb"] ?? 0) KiB, mapped \((alloc["mapped"] ?? 0) >> 20) MiB, threads_live \(alloc["threads_live"] ?? 0), "
            + "\(alloc["ms"] ?? 0) ms; without: VmHWM \(plainHWM) KiB, mapped \((plain["mapped"] ?? 0) >> 20) MiB, "
            + "\(plain["ms"] ?? 0) ms; under ZONEMALLOC_LIMIT=64M: \(limited["ms"] ?? -1) ms")
    }
  }
}
