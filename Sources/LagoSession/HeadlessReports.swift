public import Foundation
public import LagoAPI
import LagoBilling
public import LagoControl
public import LagoEngine

/// What `lago-console status` reports: what the spool holds and, when serve runs on it, its engine's live figures.
public struct SpoolStatus: Encodable, Sendable {
    // Lago's snake_case names in --json and on the control API.
    enum CodingKeys: String, CodingKey {
        case lago, pending, queued, retrying, dead, serve, billing
        case inFlight = "in_flight"
        case oldestQueuedSeconds = "oldest_queued_seconds"
        case spoolError = "spool_error"
        case spoolErrorAt = "spool_error_at"
    }

    /// The Lago API root the spool delivers to.
    public var lago: String
    /// Every undelivered event in the spool (= queued + inFlight + retrying), each once.
    public var pending: Int
    /// Waiting for a request.
    public var queued: Int
    /// Carried by requests in flight (0 unless serve runs).
    public var inFlight: Int
    /// In batches backing off (0 unless serve runs).
    public var retrying: Int
    /// Dead letters.
    public var dead: Int
    /// Age of the oldest queued event, in seconds.
    public var oldestQueuedSeconds: Double?
    /// The last spool write that failed, in plain words with the file (`spool write failed: disk full
    /// (/path)`); `null` when the last write succeeded. Known from a running serve's engine.
    public var spoolError: String?
    /// When it failed.
    public var spoolErrorAt: Date?
    /// Set when `lago-console serve` runs on the spool: its engine's live figures.
    public var serve: Serve?
    /// Whether Lago will bill the events: verdicts of the events in the spool and in the held list (stored with
    /// them) and, from a running serve, of those it accepted since it started, with its catalogue's age.
    public var billing: EngineBillingStats

    /// A running serve's figures.
    public struct Serve: Encodable, Sendable {
        // Lago's snake_case names in --json and on the control API.
        enum CodingKeys: String, CodingKey {
            case pid, holder, relay, control, state
            case inFlight = "in_flight"
            case deliveredSinceStart = "delivered_since_start"
            case retryingBatches = "retrying_batches"
            case eventsPerSecond = "events_per_second"
            case lastError = "last_error"
        }

        /// Its process id.
        public var pid: Int32
        /// What it is: `serve`, or `console` (a console with its own engine serves the control API too).
        public var holder: String
        /// Its relay's URL.
        public var relay: String?
        /// Its control API's URL.
        public var control: String
        /// Its engine's state (`running`, `backingOff`…).
        public var state: String
        /// Events in requests in flight.
        public var inFlight: Int
        /// Events delivered (or found already in Lago) since serve started.
        public var deliveredSinceStart: Int
        /// Batches backing off.
        public var retryingBatches: Int
        /// Events delivered per second over the last 10 seconds.
        public var eventsPerSecond: Double
        /// The last delivery error.
        public var lastError: String?
    }

    /// The status from an engine's stats, the Lago it delivers to and the serve it runs in (if any).
    public init(stats: EngineStats, lago: String, serve endpoint: ControlEndpoint?) {
        self.lago = lago
        pending = stats.pending
        queued = stats.queued
        inFlight = stats.inFlight
        retrying = stats.retrying
        dead = stats.dead
        oldestQueuedSeconds = stats.oldestQueuedAge.map { $0 / .seconds(1) }
        spoolError = stats.spoolError
        spoolErrorAt = stats.spoolErrorAt
        billing = stats.billing
        serve = endpoint.map { endpoint in
            Serve(
                pid: endpoint.pid, holder: endpoint.holderName, relay: endpoint.relayURL, control: endpoint.url,
                state: stats.state.rawValue,
                inFlight: stats.inFlight, deliveredSinceStart: stats.delivered + stats.alreadyInLago,
                retryingBatches: stats.retryingBatches.count, eventsPerSecond: stats.eventsPerSecond.last10Seconds,
                lastError: stats.lastError)
        }
    }

