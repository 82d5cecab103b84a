// ProfFlameGraph.swift: the SVG flame graph `zm prof` draws itself.
//
// Owns: the drawing. Three panels, one above the other: the bytes allocated over the
// whole run, the bytes live at the peak, and the bytes live when the profile was written
// (at exit: never freed). Under the root "all" each process is a frame of its own,
// "python3 (pid 42)", its stacks below it. Against a base (--base) the panels show the
// growth: stacks that shrank are not drawn. In each, a frame's width is its share of
// the panel's bytes and siblings are in name order, as flamegraph.pl draws them; the
// root "all" is at the top and callees hang below their callers (flamegraph.pl's
// --inverted "icicle" layout), so the wide frames are in view first even when a few
// deep stacks make a panel tall. A frame narrower than 0.1 px is left out; its label is
// cut to fit; every frame has a tooltip (<title>) with its name, bytes and share. No
// script: any browser, or an image viewer, shows it.

struct FlameGraph {
  static let width = 1200.0
  static let frameHeight = 16.0
  static let margin = 10.0
  static let characterWidth = 7.0

  let profile: HeapProfile
  let title: String

  /// One node of the call tree: a frame and the bytes of the stacks through it.
  private final class Node {
    let name: String
    var bytes: UInt64 = 0
    var children: [String: Node] = [:]
    init(_ name: String) { self.name = name }

    var depth: Int { 1 + (children.values.map(\.depth).max() ?? 0) }
  }

  func svg() -> String {
    let live = Set(profile.processes.map(\.liveLabel)).count == 1 ? profile.processes[0].liveLabel : "live when written"
    let growth = profile.isDiff ? "Growth since the base in bytes " : "Bytes "
    let panels: [(Metric, String, String)] = [
      (.total, "total", growth + "allocated in all"),
      (.peak, "peak", growth + "live at the peak"),
      (.live, "live", growth + live + (live == "live at exit" ? " (never freed)" : "")),
    ]
    var body = ""
    var y = 0.0
    for (metric, id, heading) in panels {
      let tree = self.tree(metric)
      let height = Double(tree.depth) * Self.frameHeight + 40
      body += panel(tree, id: id, heading: heading, top: y, height: height)
      y += height
    }
    return """
      <?xml version="1.0" standalone="no"?>
      <svg version="1.1" width="\(Int(Self.width))" height="\(Int(y + 40))" xmlns="http://www.w3.org/2000/svg" \
      font-family="Verdana, sans-serif" font-size="12">
      <rect x="0" y="0" width="100%" height="100%" fill="#f8f8f0"/>
      <text x="\(Int(Self.width / 2))" y="24" font-size="17" text-anchor="middle">\(escape(title))</text>
      <g transform="translate(0,36)">
      \(body)</g>
      </svg>

      """
  }

  private func tree(_ metric: Metric) -> Node {
    let root = Node("all")
    for process in profile.processes {
      for stack in process.stacks where stack.value(metric) > 0 {
        let bytes = UInt64(stack.value(metric))
        root.bytes += bytes
        var node = root
        for name in [process.name] + stack.frames.map(\.name) {
          let child = node.children[name] ?? Node(name)
          node.children[name] = child
          child.bytes += bytes
          node = child
        }
      }
    }
    return root
  }

  private func panel(_ root: Node, id: String, heading: String, top: Double, height: Double) -> String {
    var out = "<g id=\"\(id)\" transform=\"translate(0,\(Int(top)))\">\n"
    out += "<text x=\"\(Int(Self.margin))\" y=\"16\" font-size=\"14\">\(escape(heading)): \(Size.readable(root.bytes))</text>\n"
    let scale = root.bytes == 0 ? 0 : (Self.width - 2 * Self.margin) / Double(root.bytes)
    draw(root, x: Self.margin, level: 0, top: 26, scale: scale, whole: root.bytes, into: &out)
    return out + "</g>\n"
  }

  private func draw(_ node: Node, x: Double, level: Int, top: Double, scale: Double, whole: UInt64,
                    into out: inout String) {
    let w = Double(node.bytes) * scale
    guard w >= 0.1 else { return }
    let y = top + Double(level) * Self.frameHeight
    let share = Double(node.bytes) * 100 / Double(max(whole, 1))
    out += "<g class=\"frame\"><title>\(escape(node.name)) — \(node.bytes) bytes (\(Size.readable(node.bytes)), "
      + "\(formatted(share))%)</title>"
    out += "<rect x=\"\(formatted(x))\" y=\"\(formatted(y))\" width=\"\(formatted(w))\" "
      + "height=\"\(Int(Self.frameHeight) - 1)\" fill=\"\(color(node.name))\" rx=\"2\"/>"
    let fits = Int((w - 6) / Self.characterWidth)
    if fits >= 3 {
      let label = node.name.count <= fits ? node.name : String(node.name.prefix(fits - 2)) + ".."
      out += "<text x=\"\(formatted(x + 3))\" y=\"\(formatted(y + 11.5))\">\(escape(label))</text>"
    }
    out += "</g>\n"
    var childX = x
    for child in node.children.values.sorted(by: { $0.name < $1.name }) {
      draw(child, x: childX, level: level + 1, top: top, scale: scale, whole: whole, into: &out)
      childX += Double(child.bytes) * scale
    }
  }

  /// A warm colour that depends only on the name, so a function keeps its colour.
  private func color(_ name: String) -> String {
    var h: UInt32 = 2_166_136_261
    for byte in name.utf8 { h = (h ^ UInt32(byte)) &* 16_777_619 }
    return "rgb(\(205 + h % 50),\(80 + (h >> 8) % 150),\((h >> 16) % 60))"
  }

  private func formatted(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
  }

  private func escape(_ text: String) -> String {
    var out = ""
    for c in text {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      default: out.append(c)
      }
    }
    return out
  }
}
