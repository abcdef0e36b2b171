import Foundation
public import LagoAPI

/// Checks and parsers for what the operator types, shared by the forms.
public enum ConsoleValidation {
    /// Why `code` is not a valid Lago code, or `nil` when it is (``LagoAPI/EventRules/metricCodeProblem(_:)``).
    public static func metricCodeProblem(_ code: String) -> String? {
        EventRules.metricCodeProblem(code)
    }

    /// Parses event properties typed as a JSON object; empty text is `{}`.
    public static func parseProperties(_ text: String) -> Result<[String: JSONValue], OperationError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return .success([:]) }
        guard let value = try? JSONValue.parse(Data(trimmed.utf8)) else {
            return .failure(OperationError("not valid JSON"))
        }
        guard case .object(let object) = value else {
            return .failure(OperationError("properties must be a JSON object {…}"))
        }
        return .success(object)
    }

    /// Parses dimensions typed as `key=value, key=value`; empty text is no dimensions.
    public static func parseDimensions(_ text: String) -> Result<[String: String], OperationError> {
        var dimensions: [String: String] = [:]
        for part in text.split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.isEmpty { continue }
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                return .failure(OperationError("'\(pair)' is not key=value"))
            }
            let key = pair[..<equals].trimmingCharacters(in: .whitespaces)
            let value = pair[pair.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            dimensions[key] = value
        }
        return .success(dimensions)
    }

    /// Parses a count typed in a usage field: empty is `nil`, otherwise a non-negative integer.
    public static func parseCount(_ text: String) -> Result<Int64?, OperationError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        if trimmed.isEmpty { return .success(nil) }
        guard let value = EventRules.count(trimmed) else {
            return .failure(OperationError("a whole number ≥ 0"))
        }
        return .success(value)
    }

    /// Parses a timestamp: empty is `nil` (now), else Unix seconds or ISO-8601 (`2025-01-31T12:00:00Z`).
    public static func parseTimestamp(_ text: String) -> Result<Double?, OperationError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return .success(nil) }
        if let seconds = Double(trimmed), seconds.isFinite, seconds >= 0 { return .success(seconds) }
        if let date = LagoDateFormat.parse(trimmed) { return .success(date.timeIntervalSince1970) }
        return .failure(OperationError("Unix seconds or ISO-8601, e.g. 2025-01-31T12:00:00Z"))
    }
}
