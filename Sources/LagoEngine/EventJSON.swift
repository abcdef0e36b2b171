import LagoAPI

/// Encodes events as the compact JSON object Lago's batch endpoint takes, fast and without Foundation.
///
/// The spool keeps each event in this form and a batch body is the concatenation
/// `{"events":[` + event + `,` + … + `]}`, so the hot path encodes each event once.
enum EventJSON {
    /// Encodes one event object.
    /// - Throws: ``EngineError/Kind/invalidEvent`` for an empty code or a non-finite number.
    static func encode(_ event: EventInput) throws -> [UInt8] {
        guard !event.code.isEmpty else { throw EngineError(.invalidEvent, "an event needs a billable metric code") }
        guard !event.transactionID.isEmpty else {
            throw EngineError(.invalidEvent, "an event needs a transaction_id")
        }
        var out: [UInt8] = []
        out.reserveCapacity(160 + event.properties.count * 24)
        out.append(contentsOf: #"{"transaction_id":"#.utf8)
        appendString(event.transactionID, to: &out)
        if let subscription = event.externalSubscriptionID {
            out.append(contentsOf: #","external_subscription_id":"#.utf8)
            appendString(subscription, to: &out)
        }
        out.append(contentsOf: #","code":"#.utf8)
        appendString(event.code, to: &out)
        if let timestamp = event.timestamp {
            guard timestamp.isFinite else { throw EngineError(.invalidEvent, "the timestamp must be a finite number") }
            out.append(contentsOf: #","timestamp":"#.utf8)
            appendDouble(timestamp, to: &out)
        }
        out.append(contentsOf: #","properties":{"#.utf8)
        var first = true
        // Sorted by key, each value read with its key (no lookup).
        for (key, value) in event.properties.sorted(by: { $0.key < $1.key }) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            try appendValue(value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        if let amount = event.preciseTotalAmountCents {
            out.append(contentsOf: #","precise_total_amount_cents":"#.utf8)
            appendString(amount, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Builds `{"events":[…]}` from encoded events.
    static func batchBody<Bodies: Sequence>(_ bodies: Bodies, totalBytes: Int) -> [UInt8]
    where Bodies.Element == [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(totalBytes + 128)
        out.append(contentsOf: #"{"events":["#.utf8)
        var first = true
        for body in bodies {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(contentsOf: body)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// Appends a property value (``LagoAPI/JSONWriter``; doubles by ``appendDouble(_:to:)``).
    /// - Throws: ``EngineError/Kind/invalidEvent`` for a non-finite number.
    static func appendValue(_ value: JSONValue, to out: inout [UInt8]) throws {
        try JSONWriter.appendValue(value, to: &out) { number, out in
            guard number.isFinite else { throw EngineError(.invalidEvent, "a property is not a finite number") }
            appendDouble(number, to: &out)
        }
    }

    /// Swift's shortest round-trip form is valid JSON for finite numbers (`1.5`, `1e-05`, `1e+20`).
    static func appendDouble(_ number: Double, to out: inout [UInt8]) {
        if number == number.rounded(), abs(number) < 1e15 {
            out.append(contentsOf: String(Int64(number)).utf8)
        } else {
            out.append(contentsOf: number.description.utf8)
        }
    }

    static func appendString(_ text: String, to out: inout [UInt8]) {
        JSONWriter.appendString(text, to: &out)
    }
}
