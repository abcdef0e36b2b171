import Foundation
import LagoAPI
import LagoBilling

/// Text formatting for the views: deterministic (no locale), time zone from the state.
enum Format {
    /// `12:00:03` in `timeZone`.
    static func clock(_ date: Date, _ timeZone: TimeZone) -> String {
        let parts = civil(date, timeZone)
        return "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))"
    }

    /// `2025-01-31 12:00:03 UTC` (or `+02:00`) in `timeZone`.
    static func dateTime(_ date: Date, _ timeZone: TimeZone) -> String {
        let parts = civil(date, timeZone)
        return "\(parts.year)-\(two(parts.month))-\(two(parts.day)) "
            + "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)) \(zoneName(date, timeZone))"
    }

    /// `UTC` or `+02:00`.
    static func zoneName(_ date: Date, _ timeZone: TimeZone) -> String {
        let offset = timeZone.secondsFromGMT(for: date)
        if offset == 0 { return "UTC" }
        let sign = offset < 0 ? "-" : "+"
        let minutes = abs(offset) / 60
        return "\(sign)\(two(minutes / 60)):\(two(minutes % 60))"
    }

    /// `4s`, `3m12s`, `2h05m`, `3d04h`.
    static func age(_ seconds: Double) -> String {
        let total = max(0, Int(seconds.rounded(.down)))
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(two(total % 60))s" }
        if total < 86400 { return "\(total / 3600)h\(two(total % 3600 / 60))m" }
        return "\(total / 86400)d\(two(total % 86400 / 3600))h"
    }

    /// `in 4s`, or `now` when the time has come.
    static func countdown(to date: Date, from now: Date) -> String {
        let remaining = date.timeIntervalSince(now)
        return remaining <= 0.5 ? "now" : "in " + age(remaining.rounded(.up))
    }

    /// `1,234,567`.
    static func grouped(_ value: Int) -> String {
        let digits = UsageText.grouped(String(value.magnitude))
        return value < 0 ? "-" + digits : digits
    }

    /// `870 ms`, `1.2 s`.
    static func duration(_ duration: Duration) -> String {
        let seconds = duration / .seconds(1)
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        return oneDecimal(seconds) + " s"
    }

    /// `12.3`.
    static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }

    /// A JSON value pretty-printed with sorted keys and two-space indentation.
    static func prettyJSON(_ value: JSONValue, indent: String = "") -> [String] {
        let inner = indent + "  "
        switch value {
        case .object(let object) where !object.isEmpty:
            let keys = object.keys.sorted()
            var lines = ["{"]
            for (index, key) in keys.enumerated() {
                var nested = prettyJSON(object[key]!, indent: inner)
                nested[0] = inner + JSONValue.string(key).jsonText + ": " + nested[0]
                if index < keys.count - 1 { nested[nested.count - 1] += "," }
                lines += nested
            }
            lines.append(indent + "}")
            return lines
        case .array(let array) where !array.isEmpty:
            var lines = ["["]
            for (index, element) in array.enumerated() {
                var nested = prettyJSON(element, indent: inner)
                nested[0] = inner + nested[0]
                if index < array.count - 1 { nested[nested.count - 1] += "," }
                lines += nested
            }
            lines.append(indent + "]")
            return lines
        default:
            return [value.jsonText]
        }
    }

    /// JSON text pretty-printed when it parses, else the text's lines.
    static func prettyJSON(text: String) -> [String] {
        if let value = try? JSONValue.parse(Data(text.utf8)) { return prettyJSON(value) }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    private struct Civil {
        var year, month, day, hour, minute, second: Int
    }

    /// Calendar fields without `Calendar` (``LagoAPI/CivilDate``): fast and locale-free.
    private static func civil(_ date: Date, _ timeZone: TimeZone) -> Civil {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) + timeZone.secondsFromGMT(for: date)
        var days = seconds / 86400
        var secondOfDay = seconds % 86400
        if secondOfDay < 0 {
            secondOfDay += 86400
            days -= 1
        }
        let civil = CivilDate(daysSinceEpoch: Int64(days))
        return Civil(
            year: Int(civil.year), month: civil.month, day: civil.day, hour: secondOfDay / 3600,
            minute: secondOfDay % 3600 / 60, second: secondOfDay % 60)
    }

    /// What a failing link is, in one word or two, from the engine's last error: `rate-limited` (429), `HTTP 503`
    /// (Lago answered, with an error), `refused`, `timeout`, `reset`, `DNS`, `TLS`; `unreachable` otherwise. A
    /// Lago that answers 429 or 503 is reachable, and saying so tells the operator what to do.
    static func linkWord(_ reason: String) -> String {
        if let range = reason.range(of: #"HTTP \d{3}"#, options: .regularExpression) {
            let status = reason[range]
            return status == "HTTP 429" ? "rate-limited" : String(status)
        }
        let lowered = reason.lowercased()
        if lowered.contains("refused") { return "refused" }
        if lowered.contains("timeout") || lowered.contains("timed out") || lowered.contains("in time") {
            return "timeout"
        }
        if lowered.contains("closed the connection") || lowered.contains("reset") { return "reset" }
        if lowered.contains("dns") || lowered.contains("cannot find the host") { return "DNS" }
        if lowered.contains("tls") { return "TLS" }
        return "unreachable"
    }
}
