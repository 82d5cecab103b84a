// Console.swift: what zm prints, and how it ends.
//
// Owns: lines on stdout and stderr (every error and warning starts "zm: "), and the exit
// statuses: 0 success; 1 an install or uninstall that failed; 2 a usage error, a bad
// option value or a library that cannot be preloaded; 126 a command that cannot be run;
// 127 a library or command that cannot be found.
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

/// The text of errno's message, as strerror gives it.
func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
