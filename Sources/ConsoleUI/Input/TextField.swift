/// A one-line text input with a cursor (command line, filter, form fields).
public struct TextField: Sendable, Hashable {
    /// The text typed so far.
    public private(set) var text: String
    /// The cursor position, in characters from the start (0…`text.count`).
    public private(set) var cursor: Int
    /// Whether the whole text is selected: the next character typed replaces it, Backspace clears it, and a
    /// cursor key ends the selection to edit the text (a form field opened with a value in it).
    public private(set) var isSelected = false

    /// Creates a field holding `text` with the cursor at its end.
    public init(_ text: String = "") {
        self.text = text
        self.cursor = text.count
    }

    /// A field holding `text`, all of it selected (typing replaces it; arrows edit it). An empty text has nothing
    /// to select.
    public static func selectingAll(_ text: String) -> TextField {
        var field = TextField(text)
        field.isSelected = !text.isEmpty
        return field
    }

    /// Replaces the text and moves the cursor to its end.
    public mutating func set(_ newText: String) {
        text = newText
        cursor = newText.count
    }

    /// Applies an editing key: printable characters insert, ←/→/Home/End/ctrl-a/ctrl-e move, Backspace/Delete
    /// delete, ctrl-u clears before the cursor, ctrl-w deletes the word before the cursor.
    /// - Returns: whether the key was an editing key.
    public mutating func apply(_ key: Key) -> Bool {
        if isSelected {
            switch key {
            case .char, .backspace, .delete, .ctrl("u"), .ctrl("w"):
                // Typing replaces the selected text; deleting clears it.
                isSelected = false
                text = ""
                cursor = 0
                if case .char = key { break }
                return true
            case .left, .right, .home, .end, .ctrl("a"), .ctrl("e"):
                isSelected = false
            default:
                return false
            }
        }
        var characters = Array(text)
        switch key {
        case .char(let character):
            characters.insert(character, at: cursor)
            cursor += 1
        case .backspace:
            guard cursor > 0 else { return true }
            characters.remove(at: cursor - 1)
            cursor -= 1
        case .delete:
            guard cursor < characters.count else { return true }
            characters.remove(at: cursor)
        case .left:
            cursor = max(0, cursor - 1)
            return true
        case .right:
            cursor = min(characters.count, cursor + 1)
            return true
        case .home, .ctrl("a"):
            cursor = 0
            return true
        case .end, .ctrl("e"):
            cursor = characters.count
            return true
        case .ctrl("u"):
            characters.removeFirst(cursor)
            cursor = 0
        case .ctrl("w"):
            var start = cursor
            while start > 0 && characters[start - 1] == " " { start -= 1 }
            while start > 0 && characters[start - 1] != " " { start -= 1 }
            characters.removeSubrange(start..<cursor)
            cursor = start
        default:
            return false
        }
        text = String(characters)
        return true
    }

    /// Draws the field in `width` columns from (`x`, `y`), scrolled so the cursor stays visible. When `focused`,
    /// the cursor cell is drawn in reverse video and the grid's hardware cursor is placed on it.
    func render(into grid: inout Grid, x: Int, y: Int, width: Int, style: Style, focused: Bool) {
        guard width > 0 else { return }
        let characters = Array(text)
        // Scroll horizontally: keep the cursor within the last column.
        var start = 0
        var cursorColumn = displayWidth(of: String(characters[0..<cursor]))
        while cursorColumn > width - 1 && start < characters.count {
            cursorColumn -= displayWidth(of: characters[start])
            start += 1
        }
        let visible = String(characters[start...])
        grid.put(visible, x: x, y: y, style: style, maxWidth: width, pad: true)
        if focused && isSelected {
            // The selection: the whole text in reverse video, the cursor after it.
            grid.put(visible, x: x, y: y, style: style.patched(with: Style(reverse: true)), maxWidth: width)
            grid.cursor = Position(x: x + min(width - 1, cursorColumn), y: y)
            return
        }
        if focused {
            let column = x + cursorColumn
            let under = cursor < characters.count ? String(characters[cursor]) : " "
            grid.put(under, x: column, y: y, style: style.patched(with: Style(reverse: true)), maxWidth: 2)
            grid.cursor = Position(x: column, y: y)
        }
    }
}
