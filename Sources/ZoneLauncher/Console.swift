// Console.swift: what zm prints, and how it ends.
//
// Owns: lines on stdout and stderr (every error and warning starts "zm: "), right-aligned
// columns, and the exit statuses: 0 success; 1 an install or uninstall that failed, or a
// zm prof, stats or top that cannot read or write what it needs; 2 a usage error, a bad
// option value or a library that cannot be preloaded; 126 a command that cannot be run;
// 127 a library or command that cannot be found. zm prof exits with its command's
// status.
// Touches: file descriptors 1 and 2 only.
#if canImport(Glibc)
import Glibc
#endif

enum Console {
  static func out(_ text: String) { write(text + "\n", to: 1) }

  static func error(_ text: String) { write("zm: " + text + "\n", to: 2) }

  static func warn(_ text: String) { error("warning: " + text) }

  /// Prints "zm: <message>" and exits with status.
  static func fail(_ message: String, status: Int32) -> Never {
    error(message)
    exit(status)
  }

  /// Prints "zm: <message>" and the usage, and exits 2.
  static func usageError(_ message: String, usage: String) -> Never {
    write("zm: \(message)\n\(usage)\n", to: 2)
    exit(2)
  }

  private static func write(_ text: String, to fd: Int32) {
    var text = text
    text.withUTF8 { bytes in
      var done = 0
      while done < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n <= 0 { return }
        done += n
      }
    }
  }
}

extension String {
  /// The string right-aligned in a column of `width` characters (tables on stdout).
  func leftPadded(_ width: Int) -> String {
    count >= width ? self : String(repeating: " ", count: width - count) + self
  }
}

/// The text of errno's message, as strerror gives it.
func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
