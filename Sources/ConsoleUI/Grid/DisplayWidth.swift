/// The number of terminal columns a grapheme cluster occupies: 0, 1 or 2.
///
/// Table-based (no `wcwidth`): East Asian Wide/Fullwidth code points and emoji are 2 columns, combining marks,
/// zero-width characters and control characters are 0, everything else is 1. A cluster with the emoji
/// presentation selector (U+FE0F) or a regional-indicator flag is 2.
public func displayWidth(of character: Character) -> Int {
    if let ascii = character.asciiValue {
        return ascii >= 0x20 && ascii != 0x7F ? 1 : 0
    }
    let scalars = character.unicodeScalars
    guard let first = scalars.first else { return 0 }
    if (0x1F1E6...0x1F1FF).contains(first.value) { return 2 }
    let base = scalarWidth(first.value)
    if base == 2 { return 2 }
    if scalars.count > 1, scalars.contains(where: { $0.value == 0xFE0F }) { return 2 }
    return base
}

/// The number of terminal columns a string occupies (the sum of its graphemes' widths).
public func displayWidth(of text: some StringProtocol) -> Int {
    var asciiOnly = true
    var width = 0
    for byte in text.utf8 {
        if byte >= 0x80 {
            asciiOnly = false
            break
        }
        if byte >= 0x20 && byte != 0x7F { width += 1 }
    }
    if asciiOnly { return width }
    width = 0
    for character in text { width += displayWidth(of: character) }
    return width
}

/// Fits `text` into at most `width` columns, cutting at a word boundary and ending with `ellipsis` when something
/// was cut: the console's one fitting function (every label, hint, notice and cell goes through it).
///
/// Trailing spaces that do not fit are dropped without a mark (nothing visible was cut). Otherwise the text is cut
/// after the last whole word that fits with the ellipsis; only a first word longer than the width is cut inside,
/// and then it too ends with the ellipsis, never with a bare cut. Display-width aware: wide (CJK, emoji) graphemes
/// count two columns and are never split.
public func truncate(_ text: String, toWidth width: Int, ellipsis: String = "…") -> String {
    guard width > 0 else { return "" }
    if displayWidth(of: text) <= width { return text }
    var trimmed = Substring(text)
    while let last = trimmed.last, last.isWhitespace { trimmed = trimmed.dropLast() }
    if displayWidth(of: trimmed) <= width { return String(trimmed) }
    let ellipsisWidth = displayWidth(of: ellipsis)
    if width <= ellipsisWidth { return String(repeating: ".", count: width) }
    let room = width - ellipsisWidth
    var end = trimmed.startIndex
    var used = 0
    var lastWordEnd: Substring.Index?
    var index = trimmed.startIndex
    while index < trimmed.endIndex {
        let character = trimmed[index]
        let w = displayWidth(of: character)
        if used + w > room { break }
        used += w
        let next = trimmed.index(after: index)
        if !character.isWhitespace, next < trimmed.endIndex, trimmed[next].isWhitespace { lastWordEnd = next }
        index = next
        end = next
    }
    // `end` stops inside a word unless the next character is a space: go back to the end of the last whole word.
    let cutsWord =
        end < trimmed.endIndex && !trimmed[end].isWhitespace && end > trimmed.startIndex
        && !trimmed[trimmed.index(before: end)].isWhitespace
    if cutsWord, let lastWordEnd { end = lastWordEnd }
    var kept = trimmed[..<end]
    while let last = kept.last, last.isWhitespace { kept = kept.dropLast() }
    return String(kept) + ellipsis
}

/// Wraps `text` into lines of at most `width` columns, breaking at spaces; a word longer than a line is broken
/// with `ellipsis` ending each broken piece (nothing is lost, nothing is cut without a mark). Lines that fit are kept
/// as they are; wrapped lines keep their indentation. Newlines start new lines.
public func wrapped(_ text: String, toWidth width: Int, ellipsis: String = "…") -> [String] {
    guard width > 0 else { return [] }
    var lines: [String] = []
    let ellipsisWidth = displayWidth(of: ellipsis)
    for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if displayWidth(of: paragraph) <= width {
            lines.append(String(paragraph))
            continue
        }
        // `Label         value`: the value wraps under itself, the label's spacing kept (the detail view's rows).
        if let gap = paragraph.range(of: "  "), paragraph[..<gap.lowerBound].first != " " {
            let valueStart = paragraph[gap.upperBound...].firstIndex { $0 != " " } ?? paragraph.endIndex
            let label = paragraph[..<valueStart]
            let labelWidth = displayWidth(of: label)
            if labelWidth <= width / 2, valueStart < paragraph.endIndex {
                let value = wrapped(String(paragraph[valueStart...]), toWidth: width - labelWidth, ellipsis: ellipsis)
                let hanging = String(repeating: " ", count: labelWidth)
                lines += value.enumerated().map { ($0 == 0 ? String(label) : hanging) + $1 }
                continue
            }
        }
        let indentCount = min(paragraph.prefix { $0 == " " }.count, width / 2)
        let indent = String(repeating: " ", count: indentCount)
        let available = max(1, width - indentCount)
        var current = ""
        var currentWidth = 0
        for word in paragraph.dropFirst(indentCount).split(separator: " ") {
            var word = Substring(word)
            var wordWidth = displayWidth(of: word)
            if currentWidth > 0 && currentWidth + 1 + wordWidth <= available {
                current += " " + word
                currentWidth += 1 + wordWidth
                continue
            }
            if currentWidth > 0 {
                lines.append(indent + current)
                current = ""
                currentWidth = 0
            }
            // A word longer than the line: pieces that end with the ellipsis, the rest on the next line.
            let pieceRoom = available > ellipsisWidth ? available - ellipsisWidth : available
            while wordWidth > available {
                var head = ""
                var headWidth = 0
                while let character = word.first, headWidth + displayWidth(of: character) <= pieceRoom {
                    head.append(character)
                    headWidth += displayWidth(of: character)
                    word = word.dropFirst()
                }
                if head.isEmpty { break }
                lines.append(indent + head + (available > ellipsisWidth ? ellipsis : ""))
                wordWidth = displayWidth(of: word)
            }
            current = String(word)
            currentWidth = wordWidth
        }
        if currentWidth > 0 { lines.append(indent + current) }
    }
    return lines
}

