// Options.swift: the command-line options of zm's subcommands.
//
// Owns: splitting a subcommand's arguments into options and operands. Options come
// first: `--name VALUE` or `--name=VALUE` for those that take a value, `--name` or
// `--name=VALUE` for those whose value is optional. They end at `--` or at the first
// argument that does not start with "-". `--help` (or `-h`) prints the subcommand's
// usage and exits 0; an unknown option or a missing value is a usage error.
// Also the checks of numeric values (option values and operands such as a PID): a whole
// number or a finite decimal within the range the command states; anything else ends zm
// with one line naming the range, and status 2.
// Touches: Console.
#if canImport(Glibc)
import Glibc
#endif

enum Arity { case value, optionalValue }

struct Option {
  let name: String
  let value: String?
}

/// Numeric arguments, checked against their range.
enum Argument {
  /// The whole number `text`, if it lies in range; else exits 2 with "bad <what> <text>".
  static func integer(_ text: String, in range: ClosedRange<Int>, what: String) -> Int {
    guard let value = Int(text), range.contains(value) else {
      Console.fail("bad \(what) \(text.printable): expected a whole number from \(range.lowerBound) to "
                   + "\(range.upperBound)", status: 2)
    }
    return value
  }

  /// The finite decimal `text` (such as 0.5 or 2), if it lies in range; else exits 2.
  static func decimal(_ text: String, in range: ClosedRange<Double>, what: String) -> Double {
    guard let value = Double(text), value.isFinite, range.contains(value) else {
      let bounds = [range.lowerBound, range.upperBound].map { $0 == $0.rounded() ? String(Int($0)) : String($0) }
      Console.fail("bad \(what) \(text.printable): expected a number from \(bounds[0]) to \(bounds[1])", status: 2)
    }
    return value
  }

  /// A process id: the kernel's largest is 4194304 (PID_MAX_LIMIT).
  static func pid(_ text: String) -> Int32 {
    Int32(integer(text, in: 1...4_194_304, what: "PID"))
  }
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
