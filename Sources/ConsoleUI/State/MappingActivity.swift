import Foundation
import LagoUsage

/// The events each canonical field's mapping coded over the last minute, by the code they got: what the Mappings
/// pane counts, so that an operator sees where production usage goes — and, after a change, the records accepted
/// before it keeping their old code while those after it take the new one.
///
/// One bucket per field and second; buckets older than ``window`` are dropped as new ones come, and ignored when
/// read. Bounded: at most `window + 1` buckets per field.
struct MappingActivity: Sendable, Hashable {
    /// How far back the counts go.
    static let window: TimeInterval = 60

    private struct Bucket: Sendable, Hashable {
        var second: Int
        var codes: [String: Int]
    }

    private var buckets: [CanonicalField: [Bucket]] = [:]

    /// Counts one event the mapping of `field` coded as `code`, accepted at `date`.
    mutating func record(_ field: CanonicalField, code: String, at date: Date) {
        let second = Int(date.timeIntervalSince1970.rounded(.down))
        var list = buckets[field] ?? []
        list.removeAll { $0.second <= second - Int(Self.window) - 1 }
        if let index = list.lastIndex(where: { $0.second == second }) {
            list[index].codes[code, default: 0] += 1
        } else {
            // In order of their second (events come in order, so almost always at the end).
            list.insert(
                Bucket(second: second, codes: [code: 1]), at: list.lastIndex { $0.second < second }.map { $0 + 1 } ?? 0)
        }
        buckets[field] = list
    }

    /// The events of `field` accepted in the minute before `now`, by code.
    func counts(_ field: CanonicalField, now: Date) -> [String: Int] {
        let since = now.timeIntervalSince1970 - Self.window
        var result: [String: Int] = [:]
        for bucket in buckets[field] ?? [] where Double(bucket.second) + 1 > since {
            result.merge(bucket.codes, uniquingKeysWith: +)
        }
        return result
    }

    /// The events of `field` accepted in the minute before `now`.
    func total(_ field: CanonicalField, now: Date) -> Int {
        counts(field, now: now).values.reduce(0, +)
    }
}