/// Keeps the end of `text` within `width` columns, starting with `ellipsis` when something was cut.
///
/// Used for identifiers whose tail is the distinctive part (UUID transaction ids).
public func truncateLeading(_ text: String, toWidth width: Int, ellipsis: String = "…") -> String {
    guard width > 0 else { return "" }
    if displayWidth(of: text) <= width { return text }
    let ellipsisWidth = displayWidth(of: ellipsis)
    if width <= ellipsisWidth { return String(repeating: ".", count: width) }
    var kept: [Character] = []
    var used = 0
    for character in text.reversed() {
        let w = displayWidth(of: character)
        if used + w > width - ellipsisWidth { break }
        kept.append(character)
        used += w
    }
    return ellipsis + String(kept.reversed())
}

/// Pads `text` with spaces on the right to `width` columns (truncating with an ellipsis when longer).
public func padded(_ text: String, toWidth width: Int, ellipsis: String = "…") -> String {
    let cut = truncate(text, toWidth: width, ellipsis: ellipsis)
    let missing = width - displayWidth(of: cut)
    return missing > 0 ? cut + String(repeating: " ", count: missing) : cut
}

/// Pads `text` with spaces on the left to `width` columns (right-aligned).
public func rightAligned(_ text: String, toWidth width: Int, ellipsis: String = "…") -> String {
    let cut = truncate(text, toWidth: width, ellipsis: ellipsis)
    let missing = width - displayWidth(of: cut)
    return missing > 0 ? String(repeating: " ", count: missing) + cut : cut
}

/// The width of one code point: 0 (control, combining, zero-width), 2 (wide) or 1.
func scalarWidth(_ value: UInt32) -> Int {
    if value < 0x20 || (0x7F..<0xA0).contains(value) { return 0 }
    if value < 0x300 { return 1 }
    if inRanges(value, zeroWidthRanges) { return 0 }
    if value < 0x1100 { return 1 }
    return inRanges(value, wideRanges) ? 2 : 1
}

private func inRanges(_ value: UInt32, _ ranges: [ClosedRange<UInt32>]) -> Bool {
    var low = 0
    var high = ranges.count - 1
    while low <= high {
        let mid = (low + high) / 2
        let range = ranges[mid]
        if value < range.lowerBound {
            high = mid - 1
        } else if value > range.upperBound {
            low = mid + 1
        } else {
            return true
        }
    }
    return false
}

