import Foundation
import LagoAPI
import Testing

@testable import LagoIngest

/// Pure value code: BigDecimal parsing and formatting, time formatting and parsing, the JSON parser and writer.
@Suite("Lago values")
struct ValueTests {
    @Test(
        "BigDecimal() accepts Ruby's numeric forms and rejects the rest",
        arguments: [
            ("1651240791", true), ("1651240791.123", true), ("1e9", true), ("-1.5", true), ("+2", true), (".5", true),
            ("1_000", true), (" 12 ", true), ("1E-3", true), ("2d3", true), ("", false), ("abc", false),
            ("123abc", false), ("2022-04-29T08:59:51Z", false), ("1__0", false), ("e5", false), ("-", false),
            ("Infinity", false), ("NaN", false), ("1.2.3", false),
        ]
    )
    func bigDecimalSyntax(text: String, valid: Bool) {
        #expect((LagoDecimal(bigDecimal: text) != nil) == valid)
    }

    @Test("plain formatting, rounding and scaling")
    func decimalFormatting() throws {
        func plain(_ text: String) -> String? { LagoDecimal(bigDecimal: text)?.plainString }
        #expect(plain("1234.56") == "1234.56")
        #expect(plain("100") == "100.0")
        #expect(plain("-5") == "-5.0")
        #expect(plain("0") == "0.0")
        #expect(plain("0.00120") == "0.0012")
        #expect(plain("1.5e3") == "1500.0")
        #expect(LagoDecimal(bigDecimal: "0.1234567890123456789")?.rounded(scale: 15).plainString == "0.123456789012346")
        #expect(LagoDecimal(bigDecimal: "9.9999999999999999")?.rounded(scale: 15).plainString == "10.0")
        #expect(LagoDecimal(lenient: "12abc").plainString == "12.0")
        #expect(LagoDecimal(lenient: "asdfa").plainString == "0.0")
        #expect(LagoDecimal(bigDecimal: "1651240791.1234567")?.floorScaled(byPowerOfTen: 6) == 1_651_240_791_123_456)
        #expect(LagoDecimal(bigDecimal: "-1.5")?.floorScaled(byPowerOfTen: 6) == -1_500_000)
        #expect(LagoDecimal(bigDecimal: "-0.0000001")?.floorScaled(byPowerOfTen: 6) == -1)
        #expect(LagoDecimal(bigDecimal: "1e20")?.floorScaled(byPowerOfTen: 6) == nil)
        #expect(LagoDecimal(0.1).plainString == "0.1")
    }

    @Test("ISO-8601 output truncates like Ruby's iso8601(3)")
    func isoOutput() {
        #expect(LagoTime.iso8601(1_651_240_791_123_999, fractionDigits: 3) == "2022-04-29T13:59:51.123Z")
        #expect(LagoTime.iso8601(1_651_240_791_123_999) == "2022-04-29T13:59:51Z")
        #expect(LagoTime.iso8601(-1_500_000, fractionDigits: 3) == "1969-12-31T23:59:58.500Z")
        #expect(LagoTime.iso8601(951_782_400_000_000) == "2000-02-29T00:00:00Z")
        #expect(LagoTime.isoDate(1_768_471_200_000_000) == "2026-01-15")
        let bounds = LagoTime.monthBounds(1_709_164_800_000_000)  // 2024-02-29
        #expect(LagoTime.iso8601(bounds.start) == "2024-02-01T00:00:00Z")
        #expect(LagoTime.iso8601(bounds.end) == "2024-02-29T23:59:59Z")
    }