    /// The status as `status` prints it for a person, one line each; ages are measured from `now`.
    public func lines(now: Date = Date()) -> [String] {
        var lines = [
            "Lago     \(lago)",
            "pending  \(pending) (queued \(queued), in flight \(inFlight), retrying \(retrying))",
            "dead     \(dead)",
            "oldest   \(oldestQueuedSeconds.map { String(format: "%.0f s", $0) } ?? "—")",
        ]
        if let spoolError {
            let age = spoolErrorAt.map { String(format: " · %.0f s ago", max(0, now.timeIntervalSince($0))) }
            lines.append("spool    \(spoolError)\(age ?? "")")
        }
        lines.append("billing  spooled: " + Self.counts(billing.spooled) + " · held \(billing.held.total)")
        if billing.checking {
            lines.append(
                "         accepted since start: " + Self.counts(billing.accepted)
                    + " · policy \(billing.policy.rawValue)")
            if let catalogue = billing.catalogue {
                let age = catalogue.loadedAt.map { String(format: "%.0f s old", max(0, now.timeIntervalSince($0))) }
                lines.append(
                    "         catalogue: \(age.map { "\(catalogue.metrics) metrics, \(catalogue.subscriptions) subscriptions, \($0)" } ?? "not loaded")"
                        + (catalogue.lastError.map { " · last load failed: \($0)" } ?? ""))
            }
        }
        if let lago = billing.lago, lago.webhooks > 0 {
            lines.append(Self.lagoLine(lago, now: now))
        }
        guard let serve else { return lines + ["serve    not running on this spool"] }
        lines.append(
            "\(serve.holder.padding(toLength: 8, withPad: " ", startingAt: 0)) pid \(serve.pid) · \(serve.state) · relay \(serve.relay ?? "—") · control \(serve.control)"
        )
        lines.append(
            "         in flight \(serve.inFlight) · delivered \(serve.deliveredSinceStart) since start · "
                + String(format: "%.0f events/s (10 s)", serve.eventsPerSecond)
                + (serve.retryingBatches > 0 ? " · \(serve.retryingBatches) batches retrying" : ""))
        if let error = serve.lastError { lines.append("         last error: \(error)") }
        return lines
    }
}

/// A dead letter as `dead-letters list` and `show` print it.
public struct DeadLetterReport: Encodable, Sendable {
    /// Its id (what replay and discard take).
    public var id: Int64
    /// The event's transaction id.
    public var transactionID: String
    /// The event's metric code, when its payload could be read.
    public var code: String?
    /// The event's subscription.
    public var subscription: String?
    /// Lago's reason (or the engine's).
    public var reason: String
    /// The HTTP status of Lago's answer.
    public var status: Int?
    /// Attempts made.
    public var attempts: Int
    /// When it became a dead letter.
    public var deadAt: Date
    /// The exact JSON that was sent (`show` only).
    public var payload: String?

    /// The report of `letter`, with its payload when `payload` is set.
    public init(_ letter: DeadLetter, payload: Bool) {
        id = letter.id
        transactionID = letter.transactionID
        code = letter.event?.code
        subscription = letter.event?.externalSubscriptionID
        reason = letter.reason.message
        status = letter.reason.status
        attempts = letter.attempts
        deadAt = letter.deadAt
        self.payload = payload ? letter.payload : nil
    }

    enum CodingKeys: String, CodingKey {
        case id, code, reason, status, attempts, payload
        case transactionID = "transaction_id"
        case subscription = "external_subscription_id"
        case deadAt = "dead_at"
    }

    /// Lago's snake_case names; the payload as the JSON object it is (its numbers' digits kept), not a string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(transactionID, forKey: .transactionID)
        try container.encodeIfPresent(code, forKey: .code)
        try container.encodeIfPresent(subscription, forKey: .subscription)
        try container.encode(reason, forKey: .reason)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(deadAt, forKey: .deadAt)
        try container.encodeIfPresent(payload.map(ReportJSON.object), forKey: .payload)
    }

    /// One tab-separated line: id, transaction id, code, reason.
    public var line: String { "\(id)\t\(transactionID)\t\(code ?? "?")\t\(reason)" }
}

extension SpoolStatus {
    /// `Lago     not billed 3 (invalid_code 2, …) · agrees 2 · DISAGREES 1 (predicted billable 1) · 2 webhooks, last
    /// 40 s ago`: Lago's own verdicts beside ours.
    static func lagoLine(_ lago: LagoConfirmedStats, now: Date) -> String {
        var text = "Lago     not billed \(lago.notBilled)"
        if !lago.byReason.isEmpty {
            text +=
                " (" + lago.byReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + ")"
        }
        let agreed =
            (lago.byAgreement[LagoAgreement.agreed.rawValue] ?? 0)
            + (lago.byAgreement[LagoAgreement.reasonDiffers.rawValue] ?? 0)
        text += " · agrees with our check \(agreed)"
        if lago.disagreements > 0 {
            var parts: [String] = []
            if let billable = lago.byAgreement[LagoAgreement.predictedBillable.rawValue], billable > 0 {
                parts.append("we predicted billable \(billable)")
            }
            if lago.predictedUnbillableNotReported > 0 {
                parts.append("we predicted not billed, Lago did not report \(lago.predictedUnbillableNotReported)")
            }
            text += " · DISAGREES \(lago.disagreements) (" + parts.joined(separator: ", ") + ")"
        }
        if let other = lago.byAgreement[LagoAgreement.notFromThisSpool.rawValue], other > 0 {
            text += " · not from this spool \(other)"
        }
        text += " · \(lago.webhooks) webhooks"
        if let last = lago.lastWebhookAt {
            text += String(format: ", last %.0f s ago", max(0, now.timeIntervalSince(last)))
        }
        return text
    }

