import Foundation
import Testing

@testable import ConsoleUI

/// A golden screen as text: the frame's rows, then one style letter per cell, then a legend of the letters.
///
/// The style grid has a letter per cell (a wide grapheme's continuation cell included, so columns line up with
/// the grid), `.` for the plain style; trailing `.` are trimmed. Letters are given in order of first appearance;
/// the legend spells each style out and names the theme roles that have exactly that style, so a reviewer can
/// check that the selected row is reversed, headers are bold, errors are red.
enum GoldenFile {
    /// The letters given to styles, in order of first appearance.
    static let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    /// The golden text of `grid`; roles are named from `theme`.
    static func text(_ grid: Grid, theme: Theme) -> String {
        var letterOf: [Style: Character] = [.plain: "."]
        var order: [Style] = []
        var rows: [String] = []
        for y in 0..<grid.height {
            var row = ""
            for x in 0..<grid.width {
                let style = grid[x, y].style
                if letterOf[style] == nil {
                    letterOf[style] = order.count < letters.count ? letters[order.count] : "?"
                    order.append(style)
                }
                row.append(letterOf[style]!)
            }
            while row.last == "." { row.removeLast() }
            rows.append(row)
        }
        let roles = Mirror(reflecting: theme).children.compactMap { child -> (String, Style)? in
            guard let label = child.label, let style = child.value as? Style else { return nil }
            return (label, style)
        }
        let legend = order.map { style -> String in
            let names = roles.filter { $0.1 == style }.map(\.0)
            let suffix = names.isEmpty ? "" : "  (\(names.joined(separator: ", ")))"
            return "\(letterOf[style]!)  \(describe(style))\(suffix)"
        }
        return grid.plainText + "\n"
            + "~~~ styles: one letter per cell, '.' plain (trailing '.' trimmed) ~~~\n"
            + rows.joined(separator: "\n") + "\n"
            + "~~~ legend ~~~\n"
            + (legend.isEmpty ? "" : legend.joined(separator: "\n") + "\n")
    }

    /// `fg=black bg=cyan bold`; `plain` for the default style.
    static func describe(_ style: Style) -> String {
        var parts: [String] = []
        if let fg = style.fg { parts.append("fg=\(fg)") }
        if let bg = style.bg { parts.append("bg=\(bg)") }
        if style.bold { parts.append("bold") }
        if style.dim { parts.append("dim") }
        if style.reverse { parts.append("reverse") }
        if style.underline { parts.append("underline") }
        return parts.isEmpty ? "plain" : parts.joined(separator: " ")
    }

    /// What differs between a recorded golden text and the actual one (up to 8 lines), or `nil` when equal.
    ///
    /// Lines are named by section: `text row N`, `styles row N`, `legend line N`.
    static func mismatch(expected: String, actual: String) -> String? {
        guard actual != expected else { return nil }
        func sections(_ text: String) -> [(String, [Substring])] {
            var result: [(String, [Substring])] = [("text row", [])]
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("~~~ styles") {
                    result.append(("styles row", []))
                } else if line == "~~~ legend ~~~" {
                    result.append(("legend line", []))
                } else {
                    result[result.count - 1].1.append(line)
                }
            }
            return result
        }
        let expectedSections = sections(expected)
        let actualSections = sections(actual)
        var report: [String] = []
        for index in 0..<max(expectedSections.count, actualSections.count) {
            let name = (index < expectedSections.count ? expectedSections : actualSections)[index].0
            let e = index < expectedSections.count ? expectedSections[index].1 : []
            let a = index < actualSections.count ? actualSections[index].1 : []
            for line in 0..<max(e.count, a.count) {
                let expectedLine = line < e.count ? String(e[line]) : "<none>"
                let actualLine = line < a.count ? String(a[line]) : "<none>"
                if expectedLine != actualLine {
                    report.append("\(name) \(line + 1):\n  expected: \(expectedLine)\n  actual:   \(actualLine)")
                }
            }
        }
        if report.isEmpty { report.append("the files differ in their section markers") }
        return report.prefix(8).joined(separator: "\n")
    }

    /// The folder of the golden files.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// The recorded golden text of `name`, or `nil` when there is no such file.
    static func recorded(_ name: String) -> String? {
        try? String(contentsOf: directory.appendingPathComponent(name + ".txt"), encoding: .utf8)
    }
}

/// Compares a frame (text and styles) with `Golden/<name>.txt`; with `RECORD_GOLDEN=1` (re)writes the file instead.
///
/// `monochrome` names the roles from the `NO_COLOR` theme in the legend (pass it for a state with `noColor`).
func expectGolden(
    _ grid: Grid, _ name: String, monochrome: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) {
    let actual = GoldenFile.text(grid, theme: monochrome ? .monochrome : .color)
    if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
        try! FileManager.default.createDirectory(at: GoldenFile.directory, withIntermediateDirectories: true)
        let file = GoldenFile.directory.appendingPathComponent(name + ".txt")
        try! actual.write(to: file, atomically: true, encoding: .utf8)
        return
    }
    guard let expected = GoldenFile.recorded(name) else {
        Issue.record(
            "missing golden file Golden/\(name).txt — run with RECORD_GOLDEN=1 to record it",
            sourceLocation: sourceLocation)
        return
    }
    if let details = GoldenFile.mismatch(expected: expected, actual: actual) {
        Issue.record("\(name) differs from its golden file:\n\(details)", sourceLocation: sourceLocation)
    }
}