    @Test("ISO-8601 output agrees with Foundation's formatter across years 0001–9999, every fraction width")
    func isoOutputAgreesWithFoundation() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        var generator = SystemRandomNumberGenerator()
        // 1583-01-01 (Foundation's Gregorian calendar is Julian before 1582) … 9999-12-31.
        let range: ClosedRange<Int64> = -12_212_553_600_000_000...253_402_300_799_999_999
        for _ in 0..<2_000 {
            let microseconds = Int64.random(in: range, using: &generator)
            let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
            let whole = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
            let fraction = String(String(microseconds - seconds * 1_000_000).leftPadded(to: 6))
            #expect(LagoTime.iso8601(microseconds) == whole + "Z")
            for digits in 1...6 {
                #expect(LagoTime.iso8601(microseconds, fractionDigits: digits) == whole + "." + fraction.prefix(digits) + "Z")
            }
        }
        // Outside four-digit years Ruby keeps at least four digits and a sign.
        #expect(LagoTime.iso8601(LagoTime.microseconds(year: 10_000, month: 1, day: 1)) == "10000-01-01T00:00:00Z")
        #expect(LagoTime.iso8601(LagoTime.microseconds(year: -1, month: 1, day: 1), fractionDigits: 3) == "-0001-01-01T00:00:00.000Z")
    }

    @Test("Response strings are escaped so that any string reads back unchanged")
    func responseStringsRoundTrip() throws {
        var samples = [
            "", "plain", "quote \" inside", "back\\slash", "line\nbreak\r\t", "\u{0}\u{1}\u{1F}\u{7F}", "é 北京 🚀",
            "</script>", "\u{2028}\u{2029}",
        ]
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab\"\\\n\u{0}\u{8}\u{C}\u{1B}é北🚀 ")
        for _ in 0..<500 {
            samples.append(String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        for sample in samples {
            let text = JSONOutput.array([.string(sample)]).text
            let decoded = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
            #expect(decoded == [sample], "\(text)")
        }
        #expect(JSONOutput.string("a\"b\\c\u{1}").text == #""a\"b\\c\u0001""#)
    }

    @Test("ISO-8601 input like DateTime.iso8601")
    func isoInput() {
        #expect(LagoTime.parseISO8601("2022-04-29T13:59:51Z") == 1_651_240_791_000_000)
        #expect(LagoTime.parseISO8601("2022-04-29T15:59:51+02:00") == 1_651_240_791_000_000)
        #expect(LagoTime.parseISO8601("2022-04-29T13:59:51.5") == 1_651_240_791_500_000)
        #expect(LagoTime.parseISO8601("20220429T135951Z") == 1_651_240_791_000_000)
        #expect(LagoTime.parseISO8601("2022-04-29") == 1_651_190_400_000_000)
        #expect(LagoTime.parseISO8601("2022-04-29T13:59") == 1_651_240_740_000_000)
        for invalid in [
            "", "yesterday", "2022-13-01", "2022-02-30", "2022-04-29T25:00:00", "1651240791", "2022-04-29Tx",
        ] {
            #expect(LagoTime.parseISO8601(invalid) == nil, "\(invalid)")
        }
    }

    @Test("the JSON parser keeps integers apart from numbers and rejects malformed text")
    func jsonParser() throws {
        #expect(
            try JSONParser.parse(#"{"a":1,"b":1.5,"c":"x\u00e9\ud83d\ude00","d":[true,null],"e":-0}"#)
                == ["a": 1, "b": 1.5, "c": "xé😀", "d": [true, nil], "e": 0]
        )
        // Beyond 64 bits an integer keeps every digit, as Ruby's JSON (and so Lago) keeps it.
        #expect(try JSONParser.parse("12345678901234567890") == .bigInteger("12345678901234567890"))
        #expect(try JSONParser.parse(#"{"a":1,"a":2}"#) == ["a": 2])
        // Foundation's JSONSerialization tolerates a trailing comma in an array ("[1,]"), which Rails refuses:
        // a known, harmless leniency of the sandbox.
        for malformed in ["{", "{\"a\":}", "01", "1.", "\"\\x\"", "{} x", "tru", "\"\u{01}\"", "{'a':1}"] {
            #expect(throws: JSONParser.SyntaxError.self, "\(malformed)") { try JSONParser.parse(malformed) }
        }
        let output = JSONOutput.object([("b", .string("a\"\n")), ("a", .value(["z": 1, "y": [1.5, nil]]))]).text
        #expect(output == #"{"b":"a\"\n","a":{"y":[1.5,null],"z":1}}"#)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