    /// `3 billable · 1 unchecked · 2 unbillable (invalid_code 2)`.
    static func counts(_ counts: BillingCounts) -> String {
        var text = "\(counts.billable) billable · \(counts.unchecked) unchecked · \(counts.unbillable) unbillable"
        if !counts.byReason.isEmpty {
            text +=
                " ("
                + counts.byReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + ")"
        }
        return text
    }
}

/// A held event as `held list` prints it.
public struct HeldEventReport: Encodable, Sendable {
    /// Its id in the held list (what release and discard take).
    public var id: Int64
    /// The event's transaction id.
    public var transactionID: String
    /// Its metric code.
    public var code: String?
    /// Its subscription.
    public var subscription: String?
    /// Why Lago would not bill it.
    public var reasons: [String]
    /// When it was accepted.
    public var acceptedAt: Date
    /// The exact JSON that will be sent on release.
    public var payload: String

    /// The report of `held`.
    public init(_ held: HeldEvent) {
        id = held.id
        transactionID = held.transactionID
        code = held.event?.code
        subscription = held.event?.externalSubscriptionID
        reasons = held.verdict.reasons.map(\.rawValue)
        acceptedAt = held.enqueuedAt
        payload = held.payload
    }

    enum CodingKeys: String, CodingKey {
        case id, code, reasons, payload
        case transactionID = "transaction_id"
        case subscription = "external_subscription_id"
        case acceptedAt = "accepted_at"
    }

    /// Lago's snake_case names; the payload as the JSON object it is, not a string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(transactionID, forKey: .transactionID)
        try container.encodeIfPresent(code, forKey: .code)
        try container.encodeIfPresent(subscription, forKey: .subscription)
        try container.encode(reasons, forKey: .reasons)
        try container.encode(acceptedAt, forKey: .acceptedAt)
        try container.encode(ReportJSON.object(payload), forKey: .payload)
    }

    /// One tab-separated line: id, transaction id, code, subscription, reasons.
    public var line: String {
        "\(id)\t\(transactionID)\t\(code ?? "?")\t\(subscription ?? "-")\t\(reasons.joined(separator: ","))"
    }
}

extension ReplayResult {
    /// What a replay did, in one paragraph for the operator (`dead-letters replay`).
    public var operatorDescription: String {
        switch self {
        case .queued(let id): return "queued again: \(id)"
        case .alreadyInLago(let id): return "already in Lago: \(id) is stored there exactly as here; nothing sent"
        case .differsInLago(let id, _, _, let differences):
            return "not replayed: Lago holds a different event under \(id):\n  "
                + differences.joined(separator: "\n  ")
                + "\nreplay with --transaction-id NEW to bill this one as a new event"
        }
    }
}

/// What `lago-console flush` reports.
public struct FlushReport: Encodable, Sendable {
    /// Events delivered (or found already in Lago) by the flush.
    public var delivered: Int
    /// Events left spooled.
    public var pending: Int
    /// Events dead-lettered during the flush.
    public var dead: Int
    /// How long it took.
    public var seconds: Double

    /// The report of a flush that took `duration`.
    public init(_ result: FlushResult, duration: Duration) {
        delivered = result.delivered
        pending = result.pending
        dead = result.dead
        seconds = duration / .seconds(1)
    }

    /// One line for a person.
    public var line: String {
        "flushed: delivered \(delivered) · pending \(pending) · dead \(dead) in " + String(format: "%.2f s", seconds)
    }
}

/// The JSON the headless commands print: pretty, keys sorted, slashes unescaped, dates ISO-8601 UTC
/// (`2026-12-01T21:29:10Z`), not Foundation's default of seconds since 2001.
public enum ReportJSON {
    /// A stored event's JSON as a JSON value (exact: integers keep their digits), or the text itself when it does
    /// not parse (a damaged spool row is shown as it is).
    public static func object(_ text: String) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
    }

    /// `value` as that JSON.
    /// - Throws: when it cannot be encoded.
    public static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
