/// A date of the proleptic Gregorian calendar, converted to and from a count of days since 1970-01-01 with Howard
/// Hinnant's `civil_from_days` and `days_from_civil`: no `Calendar`, no locale, exact for any year an `Int64` of
/// microseconds reaches.
///
/// The one calendar conversion in the package (Lago's timestamps, the console's clock).
public struct CivilDate: Sendable, Hashable {
    /// The year (astronomical numbering: 0 is 1 BC, -1 is 2 BC).
    public var year: Int64
    /// The month, 1...12.
    public var month: Int
    /// The day of the month, 1...31.
    public var day: Int

    /// A date from its fields; they are not checked (`daysSinceEpoch` of 2022-02-30 is that of 2022-03-02).
    public init(year: Int64, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// The date `days` days after 1970-01-01 (before it when negative): `civil_from_days`.
    public init(daysSinceEpoch days: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = Int(doy - (153 * mp + 2) / 5 + 1)
        month = Int(mp < 10 ? mp + 3 : mp - 9)
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// Days from 1970-01-01 to this date (negative before it): `days_from_civil`.
    public var daysSinceEpoch: Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
