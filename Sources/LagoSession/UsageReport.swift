import Foundation
public import LagoAPI
public import LagoBilling

/// What `lago-console usage` reports: the subscription's current usage as Lago reads it, and what moved since the
/// previous `usage` run for the same subscription (kept beside the spool, owner-only).
public struct UsageReport: Sendable {
    /// The reading now.
    public var reading: UsageReading
    /// The reading of the previous run, if any.
    public var previous: UsageReading?

    /// Creates a report.
    public init(reading: UsageReading, previous: UsageReading?) {
        self.reading = reading
        self.previous = previous
    }

    /// What moved since the previous run.
    public var change: UsageChange? { previous.map { UsageChange.between($0, reading) } }

    /// `--json`: `{"customer_usage": Lago's own object, "external_subscription_id", "external_customer_id",
    /// "read_at", "changes_since_previous": {since, period_changed, total_amount_cents, charges: [{lago_charge_id,
    /// billable_metric_code, units, events_count, amount_cents}]} or null}`. Units are decimal strings, as Lago's.
    public var json: JSONValue {
        var changes = JSONValue.null
        if let change {
            changes = .object([
                "since": .string(Self.iso(change.since)),
                "period_changed": .bool(change.periodChanged),
                "total_amount_cents": .integer(change.totalAmountCents),
                "charges": .array(
                    change.charges.map { charge in
                        .object([
                            "lago_charge_id": charge.line.charge?.lagoID.map(JSONValue.string) ?? .null,
                            "billable_metric_code": .string(charge.line.billableMetric.code),
                            "units": .string(UsageText.plain(charge.units)),
                            "events_count": .integer(Int64(charge.eventsCount)),
                            "amount_cents": .integer(charge.amountCents),
                        ])
                    }),
            ])
        }
        return .object([
            "external_subscription_id": .string(reading.externalSubscriptionID),
            "external_customer_id": .string(reading.externalCustomerID),
            "read_at": .string(Self.iso(reading.readAt)),
            "customer_usage": reading.json,
            "changes_since_previous": changes,
        ])
    }

    /// The text report: the period, the total and one line per charge, with what moved since the previous run.
    public var lines: [String] {
        let usage = reading.usage
        let currency = usage.currency ?? usage.chargesUsage.first?.amountCurrency ?? ""
        let change = self.change
        var lines = [
            "Usage of \(reading.externalSubscriptionID) (customer \(reading.externalCustomerID)), read "
                + Self.iso(reading.readAt),
            "Period  " + [usage.fromDatetime?.text, usage.toDatetime?.text].compactMap { $0 }.joined(separator: " – ")
                + (currency.isEmpty ? "" : "  \(currency)"),
        ]
        var total = "Total   " + UsageText.money(cents: usage.totalAmountCents, currency: currency)
        if let change {
            total +=
                "  (\(UsageText.signedMoney(cents: change.totalAmountCents, currency: currency)) since the previous "
                + "read at \(Self.iso(change.since))\(change.periodChanged ? ", a new period" : ""))"
        } else {
            total += "  (first read: the next `lago-console usage` shows what moved)"
        }
        lines.append(total)
        guard !usage.chargesUsage.isEmpty else {
            lines.append("No charges on this subscription's plan.")
            return lines
        }
        var rows = [["METRIC", "AGGREGATION", "UNITS", "EVENTS", "AMOUNT", "CHANGE"]]
        for line in usage.chargesUsage {
            let moved = change?.charge(line.lineKey)
            rows.append([
                line.billableMetric.code, line.billableMetric.aggregationType.rawValue,
                line.unitsValue.map(UsageText.units) ?? line.units, String(line.eventsCount),
                UsageText.money(cents: line.amountCents, currency: line.amountCurrency ?? currency),
                moved.map {
                    "\(UsageText.signedUnits($0.units)) units, \($0.eventsCount >= 0 ? "+" : "")\($0.eventsCount) events"
                } ?? "—",
            ])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            var text = ""
            for (index, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                // Numbers right-aligned, words left-aligned.
                text += (2...4).contains(index) ? pad + cell : cell + pad
                if index < row.count - 1 { text += "  " }
            }
            while text.last == " " { text.removeLast() }
            lines.append(text)
        }
        return lines
    }

    static func iso(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}

/// The last `lago-console usage` reading per subscription, in a file only its owner can read (mode 0600), so the
/// next run says what moved.
public struct UsageReadingStore: Sendable {
    /// The file.
    public let path: String

    /// A store in `path`.
    public init(path: String) {
        self.path = path
    }

    /// The store beside a spool: `<spool>.usage.json`.
    public init(spoolPath: String) {
        self.init(path: spoolPath + ".usage.json")
    }

    private struct Stored: Codable {
        var externalCustomerID: String
        var readAt: Date
        var customerUsage: JSONValue

        enum CodingKeys: String, CodingKey {
            case externalCustomerID = "external_customer_id"
            case readAt = "read_at"
            case customerUsage = "customer_usage"
        }
    }

    /// The reading kept for `subscription`, if any (a damaged file counts as none: it is replaced on save).
    public func previous(subscription: String) -> UsageReading? {
        guard let data = FileManager.default.contents(atPath: path),
            let all = try? Self.decoder.decode([String: Stored].self, from: data), let stored = all[subscription],
            let usage = try? JSONDecoder().decode(CustomerUsage.self, from: Data(stored.customerUsage.jsonText.utf8))
        else { return nil }
        return UsageReading(
            externalSubscriptionID: subscription, externalCustomerID: stored.externalCustomerID, usage: usage,
            json: stored.customerUsage, readAt: stored.readAt)
    }

    /// Keeps `reading` as the subscription's last one: written to a temporary file (0600) renamed over the store.
    /// - Throws: when the folder cannot be written.
    public func save(_ reading: UsageReading) throws {
        var all: [String: Stored] = [:]
        if let data = FileManager.default.contents(atPath: path),
            let existing = try? Self.decoder.decode([String: Stored].self, from: data)
        {
            all = existing
        }
        all[reading.externalSubscriptionID] = Stored(
            externalCustomerID: reading.externalCustomerID, readAt: reading.readAt, customerUsage: reading.json)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(all)
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else {
            throw UsageStoreError(
                description: "could not write \(temporary): check that the folder exists and is yours")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw UsageStoreError(description: "could not replace \(path): \(reason)")
        }
    }

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

/// Why the last reading could not be kept.
public struct UsageStoreError: Error, Sendable, CustomStringConvertible {
    /// What failed, with the file.
    public let description: String
}
