// main.swift: the launcher command `zm` (product `zm`: SwiftPM drops an executable that
// shares the library's product name `zonemalloc`).
//
// Owns: the table of subcommands and the dispatch to them, `zm --help` and
// `zm --version`. Each subcommand lives in its own file and takes the arguments after its
// name; a new one is a file and a line in `commands`. `zm COMMAND --help` prints that
// command's usage. Exit statuses are listed in Console.swift.
// Touches: the subcommands (Run, Library, Install, Uninstall, ProfCommand, StatsCommand), Console.
#if canImport(Glibc)
import Glibc
#endif

/// zonemalloc's version: the library's zm_version() and ZONEMALLOC_VERSION_STRING say the same.
let version = "0.1.0"

struct Command {
  let name: String
  let synopsis: String
  let summary: String
  let run: (ArraySlice<String>) -> Int32
}

let commands = [
  Command(name: "run", synopsis: "run [--stats[=FILE|=all]] [--limit SIZE] [--] CMD [ARGS...]",
          summary: "run CMD with libzonemalloc.so preloaded", run: Run.main),
  Command(name: "lib", synopsis: "lib", summary: "print the path of the library that run preloads",
          run: Library.printPath),
  Command(name: "install", synopsis: "install [--prefix DIR]",
          summary: "install the library (shared and static), header, pkg-config file, CMake package and zm (default /usr/local)",
          run: Install.install),
  Command(name: "uninstall", synopsis: "uninstall [--prefix DIR]", summary: "remove what install installed",
          run: Uninstall.uninstall),
  Command(name: "prof", synopsis: "prof [--rate SIZE] [--out PREFIX] [--top N] [--] CMD [ARGS...]",
          summary: "run CMD with the heap profiler on: top allocation sites, a flame graph, collapsed stacks",
          run: ProfCommand.main),
  Command(name: "stats", synopsis: "stats PID",
          summary: "print the allocator counters of a running process that loaded zonemalloc",
          run: StatsCommand.stats),
  Command(name: "top", synopsis: "top [-n COUNT] [-d SECONDS] PID",
          summary: "show them every second: bytes allocated, active, mapped, cached; malloc and free rates",
          run: StatsCommand.top),
]

let usage = """
  usage: zm COMMAND [ARGS...]

  \(commands.map { "  zm \($0.synopsis)\n      \($0.summary)" }.joined(separator: "\n"))
    zm --version
    zm --help

  `zm COMMAND --help` describes a command. The library is $ZONEMALLOC_LIB, else
  libzonemalloc.so next to the zm command, else ../lib/libzonemalloc.so or
  ../lib/libzonemalloc.so.0 relative to it.
  """

let args = CommandLine.arguments
switch args.count > 1 ? args[1] : nil {
case "--help"?, "-h"?, "help"?:
  Console.out(usage)
case "--version"?:
  Console.out("zm \(version)")
case let name?:
  guard let command = commands.first(where: { $0.name == name }) else {
    Console.usageError("unknown command \(name)", usage: usage)
  }
  exit(command.run(args.dropFirst(2)))
case nil:
  Console.usageError("missing command", usage: usage)
}
