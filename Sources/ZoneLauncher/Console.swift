// Console.swift: what zm prints, and how it ends.
//
// Owns: lines on stdout and stderr (every error and warning starts "zm: "), right-aligned
// columns, text made safe to print (control characters escaped) or to paste into a shell
// (quoted), and the exit statuses: 0 success; 1 an install or uninstall that failed, or a
// zm prof, stats or top that cannot read or write what it needs; 2 a usage error, a bad
// option value or a library that cannot be preloaded; 126 a command that cannot be run;
// 127 a library or command that cannot be found. zm prof exits with its command's
// status.
// A write that fails (a closed pipe: zm prof blocks SIGPIPE) drops the rest of the line.
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

  /// The text as a terminal shows it harmlessly: control characters (C0, DEL and C1,
  /// which start escape sequences) and backslashes as `\xHH` and `\\`; bytes that are
  /// not UTF-8 were already replaced with U+FFFD when the text was decoded.
  var printable: String {
    var result = ""
    for scalar in unicodeScalars {
      let value = scalar.value
      if value < 0x20 || (0x7f...0x9f).contains(value) {
        let hex = String(value, radix: 16)
        result += "\\x" + (hex.count < 2 ? "0" : "") + hex
      } else if scalar == "\\" {
        result += "\\\\"
      } else {
        result.unicodeScalars.append(scalar)
      }
    }
    return result
  }

  /// The text as one shell word, for commands zm prints: as is when every character is
  /// one no shell treats specially, else in single quotes (a quote inside as '\'').
  var shellQuoted: String {
    let plain = !isEmpty && utf8.allSatisfy { byte in
      byte >= 0x80 || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7a)
        || "/._-+,:@%=".utf8.contains(byte)
    }
    return plain ? self : "'" + replacing("'", with: "'\\''") + "'"
  }
}

/// The text of errno's message, as strerror gives it.
func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
