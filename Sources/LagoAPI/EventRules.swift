import Foundation

/// What the console accepts in the identifiers it writes into events: one set of rules for the console's forms,
/// the headless commands and the engine's replay, so that nothing the console refuses gets in another way.
public enum EventRules {
    /// The characters of a billable metric code (Lago's dashboard writes codes of letters, digits, `_ . -`).
    static let codeCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

    /// Why `code` is not a billable metric code the console writes, or `nil` when it is.
    public static func metricCodeProblem(_ code: String) -> String? {
        let trimmed = code.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return "a code is required" }
        if let bad = trimmed.first(where: { !codeCharacters.contains($0) }) {
            return "'\(bad)' is not allowed: use letters, digits, _ . -"
        }
        return nil
    }

    /// Why `id` cannot be a transaction or external subscription id, or `nil` when it can: not empty, no
    /// surrounding spaces, no control characters, at most 255 characters (Lago stores them as strings; ids with
    /// invisible characters are indistinguishable to an operator).
    public static func identifierProblem(_ id: String) -> String? {
        if id.isEmpty { return "an id is required" }
        if id.count > 255 { return "at most 255 characters" }
        if id.first?.isWhitespace == true || id.last?.isWhitespace == true { return "no leading or trailing spaces" }
        if id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "no control characters"
        }
        return nil
    }

    /// A token (or call) count as an operator types it: a whole number ≥ 0, `_` allowed between digits, spaces
    /// around ignored; `nil` for anything else (empty included).
    public static func count(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        guard let value = Int64(trimmed), value >= 0 else { return nil }
        return value
    }
}
