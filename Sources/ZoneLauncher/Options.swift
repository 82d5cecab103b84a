// Options.swift: the command-line options of zm's subcommands.
//
// Owns: splitting a subcommand's arguments into options and operands. Options come
// first: `--name VALUE` or `--name=VALUE` for those that take a value, `--name` or
// `--name=VALUE` for those whose value is optional. They end at `--` or at the first
// argument that does not start with "-". `--help` (or `-h`) prints the subcommand's
// usage and exits 0; an unknown option or a missing value is a usage error.
// Touches: Console.
#if canImport(Glibc)
import Glibc
#endif

enum Arity { case value, optionalValue }

struct Option {
  let name: String
  let value: String?
}

struct OptionParser {
  let usage: String
  let accepted: [String: Arity]

  func parse(_ args: ArraySlice<String>) -> (options: [Option], operands: ArraySlice<String>) {
    var options: [Option] = []
    var rest = args
    while let arg = rest.first, arg.hasPrefix("-") {
      rest = rest.dropFirst()
      if arg == "--" { break }
      if arg == "--help" || arg == "-h" {
        Console.out(usage)
        exit(0)
      }
      let (name, attached) = split(arg)
      switch accepted[name] {
      case nil:
        Console.usageError("unknown option \(arg)", usage: usage)
      case .optionalValue?:
        options.append(Option(name: name, value: attached))
      case .value?:
        if let attached {
          options.append(Option(name: name, value: attached))
        } else if let next = rest.first {
          options.append(Option(name: name, value: next))
          rest = rest.dropFirst()
        } else {
          Console.usageError("\(name) needs a value", usage: usage)
        }
      }
    }
    return (options, rest)
  }

  /// "--name=value" as ("--name", "value"); "--name" as ("--name", nil).
  private func split(_ arg: String) -> (String, String?) {
    guard let equals = arg.firstIndex(of: "=") else { return (arg, nil) }
    return (String(arg[..<equals]), String(arg[arg.index(after: equals)...]))
  }
}
