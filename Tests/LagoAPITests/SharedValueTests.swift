import Foundation
import LagoAPI
import Testing

/// The package's one definition of each: the random generator, the percentile, the calendar, the JSON writer.
@Suite struct SharedValueTests {
    @Test func splitMix64KeepsItsSequence() {
        // SplitMix64's published outputs for seed 0, and for the seed the engine's tests use.
        var zero = SplitMix64(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
        #expect(zero.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(zero.next() == 0x06C4_5D18_8009_454F)
        var first = SplitMix64(seed: 7)
        var second = SplitMix64(seed: 7)
        for _ in 0..<100 { #expect(first.next() == second.next()) }
        var unit = SplitMix64(seed: 42)
        for _ in 0..<1_000 { #expect((0..<1).contains(unit.nextUnitInterval())) }
    }

    @Test func percentileIsTheNearestRank() {
        let hundred = (1...100).map(Double.init)
        #expect(Percentile.nearestRank(hundred, 0.5) == 50)
        #expect(Percentile.nearestRank(hundred, 0.99) == 99)
        #expect(Percentile.nearestRank(hundred, 0.999) == 100)
        #expect(Percentile.nearestRank(hundred, 0) == 1)
        #expect(Percentile.nearestRank(hundred, 1) == 100)
        #expect(Percentile.nearestRank([3, 7, 9], 0.5) == 7)
        #expect(Percentile.nearestRank([3, 7, 9, 12], 0.5) == 7)
        #expect(Percentile.nearestRank([4], 0.99) == 4)
        #expect(Percentile.nearestRank([Int](), 0.5) == nil)
        #expect(Percentile.nearestRank([1, 2], 7) == 2)
        #expect(Percentile.nearestRank([1, 2], -1) == 1)
    }

    @Test func civilDateAgreesWithFoundationAndRoundTrips() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for days: Int64 in [-719_468, -1, 0, 1, 59, 10_957, 11_016, 19_358, 20_000, 2_932_896] {
            let date = CivilDate(daysSinceEpoch: days)
            #expect(date.daysSinceEpoch == days)
            let parts = calendar.dateComponents(
                [.year, .month, .day], from: Date(timeIntervalSince1970: Double(days) * 86_400))
            if days > -141_427 {  // Foundation's Gregorian calendar is Julian before 1582-10-15
                #expect(parts.year.map(Int64.init) == date.year && parts.month == date.month && parts.day == date.day)
            }
        }
        #expect(CivilDate(year: 2024, month: 2, day: 29).daysSinceEpoch == 19_782)
        #expect(CivilDate(daysSinceEpoch: 19_782) == CivilDate(year: 2024, month: 2, day: 29))
        #expect(CivilDate(year: 0, month: 3, day: 1).daysSinceEpoch == -719_468)
    }

    @Test func jsonWriterEscapesOnceForEveryone() throws {
        var output: [UInt8] = []
        JSONWriter.appendString("a\"b\\c\n\r\t\u{8}\u{C}\u{1}é", to: &output)
        #expect(String(decoding: output, as: UTF8.self) == #""a\"b\\c\n\r\t\b\f\u0001é""#)
        output = []
        let value: JSONValue = ["z": 1, "a": [1.5, nil, true], "big": .bigInteger("123456789012345678901")]
        JSONWriter.appendValue(value, to: &output) { number, out in out.append(contentsOf: "\(number)".utf8) }
        #expect(String(decoding: output, as: UTF8.self) == #"{"a":[1.5,null,true],"big":123456789012345678901,"z":1}"#)
        struct NotFinite: Error {}
        output = []
        #expect(throws: NotFinite.self) {
            try JSONWriter.appendValue(.array([.number(.infinity)]), to: &output) { number, _ in
                if !number.isFinite { throw NotFinite() }
            }
        }
    }
}
