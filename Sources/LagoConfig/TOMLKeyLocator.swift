/// Finds the line a key is written on in TOML text.
///
/// TOMLKit does not expose the source position of parsed values, so errors about a value find its line by
/// scanning the text: table headers (`[engine]`), dotted and quoted keys (`lago."api_url" = …`), and values that
/// span lines (multi-line strings, arrays, inline tables) are understood; anything unusual yields no line rather
/// than a wrong one.
struct TOMLKeyLocator {
    /// A key or table header and the line it starts on.
    struct Entry {
        var line: Int
        var path: [String]
    }

    private(set) var entries: [Entry] = []

    init(text: String) {
        var table: [String] = []
        var openMultilineString: String? = nil
        var depth = 0
        var lineNumber = 0
        // CRLF is one Character in Swift, so splitting on "\n" alone would take a CRLF file for a single line.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = rawLine
            if let delimiter = openMultilineString {
                guard let end = Self.closingDelimiter(delimiter, in: line) else { continue }
                openMultilineString = nil
                line = line[end...]
                Self.scanValue(line, depth: &depth, openMultilineString: &openMultilineString)
                continue
            }
            if depth > 0 {
                Self.scanValue(line, depth: &depth, openMultilineString: &openMultilineString)
                continue
            }
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                continue
            }
            if trimmed.hasPrefix("[") {
                let isArrayOfTables = trimmed.hasPrefix("[[")
                var rest = trimmed.dropFirst(isArrayOfTables ? 2 : 1)
                guard let path = Self.parseKey(&rest, terminator: "]") else { continue }
                table = path
                self.entries.append(Entry(line: lineNumber, path: path))
                continue
            }
            var rest = trimmed
            guard let key = Self.parseKey(&rest, terminator: "=") else { continue }
            self.entries.append(Entry(line: lineNumber, path: table + key))
            Self.scanValue(rest.dropFirst(), depth: &depth, openMultilineString: &openMultilineString)
        }
    }

    /// The line of `path` (such as `["engine", "max_in_flight"]`): where it is set, else where the closest
    /// enclosing table or inline table is, else where the first key inside it is.
    func line(of path: [String]) -> Int? {
        if let exact = self.entries.first(where: { $0.path == path }) {
            return exact.line
        }
        let enclosing = self.entries.filter { !$0.path.isEmpty && path.starts(with: $0.path) }
        if let closest = enclosing.max(by: { $0.path.count < $1.path.count }) {
            return enclosing.first { $0.path.count == closest.path.count }?.line
        }
        return self.entries.first { $0.path.starts(with: path) && !path.isEmpty }?.line
    }

    /// The key (not table header) written on `line`, if any.
    func key(atLine line: Int) -> [String]? {
        self.entries.last { $0.line == line }?.path
    }

    /// Parses a dotted key up to `terminator`, leaving `text` at the terminator.
    private static func parseKey(_ text: inout Substring, terminator: Character) -> [String]? {
        var parts: [String] = []
        while true {
            text = text.drop { $0 == " " || $0 == "\t" }
            guard let first = text.first else { return nil }
            if first == "\"" || first == "'" {
                text = text.dropFirst()
                var part = ""
                var escaped = false
                while let character = text.first {
                    text = text.dropFirst()
                    if escaped {
                        part.append(character)
                        escaped = false
                    } else if character == "\\" && first == "\"" {
                        escaped = true
                    } else if character == first {
                        break
                    } else {
                        part.append(character)
                    }
                }
                parts.append(part)
            } else {
                let part = text.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
                guard !part.isEmpty else { return nil }
                parts.append(String(part))
                text = text.dropFirst(part.count)
            }
            text = text.drop { $0 == " " || $0 == "\t" }
            if text.first == "." {
                text = text.dropFirst()
                continue
            }
            return text.first == terminator ? parts : nil
        }
    }

    /// Follows brackets and strings in a value so that lines continuing it are not taken for keys.
    private static func scanValue(_ text: Substring, depth: inout Int, openMultilineString: inout String?) {
        var rest = text
        while let character = rest.first {
            switch character {
            case "#":
                return
            case "[", "{":
                depth += 1
                rest = rest.dropFirst()
            case "]", "}":
                depth = max(0, depth - 1)
                rest = rest.dropFirst()
            case "\"", "'":
                let triple = String(repeating: character, count: 3)
                if rest.hasPrefix(triple) {
                    rest = rest.dropFirst(3)
                    guard let end = self.closingDelimiter(triple, in: rest) else {
                        openMultilineString = triple
                        return
                    }
                    rest = rest[end...]
                } else {
                    rest = rest.dropFirst()
                    var escaped = false
                    while let next = rest.first {
                        rest = rest.dropFirst()
                        if escaped {
                            escaped = false
                        } else if next == "\\" && character == "\"" {
                            escaped = true
                        } else if next == character {
                            break
                        }
                    }
                }
            default:
                rest = rest.dropFirst()
            }
        }
    }

    /// The index just past the closing `delimiter` (`"""` or `'''`) in `text`, skipping escaped quotes.
    private static func closingDelimiter(_ delimiter: String, in text: Substring) -> Substring.Index? {
        var index = text.startIndex
        var escaped = false
        while index < text.endIndex {
            let character = text[index]
            if escaped {
                escaped = false
            } else if character == "\\" && delimiter == "\"\"\"" {
                escaped = true
            } else if text[index...].hasPrefix(delimiter) {
                var end = text.index(index, offsetBy: 3)
                // Up to two more quotes may belong to the string's content: """a""""" ends after all of them.
                var extra = 0
                while end < text.endIndex, text[end] == delimiter.first, extra < 2 {
                    end = text.index(after: end)
                    extra += 1
                }
                return end
            }
            index = text.index(after: index)
        }
        return nil
    }
}
