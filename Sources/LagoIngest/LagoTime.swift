public import Foundation
import LagoAPI

/// Time values as Lago stores them: microseconds since the Unix epoch, UTC (Postgres `timestamp(6)`).
public enum LagoTime {
    /// Postgres' `timestamp` range (4713 BC … 294276 AD) limited to what an Int64 of microseconds holds.
    static let minimumMicroseconds: Int64 = -210_866_803_200 * 1_000_000

    /// The current time from a `Date`, truncated to microseconds.
    public static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
    }

    /// A `Date` for a microsecond timestamp.
    public static func date(_ microseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }

    struct Civil: Equatable {
        var year: Int64
        var month: Int
        var day: Int
        var hour: Int
        var minute: Int
        var second: Int
        var microsecond: Int
    }

    /// Splits a timestamp into UTC calendar fields (proleptic Gregorian, ``LagoAPI/CivilDate``).
    static func civil(_ microseconds: Int64) -> Civil {
        let perDay: Int64 = 86_400_000_000
        var days = microseconds / perDay
        var rest = microseconds % perDay
        if rest < 0 {
            rest += perDay
            days -= 1
        }
        let date = CivilDate(daysSinceEpoch: days)
        let seconds = rest / 1_000_000
        return Civil(
            year: date.year,
            month: date.month,
            day: date.day,
            hour: Int(seconds / 3600),
            minute: Int(seconds / 60 % 60),
            second: Int(seconds % 60),
            microsecond: Int(rest % 1_000_000)
        )
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (``LagoAPI/CivilDate``).
    static func days(year: Int64, month: Int, day: Int) -> Int64 {
        CivilDate(year: year, month: month, day: day).daysSinceEpoch
    }

    static func microseconds(
        year: Int64,
        month: Int,
        day: Int,
        hour: Int = 0,
        minute: Int = 0,
        second: Int = 0
    )
        -> Int64
    {
        let dayCount = days(year: year, month: month, day: day)
        return (dayCount * 86_400 + Int64(hour * 3600 + minute * 60 + second)) * 1_000_000
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    private static func yearText(_ year: Int64) -> String {
        year < 0 ? "-" + pad(Int(-year), 4) : pad(Int(year), 4)
    }

    /// Ruby's `Time#iso8601(fractionDigits)` in UTC: `2022-04-29T08:59:51.123Z` (3) or `2022-04-29T08:59:51Z` (0).
    /// Fractions are truncated, as Ruby does.
    public static func iso8601(_ microseconds: Int64, fractionDigits: Int = 0) -> String {
        let civil = civil(microseconds)
        guard (0...9999).contains(civil.year) else {
            // Years outside four digits (Ruby pads to at least four, with a sign when negative).
            var text =
                yearText(civil.year) + "-" + pad(civil.month, 2) + "-" + pad(civil.day, 2) + "T"
                + pad(civil.hour, 2) + ":" + pad(civil.minute, 2) + ":" + pad(civil.second, 2)
            if fractionDigits > 0 {
                text += "." + String(pad(civil.microsecond, 6).prefix(min(fractionDigits, 6)))
            }
            return text + "Z"
        }
        // The usual case, written straight into the string's storage (this runs for every event a batch echoes).
        let digits = min(max(fractionDigits, 0), 6)
        return String(unsafeUninitializedCapacity: 20 + (digits > 0 ? digits + 1 : 0)) { buffer in
            var index = 0
            func put(_ value: Int, width: Int) {
                var value = value
                var position = index + width - 1
                while position >= index {
                    buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                    position -= 1
                }
                index += width
            }
            func put(_ byte: Character) {
                buffer[index] = byte.asciiValue!
                index += 1
            }
            put(Int(civil.year), width: 4)
            put("-")
            put(civil.month, width: 2)
            put("-")
            put(civil.day, width: 2)
            put("T")
            put(civil.hour, width: 2)
            put(":")
            put(civil.minute, width: 2)
            put(":")
            put(civil.second, width: 2)
            if digits > 0 {
                put(".")
                var fraction = civil.microsecond
                for _ in digits..<6 { fraction /= 10 }
                put(fraction, width: digits)
            }
            put("Z")
            return index
        }
    }

    /// `YYYY-MM-DD` of a timestamp (UTC).
    public static func isoDate(_ microseconds: Int64) -> String {
        let civil = civil(microseconds)
        return yearText(civil.year) + "-" + pad(civil.month, 2) + "-" + pad(civil.day, 2)
    }

    /// Parses what Ruby's `DateTime.iso8601` accepts for the usual forms: `2022-04-29`, `20220429`,
    /// `2022-04-29T08:59`, `2022-04-29T08:59:51`, fractions (`.123456`), and a zone (`Z`, `+02:00`, `+0200`, `+02`);
    /// no zone means UTC. Returns microseconds since the epoch, or nil when the text is not such a date.
    public static func parseISO8601(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count <= 128 else { return nil }
        var index = 0
        func number(_ width: Int) -> Int? {
            guard index + width <= bytes.count else { return nil }
            var value = 0
            for offset in 0..<width {
                let byte = bytes[index + offset]
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += width
            return value
        }
        func consume(_ character: Character) -> Bool {
            if index < bytes.count, bytes[index] == character.asciiValue! {
                index += 1
                return true
            }
            return false
        }
        var negativeYear = false
        if consume("-") { negativeYear = true } else { _ = consume("+") }
        guard let year = number(4) else { return nil }
        let extended = consume("-")
        guard let month = number(2) else { return nil }
        if extended { guard consume("-") else { return nil } }
        guard let day = number(2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var micro = 0
        var offsetSeconds = 0
        if index < bytes.count {
            guard consume("T") || consume("t") || consume(" ") else { return nil }
            guard let h = number(2) else { return nil }
            hour = h
            let extendedTime = consume(":")
            guard let m = number(2) else { return nil }
            minute = m
            if extendedTime ? consume(":") : (index < bytes.count && (48...57).contains(bytes[index])) {
                guard let s = number(2) else { return nil }
                second = s
                if consume(".") || consume(",") {
                    var digits = 0
                    var scale = 100_000
                    while index < bytes.count, (48...57).contains(bytes[index]) {
                        if digits < 6 {
                            micro += Int(bytes[index] - 48) * scale
                            scale /= 10
                        }
                        digits += 1
                        index += 1
                    }
                    guard digits > 0 else { return nil }
                }
            }
            guard hour <= 24, minute <= 59, second <= 60 else { return nil }
            if index < bytes.count {
                if consume("Z") || consume("z") {
                    offsetSeconds = 0
                } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                    index += 1
                    guard let offsetHours = number(2) else { return nil }
                    var offsetMinutes = 0
                    if index < bytes.count {
                        _ = consume(":")
                        guard let m = number(2) else { return nil }
                        offsetMinutes = m
                    }
                    guard offsetHours <= 23, offsetMinutes <= 59 else { return nil }
                    offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
                } else {
                    return nil
                }
            }
        }
        guard index == bytes.count else { return nil }
        let signedYear = Int64(negativeYear ? -year : year)
        let base = microseconds(year: signedYear, month: month, day: day, hour: hour, minute: minute, second: second)
        return base + Int64(micro) - Int64(offsetSeconds) * 1_000_000
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Start of the calendar month containing the timestamp, and the last second of that month (UTC).
    public static func monthBounds(_ microseconds: Int64) -> (start: Int64, end: Int64) {
        let civil = civil(microseconds)
        let start = self.microseconds(year: civil.year, month: civil.month, day: 1)
        let nextYear = civil.month == 12 ? civil.year + 1 : civil.year
        let nextMonth = civil.month == 12 ? 1 : civil.month + 1
        let next = self.microseconds(year: nextYear, month: nextMonth, day: 1)
        return (start, next - 1_000_000)
    }
}
