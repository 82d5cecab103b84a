// main.swift: the launcher command `zm` (product `zm`: SwiftPM drops an executable that
// shares the library's product name `zonemalloc`).
//
//   zm run [--stats] [--limit SIZE] [--] CMD [ARGS...]
//       Runs CMD with libzonemalloc.so preloaded: LD_PRELOAD gets the library prepended,
//       --stats sets ZONEMALLOC_STATS=1, --limit sets ZONEMALLOC_LIMIT=SIZE. The launcher
//       replaces itself with CMD (execvp), so CMD's exit status and signals are its own.
//   zm lib       prints the path of the library that `run` would preload.
//   zm prof, zm stats PID, zm top PID: the heap profiler and the live counters
//                (ProfCommand.swift, StatsCommand.swift).
//   zm --help    prints the usage.
//
// The library is $ZONEMALLOC_LIB if set, else libzonemalloc.so next to this executable,
// else ../lib/libzonemalloc.so relative to it. Exit status: 127 when the library (or
// CMD) cannot be found, 126 when CMD cannot be run, 2 for a usage error.
#if canImport(Glibc)
import Glibc
#endif

let usage = """
  usage: zm run [--stats] [--limit SIZE] [--] CMD [ARGS...]
         zm prof [--rate SIZE] [--out PREFIX] [--top N] [--] CMD [ARGS...]
         zm stats PID
         zm top [-n COUNT] [-d SECONDS] PID
         zm lib
         zm --help

    run      run CMD with libzonemalloc.so preloaded (LD_PRELOAD)
      --stats        print allocator statistics to stderr when CMD exits (ZONEMALLOC_STATS=1)
      --limit SIZE   cap the memory held from the OS, e.g. 512M or 2G (ZONEMALLOC_LIMIT)
    prof     run CMD with the heap profiler on; print the top allocation sites, write
             a flame graph and collapsed stacks (zm prof --help)
    stats    print the allocator counters of a running process that loaded zonemalloc
    top      show them every second: bytes allocated, active, mapped, cached; malloc
             and free rates; remote frees
    lib      print the path of the library that `run` preloads

  The library is $ZONEMALLOC_LIB, else libzonemalloc.so next to the zm command,
  else ../lib/libzonemalloc.so relative to it.
  """

struct RunOptions {
  var stats = false
  var limit: String?
  var command: [String] = []
}

func printError(_ text: String) {
  var line = text + "\n"
  line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String, status: Int32) -> Never {
  printError("zm: \(message)")
  exit(status)
}

func usageError(_ message: String) -> Never {
  printError("zm: \(message)\n\(usage)")
  exit(2)
}

func environment(_ name: String) -> String? {
  getenv(name).map { String(cString: $0) }
}

func realPath(_ path: String) -> String? {
  guard let resolved = realpath(path, nil) else { return nil }
  defer { free(resolved) }
  return String(cString: resolved)
}

func isFile(_ path: String) -> Bool {
  var info = stat()
  return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
}

/// The folder of this executable, from /proc/self/exe.
func executableDir() -> String? {
  guard let exe = realPath("/proc/self/exe"), let slash = exe.lastIndex(of: "/") else { return nil }
  return String(exe[..<slash])
}

/// The library to preload, as an absolute path, or exits 127 naming what was tried.
func resolveLibrary() -> String {
  if let explicit = environment("ZONEMALLOC_LIB"), !explicit.isEmpty {
    guard isFile(explicit), let path = realPath(explicit) else {
      fail("ZONEMALLOC_LIB=\(explicit): no such library", status: 127)
    }
    return path
  }
  let dir = executableDir() ?? "."
  let candidates = [dir + "/libzonemalloc.so", dir + "/../lib/libzonemalloc.so"]
  for candidate in candidates where isFile(candidate) {
    if let path = realPath(candidate) { return path }
  }
  fail("libzonemalloc.so not found (tried \(candidates.joined(separator: ", ")); set ZONEMALLOC_LIB)", status: 127)
}

/// A size: digits with an optional K, M, G or T suffix (either case).
func isValidSize(_ text: String) -> Bool {
  var digits = Substring(text)
  if let last = digits.last, "KkMmGgTt".contains(last) { digits = digits.dropLast() }
  return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
}

func parseRun(_ args: ArraySlice<String>) -> RunOptions {
  var options = RunOptions()
  var rest = args
  while let arg = rest.first {
    if arg == "--" { rest = rest.dropFirst(); break }
    guard arg.hasPrefix("-") else { break }
    rest = rest.dropFirst()
    switch arg {
    case "--stats":
      options.stats = true
    case "--limit":
      guard let value = rest.first else { usageError("--limit needs a SIZE") }
      options.limit = value
      rest = rest.dropFirst()
    case _ where arg.hasPrefix("--limit="):
      options.limit = String(arg.dropFirst("--limit=".count))
    default:
      usageError("unknown option \(arg)")
    }
  }
  if let limit = options.limit, !isValidSize(limit) { usageError("bad --limit size \(limit)") }
  options.command = Array(rest)
  if options.command.isEmpty { usageError("run needs a command") }
  return options
}

/// LD_PRELOAD with the library first (kept as is when it already comes first).
func preloadValue(library: String, existing: String) -> String {
  let entries = existing.split { $0 == ":" || $0 == " " }
  if entries.first.map(String.init) == library { return existing }
  return entries.isEmpty ? library : library + ":" + existing
}

/// Sets up the environment and replaces this process with the command.
func run(_ options: RunOptions) -> Never {
  let library = resolveLibrary()
  setenv("LD_PRELOAD", preloadValue(library: library, existing: environment("LD_PRELOAD") ?? ""), 1)
  if options.stats { setenv("ZONEMALLOC_STATS", "1", 1) }
  if let limit = options.limit { setenv("ZONEMALLOC_LIMIT", limit, 1) }
  let argv = options.command.map { strdup($0) } + [nil]
  execvp(options.command[0], argv)
  let err = errno
  fail("cannot run \(options.command[0]): \(String(cString: strerror(err)))", status: err == ENOENT ? 127 : 126)
}

let args = CommandLine.arguments
switch args.count > 1 ? args[1] : nil {
case "run":
  run(parseRun(args.dropFirst(2)))
case "prof":
  ProfCommand.main(args.dropFirst(2))
case "stats":
  StatsCommand.stats(args.dropFirst(2))
case "top":
  StatsCommand.top(args.dropFirst(2))
case "lib":
  print(resolveLibrary())
case "--help", "-h", "help":
  print(usage)
case nil:
  usageError("missing command")
case let verb?:
  usageError("unknown command \(verb)")
}
