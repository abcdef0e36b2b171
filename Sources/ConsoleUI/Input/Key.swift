/// A key press, as the terminal backend decodes it.
///
/// Printable characters (including space and upper-case letters) are ``char(_:)``; control characters are
/// ``ctrl(_:)`` with the lower-case letter (`ctrl-c` is `.ctrl("c")`), except Tab, Enter, Esc and Backspace,
/// which have their own cases. ``init(byte:)`` maps raw bytes that way.
public enum Key: Sendable, Hashable {
    /// A printable character.
    case char(Character)
    /// A control key with its lower-case letter (`.ctrl("d")` is ctrl-d).
    case ctrl(Character)
    /// Arrow keys.
    case up, down, left, right
    /// Home, End, Page Up and Page Down.
    case home, end, pageUp, pageDown
    /// Enter (CR or LF), Esc, Tab, Shift-Tab (`KEY_BTAB`), Backspace and Delete.
    case enter, escape, tab, backTab, backspace, delete
    /// F1…F12.
    case function(Int)

    /// Decodes one byte of terminal input: Tab, Enter (CR or LF), Esc, Backspace (DEL or BS), ctrl-letters and
    /// printable ASCII; `nil` for other bytes (a backend decodes UTF-8 and escape sequences itself).
    public init?(byte: UInt8) {
        switch byte {
        case 9: self = .tab
        case 10, 13: self = .enter
        case 27: self = .escape
        case 8, 127: self = .backspace
        case 1...26: self = .ctrl(Character(Unicode.Scalar(byte + 96)))
        case 32...126: self = .char(Character(Unicode.Scalar(byte)))
        default: return nil
        }
    }

    /// How the key is written in help and hints (`j`, `↓`, `ctrl-d`, `PgDn`, `Enter`).
    public func label(ascii: Bool = false) -> String {
        switch self {
        case .char(" "): "space"
        case .char(let character): String(character)
        case .ctrl(let character): "ctrl-\(character)"
        case .up: ascii ? "up" : "↑"
        case .down: ascii ? "down" : "↓"
        case .left: ascii ? "left" : "←"
        case .right: ascii ? "right" : "→"
        case .home: "Home"
        case .end: "End"
        case .pageUp: "PgUp"
        case .pageDown: "PgDn"
        case .enter: "Enter"
        case .escape: "Esc"
        case .tab: "Tab"
        case .backTab: "S-Tab"
        case .backspace: "Bksp"
        case .delete: "Del"
        case .function(let number): "F\(number)"
        }
    }
}
