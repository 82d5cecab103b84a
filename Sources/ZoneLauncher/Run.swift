// Run.swift: `zm run [OPTIONS] [--] CMD [ARGS...]`.
//
// Owns: run's options and what they set in the environment, the checks made before the
// command starts, and the exec.
//  - LD_PRELOAD gets the library (Library.locate) prepended; it is kept as is when the
//    library already comes first.
//  - --stats prints the summary of the command itself on stderr: ZONEMALLOC_STATS=1 and
//    ZONEMALLOC_STATS_PID=<zm's pid>, which the command keeps across the exec, so the
//    processes it starts stay quiet. --stats=all lets every process print its own;
//    --stats=FILE sends the command's summary to FILE (made absolute, %p replaced by the
//    pid, and emptied now, so that an unwritable path is an error here and FILE holds
//    this run's summary only).
//  - --limit SIZE sets ZONEMALLOC_LIMIT after checking SIZE exactly as the library will
//    (Size.swift): a value the library would ignore is an error here, with the reason.
//    --limit auto is passed on: the library reads the cgroup's limit.
//  - A command that is an ELF file without a program interpreter (statically linked, or
//    static-pie) cannot be preloaded: zm warns, then runs it anyway. So it does for an
//    ELF file built for another machine.
// zm replaces itself with the command (execvp): same pid, the command's own exit status
// and signals.
// Touches: Library, Size, ELFFile, FileSystem, Console, the environment.
#if canImport(Glibc)
import Glibc
#endif

enum Run {
  private static let usage = """
    usage: zm run [--stats[=FILE|=all]] [--limit SIZE] [--] CMD [ARGS...]

    Runs CMD with libzonemalloc.so preloaded (LD_PRELOAD).

      --stats        print CMD's allocator statistics on stderr when it exits; the
                     programs CMD starts print none (ZONEMALLOC_STATS=1 and
                     ZONEMALLOC_STATS_PID; set ZONEMALLOC_STATS_FORMAT=json for JSON)
      --stats=FILE   write CMD's statistics to FILE instead (%p in FILE is the pid)
      --stats=all    every process prints its own statistics on stderr
      --limit SIZE   cap the memory zonemalloc holds from the OS (ZONEMALLOC_LIMIT): 0 for
                     none, or at least 1M; units K, M, G, T are binary, e.g. 512M, 2G;
                     auto: 90% of the memory limit of CMD's cgroup
    """

  static func main(_ args: ArraySlice<String>) -> Int32 {
    let parser = OptionParser(usage: usage, accepted: ["--stats": .optionalValue, "--limit": .value])
    let (options, command) = parser.parse(args)
    guard let program = command.first else { Console.usageError("run needs a command", usage: usage) }
    for option in options {
      if option.name == "--stats" { setStats(option.value) } else { setLimit(option.value ?? "") }
    }
    let library = Library.locate()
    let existing = getenv("LD_PRELOAD").map { String(cString: $0) } ?? ""
    setenv("LD_PRELOAD", preloadValue(library: library, existing: existing), 1)
    warnIfNotPreloadable(program, library: library)
    exec(Array(command))
  }

  private static func setStats(_ value: String?) {
    switch value {
    case nil:
      setenv("ZONEMALLOC_STATS", "1", 1)
      setenv("ZONEMALLOC_STATS_PID", String(getpid()), 1)
    case "all"?:
      setenv("ZONEMALLOC_STATS", "1", 1)
      unsetenv("ZONEMALLOC_STATS_PID")
    case let file?:
      setenv("ZONEMALLOC_STATS", emptied(file), 1)
      setenv("ZONEMALLOC_STATS_PID", String(getpid()), 1)
    }
  }

  /// FILE made absolute, with %p replaced by this pid (the command's after the exec),
  /// created or emptied; exits 2 if it cannot be written.
  private static func emptied(_ file: String) -> String {
    guard !file.isEmpty else { Console.usageError("--stats= needs a FILE, or all", usage: usage) }
    let path = FileSystem.absolute(file).replacing("%p", with: String(getpid()))
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { Console.fail("--stats=\(file): cannot write \(path): \(errorText())", status: 2) }
    close(fd)
    return path
  }

  private static func setLimit(_ value: String) {
    switch Size.parseLimit(value) {
    case .success: setenv("ZONEMALLOC_LIMIT", value, 1)
    case .failure(let error): Console.fail("bad --limit \(value): \(error.reason)", status: 2)
    }
  }

  /// LD_PRELOAD with the library first (kept as is when it already comes first); zm prof
  /// preloads the same way.
  static func preloadValue(library: String, existing: String) -> String {
    let entries = existing.split { $0 == ":" || $0 == " " }
    if entries.first.map(String.init) == library { return existing }
    return entries.isEmpty ? library : library + ":" + existing
  }

  /// Warns when the dynamic loader will not preload the library into the command.
  private static func warnIfNotPreloadable(_ program: String, library: String) {
    guard let path = FileSystem.findCommand(program), let elf = ELFFile(path: path),
          let lib = ELFFile(path: library) else { return } // scripts, or not found: exec decides
    if !elf.sameMachine(as: lib) {
      Console.warn("\(path) is built for \(elf.machineName), the library for \(lib.machineName): "
        + "it will run without zonemalloc")
    } else if elf.hasInterpreter == false && !elf.hasSoname {
      Console.warn("\(path) is statically linked (no program interpreter): LD_PRELOAD cannot reach it, "
        + "so it will run without zonemalloc")
    }
  }

  private static func exec(_ command: [String]) -> Never {
    let argv = command.map { strdup($0) } + [nil]
    execvp(command[0], argv)
    let code = errno
    Console.fail("cannot run \(command[0]): \(errorText(code))", status: code == ENOENT ? 127 : 126)
  }
}
