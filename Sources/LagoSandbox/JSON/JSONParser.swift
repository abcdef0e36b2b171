import Foundation
import LagoAPI

/// Reads request bodies into `JSONValue` with Foundation's `JSONSerialization` (through `JSONValue.parse`):
/// integers stay `.integer`, any fraction or exponent makes a `.number`, and any syntax error (including trailing
/// garbage) fails, which the sandbox turns into Rails' `400 {"status":400,"error":"Bad Request"}`.
enum JSONParser {
    /// Why a body is not JSON; only used for logging.
    struct SyntaxError: Error, CustomStringConvertible {
        var reason: String
        var description: String { "JSON syntax error: \(reason)" }
    }

    /// Parses a complete JSON text (any top-level value, surrounded by optional whitespace).
    /// - Throws: `SyntaxError` when the bytes are not exactly one JSON value.
    static func parse(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        do {
            return try JSONValue.parse(Data(bytes))
        } catch {
            throw SyntaxError(reason: "\(error)")
        }
    }

    /// Parses a JSON text held in a string.
    static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }
}
