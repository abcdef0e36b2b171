public import LagoAPI

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
        for key in event.properties.keys.sorted() {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            try appendValue(event.properties[key]!, to: &out)
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

    static func appendValue(_ value: JSONValue, to out: inout [UInt8]) throws {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): out.append(contentsOf: String(number).utf8)
        case .bigInteger(let digits): out.append(contentsOf: digits.utf8)
        case .number(let number):
            guard number.isFinite else { throw EngineError(.invalidEvent, "a property is not a finite number") }
            appendDouble(number, to: &out)
        case .string(let text): appendString(text, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try appendValue(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in fields.keys.sorted() {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                try appendValue(fields[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
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
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
