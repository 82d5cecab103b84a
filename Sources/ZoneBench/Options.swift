// Options.swift: the command-line flags of zonemalloc-bench and their parsing.
//
//   --lib PATH            libzonemalloc.so to test (default <package>/.build/release/libzonemalloc.so)
//   --reps N              repetitions per workload and allocator (default 5; 1 with --quick)
//   --only w1,w2          run only these workloads (the only way to run the opt-in ones)
//   --allocators a,b      run only these allocators (zonemalloc, glibc, jemalloc, mimalloc, tcmalloc;
//                         zonemalloc-prof: zonemalloc with ZONEMALLOC_PROF=1, zonemalloc-noguard:
//                         with ZONEMALLOC_GUARD_RATE=0, and the huge-page variants only when named)
//   --huge-pages          add the huge-page variants: glibc-hugetlb, jemalloc-thp, mimalloc-large,
//                         zonemalloc-thp-never (Allocators.swift)
//   --quick               small scales and 1 repetition: a smoke run of the whole pipeline
//   --out DIR             where CSV, SVG and table go (default <package>/bench/results)
//   --timeout SEC         a run that takes longer is killed and reported FAILED (default 60)
//   --no-fastpath         skip the callgrind fast-path measurement
//   --no-strace           skip the system-call counts (the extra runs under strace)
//   --list                print the workloads and allocators, then exit
//   --help                usage

import Foundation

struct Options {
  var lib: String?
  var reps: Int?
  var only: [String]?
  var allocators: [String]?
  var hugePages = false
  var quick = false
  var out: String?
  var timeout: Double = 60
  var fastPath = true
  var strace = true
  var list = false

  /// Repetitions to run: the explicit --reps, else 1 for --quick, else 5 (this machine is
  /// shared: with 3 the median of a peer moved by 20% from one run of the suite to the next).
  var repetitions: Int { reps ?? (quick ? 1 : 5) }

  static let usage = """
    usage: zonemalloc-bench [--lib PATH] [--reps N] [--only w1,w2] [--allocators a,b]
                            [--huge-pages] [--quick] [--out DIR] [--timeout SEC] [--no-fastpath]
                            [--no-strace] [--list]
    Runs every benchmark workload under zonemalloc, glibc, jemalloc, mimalloc and tcmalloc,
    prints time and peak-RSS ratios to zonemalloc, and writes CSV and SVG to bench/results/.
    The huge-page workloads run only when named:
      zonemalloc-bench --only pointer-chase,hash-lookup,sparse-release --huge-pages
    adds each allocator's huge-page setting as a column (see bench/README.md).
    """
}

enum OptionError: Error, CustomStringConvertible {
  case missingValue(String)
  case badValue(String, String)
  case unknown(String)

  var description: String {
    switch self {
    case .missingValue(let flag): return "\(flag) needs a value"
    case .badValue(let flag, let value): return "\(flag): bad value '\(value)'"
    case .unknown(let flag): return "unknown argument '\(flag)'"
    }
  }
}

extension Options {
  /// Parses the arguments after the program name.
  static func parse(_ args: [String]) throws -> Options {
    var o = Options()
    var rest = args[...]
    while let flag = rest.popFirst() {
      func value() throws -> String {
        guard let v = rest.popFirst() else { throw OptionError.missingValue(flag) }
        return v
      }
      switch flag {
      case "--lib": o.lib = try value()
      case "--reps":
        let v = try value()
        guard let n = Int(v), n >= 1 else { throw OptionError.badValue(flag, v) }
        o.reps = n
      case "--only": o.only = splitList(try value())
      case "--allocators": o.allocators = splitList(try value())
      case "--huge-pages": o.hugePages = true
      case "--quick": o.quick = true
      case "--out": o.out = try value()
      case "--timeout":
        let v = try value()
        guard let s = Double(v), s > 0 else { throw OptionError.badValue(flag, v) }
        o.timeout = s
      case "--no-fastpath": o.fastPath = false
      case "--no-strace": o.strace = false
      case "--list": o.list = true
      case "--help", "-h":
        print(usage)
        exit(0)
      default: throw OptionError.unknown(flag)
      }
    }
    return o
  }

  private static func splitList(_ s: String) -> [String] {
    s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  }
}