/// Combining marks (Mn, Me), format characters and other zero-width code points, sorted.
private let zeroWidthRanges: [ClosedRange<UInt32>] = [
    0x0300...0x036F, 0x0483...0x0489, 0x0591...0x05BD, 0x05BF...0x05BF, 0x05C1...0x05C2, 0x05C4...0x05C5,
    0x05C7...0x05C7, 0x0610...0x061A, 0x061C...0x061C, 0x064B...0x065F, 0x0670...0x0670, 0x06D6...0x06DC,
    0x06DF...0x06E4, 0x06E7...0x06E8, 0x06EA...0x06ED, 0x0711...0x0711, 0x0730...0x074A, 0x07A6...0x07B0,
    0x07EB...0x07F3, 0x0816...0x082D, 0x0859...0x085B, 0x08D3...0x0902, 0x093A...0x093A, 0x093C...0x093C,
    0x0941...0x0948, 0x094D...0x094D, 0x0951...0x0957, 0x0962...0x0963, 0x0981...0x0981, 0x09BC...0x09BC,
    0x09C1...0x09C4, 0x09CD...0x09CD, 0x09E2...0x09E3, 0x0A01...0x0A02, 0x0A3C...0x0A3C, 0x0A41...0x0A51,
    0x0A70...0x0A71, 0x0A75...0x0A75, 0x0A81...0x0A82, 0x0ABC...0x0ABC, 0x0AC1...0x0AC8, 0x0ACD...0x0ACD,
    0x0B01...0x0B01, 0x0B3C...0x0B3C, 0x0B3F...0x0B3F, 0x0B41...0x0B44, 0x0B4D...0x0B4D, 0x0BC0...0x0BC0,
    0x0BCD...0x0BCD, 0x0C3E...0x0C40, 0x0C46...0x0C56, 0x0CBC...0x0CBC, 0x0CCC...0x0CCD, 0x0D41...0x0D44,
    0x0D4D...0x0D4D, 0x0DCA...0x0DCA, 0x0DD2...0x0DD6, 0x0E31...0x0E31, 0x0E34...0x0E3A, 0x0E47...0x0E4E,
    0x0EB1...0x0EB1, 0x0EB4...0x0EBC, 0x0EC8...0x0ECD, 0x0F18...0x0F19, 0x0F35...0x0F35, 0x0F37...0x0F37,
    0x0F39...0x0F39, 0x0F71...0x0F7E, 0x0F80...0x0F84, 0x0F86...0x0F87, 0x0F8D...0x0FBC, 0x0FC6...0x0FC6,
    0x102D...0x1030, 0x1032...0x1037, 0x1039...0x103A, 0x1058...0x1059, 0x1160...0x11FF, 0x135D...0x135F,
    0x1712...0x1714, 0x1732...0x1734, 0x1752...0x1753, 0x1772...0x1773, 0x17B4...0x17B5, 0x17B7...0x17BD,
    0x17C6...0x17C6, 0x17C9...0x17D3, 0x17DD...0x17DD, 0x180B...0x180F, 0x1885...0x1886, 0x18A9...0x18A9,
    0x1920...0x1922, 0x1927...0x1928, 0x1932...0x1932, 0x1939...0x193B, 0x1A17...0x1A18, 0x1AB0...0x1AFF,
    0x1B00...0x1B03, 0x1B34...0x1B34, 0x1B36...0x1B3A, 0x1B6B...0x1B73, 0x1DC0...0x1DFF, 0x200B...0x200F,
    0x2028...0x202E, 0x2060...0x206F, 0x20D0...0x20F0, 0x2CEF...0x2CF1, 0x2D7F...0x2D7F, 0x2DE0...0x2DFF,
    0x302A...0x302D, 0x3099...0x309A, 0xA66F...0xA672, 0xA674...0xA67D, 0xA69E...0xA69F, 0xA6F0...0xA6F1,
    0xA802...0xA802, 0xA806...0xA806, 0xA80B...0xA80B, 0xA825...0xA826, 0xA8C4...0xA8C5, 0xA8E0...0xA8F1,
    0xD7B0...0xD7FF, 0xFB1E...0xFB1E, 0xFE00...0xFE0F, 0xFE20...0xFE2F, 0xFEFF...0xFEFF, 0xFFF9...0xFFFB,
    0x101FD...0x101FD, 0x10A01...0x10A0F, 0x10A38...0x10A3F, 0x11001...0x11001, 0x11038...0x11046,
    0x1D167...0x1D169, 0x1D173...0x1D182, 0x1D185...0x1D18B, 0x1D1AA...0x1D1AD, 0x1F3FB...0x1F3FF,
    0xE0001...0xE007F, 0xE0100...0xE01EF,
]

/// East Asian Wide (W) and Fullwidth (F) code points, including emoji with default emoji presentation, sorted.
private let wideRanges: [ClosedRange<UInt32>] = [
    0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0, 0x23F3...0x23F3,
    0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F, 0x2693...0x2693, 0x26A1...0x26A1,
    0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA,
    0x26F2...0x26F3, 0x26F5...0x26F5, 0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B,
    0x2728...0x2728, 0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
    0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55, 0x2E80...0x303E,
    0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3,
    0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4,
    0x17000...0x18AFF, 0x1B000...0x1B2FF, 0x1F004...0x1F004, 0x1F0CF...0x1F0CF, 0x1F18E...0x1F18E,
    0x1F191...0x1F19A, 0x1F200...0x1F202, 0x1F210...0x1F23B, 0x1F240...0x1F248, 0x1F250...0x1F251,
    0x1F260...0x1F265, 0x1F300...0x1F320, 0x1F32D...0x1F335, 0x1F337...0x1F37C, 0x1F37E...0x1F393,
    0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0, 0x1F3F4...0x1F3F4, 0x1F3F8...0x1F3FA,
    0x1F400...0x1F43E, 0x1F440...0x1F440, 0x1F442...0x1F4FC, 0x1F4FF...0x1F53D, 0x1F54B...0x1F54E,
    0x1F550...0x1F567, 0x1F57A...0x1F57A, 0x1F595...0x1F596, 0x1F5A4...0x1F5A4, 0x1F5FB...0x1F64F,
    0x1F680...0x1F6C5, 0x1F6CC...0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7, 0x1F6DC...0x1F6DF,
    0x1F6EB...0x1F6EC, 0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB, 0x1F7F0...0x1F7F0, 0x1F90C...0x1F93A,
    0x1F93C...0x1F945, 0x1F947...0x1F9FF, 0x1FA70...0x1FAFF, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
]
