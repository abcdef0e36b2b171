import Foundation
public import LagoAPI

/// Reads request bodies into `JSONValue` with Foundation's `JSONSerialization` (through `JSONValue.parse`):
/// integers stay `.integer`, any fraction or exponent makes a `.number`, and any syntax error (including trailing
/// garbage) fails, which the sandbox turns into Rails' `400 {"status":400,"error":"Bad Request"}`.
public enum JSONParser {
    /// Why a body is not JSON; only used for logging.
    public struct SyntaxError: Error, CustomStringConvertible {
        /// What the parser reported.
        public var reason: String
        /// `JSON syntax error: <reason>`.
        public var description: String { "JSON syntax error: \(reason)" }
    }

    /// Parses a complete JSON text (any top-level value, surrounded by optional whitespace).
    /// - Throws: `SyntaxError` when the bytes are not exactly one JSON value.
    public static func parse(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        do {
            return try JSONValue.parse(Data(bytes))
        } catch {
            throw SyntaxError(reason: "\(error)")
        }
    }

    /// Parses a JSON text held in a string.
    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }
}
