/// One input from the terminal, decoded from curses `get_wch`.
public enum TerminalInput: Sendable, Hashable {
    /// A printable character (UTF-8 safe).
    case character(Character)
    /// Ctrl plus a letter, e.g. `.control("c")` for Ctrl-C (delivered as a key: the console runs in raw mode).
    case control(Character)
    case enter, escape, tab, backTab, backspace, delete, insert
    case up, down, left, right, home, end, pageUp, pageDown
    /// F1…F12.
    case function(Int)
    /// The terminal was resized to `width` × `height` cells.
    case resize(width: Int, height: Int)
}
