// ConfigurationDocTests.swift: docs/CONFIGURATION.md names every ZONEMALLOC_* variable
// that the library or zm reads, and names no other; its table of the statistics fields
// has every field the library's summary prints, and no other.
//
// The names read are those in the sources of the library (ZoneCore, ZoneSupport,
// ZoneExports) and of zm (ZoneLauncher), less the public header's own macros (its include
// guard and version string, which are no variables) and less the library's list of
// known names (KnownVariables.swift, which names them all whether read or not): that
// list must be the documented set too, or a documented name would be reported as unknown
// or a misspelt one taken for a variable. The benchmark harness and the test programs
// set variables but read none of their own, so they are not scanned. A line that shows
// the warning about a misspelt name (it contains "unknown variable ") is an example, not
// a variable: it is not scanned either.
import Foundation
import Testing

@Suite("docs: every variable and statistics field documented")
struct ConfigurationDocTests {
  static let readers = ["Sources/ZoneCore", "Sources/ZoneSupport", "Sources/ZoneExports", "Sources/ZoneLauncher"]
  static let headerMacros: Set<String> = ["ZONEMALLOC_H", "ZONEMALLOC_VERSION_STRING"]
  static let knownList = "Sources/ZoneCore/Policy/KnownVariables.swift"

  /// The ZONEMALLOC_* names in a text (a bare `ZONEMALLOC_`, the prefix itself, is none),
  /// less the lines that show an unknown name's warning.
  static func names(in fullText: String) -> Set<String> {
    let text = fullText.split(separator: "\n", omittingEmptySubsequences: false)
      .filter { !$0.contains("unknown variable ") }.joined(separator: "\n")
    let regex = try! NSRegularExpression(pattern: "ZONEMALLOC_[A-Z0-9_]*[A-Z0-9]")
    let range = NSRange(text.startIndex..., in: text)
    return Set(regex.matches(in: text, range: range).compactMap { Range($0.range, in: text).map { String(text[$0]) } })
  }

  /// The names in every Swift, C and header file under the folders.
  static func namesInSources() throws -> Set<String> {
    var found: Set<String> = []
    for folder in readers {
      let root = Paths.packageRoot + "/" + folder
      let files = try #require(FileManager.default.enumerator(atPath: root), "no folder \(root)")
      for case let file as String in files where [".swift", ".c", ".h"].contains(where: file.hasSuffix)
        && folder + "/" + file != knownList {
        found.formUnion(names(in: try String(contentsOfFile: root + "/" + file, encoding: .utf8)))
      }
    }
    return found.subtracting(headerMacros)
  }

  @Test func everyVariableReadIsDocumentedAndEveryDocumentedOneIsRead() throws {
    let read = try Self.namesInSources()
    let documented = Self.names(in: try String(contentsOfFile: Paths.packageRoot + "/docs/CONFIGURATION.md",
                                               encoding: .utf8))
    #expect(read.count >= 20, "too few variables found in the sources: \(read.sorted())")
    #expect(read.subtracting(documented).isEmpty,
            "read but not in docs/CONFIGURATION.md: \(read.subtracting(documented).sorted())")
    #expect(documented.subtracting(read).isEmpty,
            "in docs/CONFIGURATION.md but read by nothing: \(documented.subtracting(read).sorted())")
  }

  @Test func theLibrarysListOfKnownNamesIsTheDocumentedSet() throws {
    let listed = Self.names(in: try String(contentsOfFile: Paths.packageRoot + "/" + Self.knownList, encoding: .utf8))
    let documented = Self.names(in: try String(contentsOfFile: Paths.packageRoot + "/docs/CONFIGURATION.md",
                                               encoding: .utf8))
    let (onlyListed, onlyDocumented) = (listed.subtracting(documented).sorted(), documented.subtracting(listed).sorted())
    #expect(listed == documented, "listed only: \(onlyListed); documented only: \(onlyDocumented)")
  }

  @Test func theSummarysFieldsAreTheDocumentedOnes() throws {
    let outcome = try Subprocess.run(["/bin/true"], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]))
    let printed = Set(StatsSummary.require(outcome).keys)
    let text = try String(contentsOfFile: Paths.packageRoot + "/docs/CONFIGURATION.md", encoding: .utf8)
    let section = try #require(text.components(separatedBy: "## The statistics summary").dropFirst().first)
    let rows = section.components(separatedBy: "\n## ")[0].split(separator: "\n").filter { $0.hasPrefix("| `") }
    let documented = Set(rows.compactMap { $0.split(separator: "`").dropFirst().first.map(String.init) })
    #expect(printed.count >= 20, "too few fields printed:\n\(outcome)")
    #expect(printed.subtracting(documented).isEmpty, "printed, not documented: \(printed.subtracting(documented).sorted())")
    #expect(documented.subtracting(printed).isEmpty, "documented, not printed: \(documented.subtracting(printed).sorted())")
  }
}
