// Run.swift: `zm run [OPTIONS] [--] CMD [ARGS...]`.
//
// Owns: run's options and what they set in the environment, and the exec.
//  - LD_PRELOAD gets the library (Library.locate) prepended, in a form the dynamic
//    loader does not split (Preload.swift), which also warns when the loader will not
//    preload the command: statically linked, built for another machine, setuid or
//    setgid to someone else, or given capabilities. The command then runs anyway.
//  - --stats prints the summary of the command itself on stderr: ZONEMALLOC_STATS=1 and
//    ZONEMALLOC_STATS_PID=<zm's pid>, which the command keeps across the exec, so the
//    processes it starts stay quiet. --stats=json prints it as JSON
//    (ZONEMALLOC_STATS_FORMAT=json); --stats=all lets every process print its own;
//    --stats=FILE sends the command's summary to FILE (made absolute, %p replaced by the
//    pid, and emptied now, so that an unwritable path is an error here and FILE holds
//    this run's summary only; a file named json or all is ./json or ./all).
//  - --limit SIZE sets ZONEMALLOC_LIMIT after checking SIZE exactly as the library will
//    (Size.swift): a value the library would ignore is an error here, with the reason.
//    --limit auto is passed on: the library reads the cgroup's limit.
//  - ZONEMALLOC_WARNED (WarningMarker) makes the library's warnings about the settings
//    appear once, from the first process that loads it, not from every process.
// zm replaces itself with the command (execvp): same pid, the command's own exit status
// and signals.
// Touches: Library, Preload, Size, WarningMarker, FileSystem, Console, the environment.
#if canImport(Glibc)
import Glibc
#endif

enum Run {
  private static let usage = """
    usage: zm run [--stats[=json|=FILE|=all]] [--limit SIZE] [--] CMD [ARGS...]

    Runs CMD with libzonemalloc.so preloaded (LD_PRELOAD).

      --stats        print CMD's allocator statistics on stderr when it exits; the
                     programs CMD starts print none (ZONEMALLOC_STATS=1 and
                     ZONEMALLOC_STATS_PID)
      --stats=json   the same, as one JSON object (ZONEMALLOC_STATS_FORMAT=json)
      --stats=FILE   write CMD's statistics to FILE instead (%p in FILE is the pid;
                     a file named json or all: ./json, ./all)
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
    setenv("LD_PRELOAD", Preload.value(library: library, existing: existing), 1)
    Preload.warnIfIgnored(program, library: library)
    WarningMarker.set()
    exec(Array(command))
  }

  private static func setStats(_ value: String?) {
    switch value {
    case nil:
      setenv("ZONEMALLOC_STATS", "1", 1)
      setenv("ZONEMALLOC_STATS_PID", String(getpid()), 1)
    case "json"?:
      setenv("ZONEMALLOC_STATS", "1", 1)
      setenv("ZONEMALLOC_STATS_FORMAT", "json", 1)
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

  private static func exec(_ command: [String]) -> Never {
    let argv = command.map { strdup($0) } + [nil]
    execvp(command[0], argv)
    let code = errno
    Console.fail("cannot run \(command[0]): \(errorText(code))", status: code == ENOENT ? 127 : 126)
  }
}
