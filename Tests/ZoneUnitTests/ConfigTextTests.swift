// ConfigTextTests.swift: the parsing of ZONEMALLOC_* values, directly (ConfigText.swift).
import Testing

@Suite("settings' text")
struct ConfigTextTests {
  func size(_ text: String, suffixes: Bool = true) -> UInt? {
    text.withCString { ConfigText.parseSize($0, suffixes: suffixes) }
  }

  @Test func sizesTakeBinarySuffixesInAnyCase() {
    #expect(size("0") == 0 && size("123") == 123 && size("64k") == 64 << 10 && size("512M") == 512 << 20)
    #expect(size("2G") == 2 << 30 && size("1T") == 1 << 40 && size("2GiB") == 2 << 30 && size("8mb") == 8 << 20)
    #expect(size("64K", suffixes: false) == nil && size("64", suffixes: false) == 64)
  }

  @Test func badSizesAreRefused() {
    for text in ["", "K", "-1", "1.5G", "12X", "1GB2", "1 G", "18446744073709551616", "17179869184G"] {
      #expect(size(text) == nil, "\(text) was accepted")
    }
    #expect(size("18446744073709551615") == UInt.max)
  }

  @Test func flagsAcceptTheUsualSpellings() {
    for text in ["1", "yes", "true", "on", "YES", "On"] { #expect(text.withCString { ConfigText.parseBool($0) } == true) }
    for text in ["0", "no", "false", "off", "OFF"] { #expect(text.withCString { ConfigText.parseBool($0) } == false) }
    for text in ["", "2", "y", "enable", "1 "] { #expect(text.withCString { ConfigText.parseBool($0) } == nil) }
  }

  @Test func comparisonsIgnoreCaseAndNeedTheWholeWord() {
    #expect("auto".withCString { ConfigText.equals($0, "auto") } && "AUTO".withCString { ConfigText.equals($0, "auto") })
    #expect(!"automatic".withCString { ConfigText.equals($0, "auto") })
    #expect("SIGUSR1".withCString { ConfigText.equals(prefix: $0, "SIG") })
    #expect("/tmp/x".withCString { ConfigText.contains($0, 47) } && !"x".withCString { ConfigText.contains($0, 47) })
  }
}
