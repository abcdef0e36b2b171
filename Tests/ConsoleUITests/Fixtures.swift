import Foundation
import LagoAPI
import LagoBilling
import LagoUsage
import Testing

@testable import ConsoleUI

/// Deterministic states for reducer and golden tests: fixed dates, UTC.
enum Fixture {
    /// 2026-01-01 12:00:00 UTC.
    static let start = Date(timeIntervalSince1970: 1_767_268_800)
    static let utc = TimeZone(identifier: "UTC")!

    static let connection = ConnectionInfo(
        url: "https://api.getlago.com", isSandbox: false, maskedKey: "••••9f3c", auth: .ok, link: .connected)
    static let sandboxConnection = ConnectionInfo(
        url: "http://127.0.0.1:3000", isSandbox: true, maskedKey: "••••beef", auth: .ok, link: .connected)

    static func options(readOnly: Bool = false, sandbox: Bool = false, capacity: Int = 10_000) -> ConsoleOptions {
        ConsoleOptions(
            readOnly: readOnly, historyCapacity: capacity, timeZone: utc,
            connection: sandbox ? sandboxConnection : connection,
            mappings: [.cacheWrite5m: "llm_cache_write_5m", .reasoning: "reasoning_tokens"],
            defaultSubscription: "sub_acme_pro")
    }

    /// A console with nothing in it yet.
    static func empty(width: Int = 80, height: Int = 24, readOnly: Bool = false, capacity: Int = 10_000) -> AppState {
        AppState(
            size: TerminalSize(width: width, height: height), now: start,
            options: options(readOnly: readOnly, capacity: capacity))
    }

    static let subscriptions = ["sub_acme_pro", "sub_globex_team", "sub_initech_free", "sub_umbrella_ent"]
    static let models = ["claude-sonnet-4", "gpt-4o", "gemini-2.5-pro"]

    /// The `index`-th event of the busy fixture.
    static func event(_ index: Int) -> EventInput {
        let fields: [CanonicalField] = [.input, .output, .cacheRead, .input, .output, .reasoning, .toolCalls]
        let field = fields[index % fields.count]
        let code = field == .reasoning ? "reasoning_tokens" : field.defaultMetricCode
        return EventInput(
            transactionID: "req_\(String(0x5a3f00 + index * 7919, radix: 16))_\(field.rawValue)",
            externalSubscriptionID: subscriptions[index % subscriptions.count], code: code,
            properties: [
                "tokens": .integer(Int64((index * 137) % 4000 + 12)), "model": .string(models[index % models.count]),
            ])
    }

    /// Where the `index`-th event of the busy fixture came from: relay events coded by their client, usage
    /// records, OTLP spans and console test events coded by the mapping of their field.
    static func origin(_ index: Int) -> EventOrigin {
        let fields: [CanonicalField] = [.input, .output, .cacheRead, .input, .output, .reasoning, .toolCalls]
        let field = fields[index % fields.count]
        switch index % 4 {
        case 0: return EventOrigin(source: .relay)
        case 1: return EventOrigin(source: .usage, coding: .field(field))
        case 2: return EventOrigin(source: .otlp, coding: .field(field))
        default: return EventOrigin(source: .console, coding: .field(field))
        }
    }

    static func payload(_ event: EventInput) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try! encoder.encode(["event": event])
        return String(decoding: data, as: UTF8.self)
    }

    /// Updates for `count` events, every one with a life: most delivered, some retrying, dead, in flight, queued.
    static func updates(count: Int) -> [EventUpdate] {
        var updates: [EventUpdate] = []
        for index in 0..<count {
            let event = event(index)
            let time = start.addingTimeInterval(Double(index) * 1.5 - Double(count) * 1.5)
            // Billing verdicts: most billable, every 13th on a subscription Lago does not have, the newest unchecked.
            var queued = EventUpdate(event: event, state: .queued, time: time)
            queued.origin = origin(index)
            queued.billing =
                index >= count - 2
                ? .unchecked : index % 13 == 5 ? .unbillable([.subscriptionNotFound]) : .billable()
            updates.append(queued)
            let sent = time.addingTimeInterval(0.4)
            switch index % 11 {
            case 3 where index < count - 4:
                updates.append(
                    EventUpdate(
                        event: event, state: .retrying(attempt: 2), time: sent, attempt: 1, httpStatus: 503,
                        reason: "503 Service Unavailable", payloadJSON: payload(event)))
            case 7:
                updates.append(
                    EventUpdate(
                        event: event, state: .dead, time: sent, attempt: 1, httpStatus: 422,
                        reason: "validation_errors: {\"code\":[\"does_not_exist\"]}", payloadJSON: payload(event),
                        response:
                            #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"code":["does_not_exist"]}}"#
                    ))
            case 9:
                updates.append(
                    EventUpdate(
                        event: event, state: .alreadyInLago, time: sent, attempt: 1, httpStatus: 422,
                        reason: "value_already_exist", payloadJSON: payload(event)))
            default:
                if index >= count - 2 { continue }
                if index == count - 3 {
                    updates.append(
                        EventUpdate(
                            event: event, state: .inFlight, time: sent, attempt: 1,
                            payloadJSON: payload(event)))
                    continue
                }
                updates.append(
                    EventUpdate(
                        event: event, state: .delivered, time: sent, attempt: 1, httpStatus: 200,
                        payloadJSON: payload(event),
                        response: #"{"event":{"transaction_id":"\#(event.transactionID)"}}"#))
            }
        }
        return updates
    }

    static let stats: QueueStats = {
        let dead1 = DeadLetter(
            id: "dl_0001", event: event(7), reason: "validation_errors: code does_not_exist", httpStatus: 422,
            attempts: 1, failedAt: start.addingTimeInterval(-50))
        let dead2 = DeadLetter(
            id: "dl_0002", event: event(18), reason: "validation_errors: external_subscription_id not found",
            httpStatus: 422, attempts: 1, failedAt: start.addingTimeInterval(-34))
        let dead3 = DeadLetter(
            id: "dl_0003", event: event(29), reason: "8 attempts: 503 Service Unavailable", httpStatus: 503,
            attempts: 8, failedAt: start.addingTimeInterval(-12))
        return QueueStats(
            queued: 9, inFlight: 3, retrying: 25, delivered: 12_840, alreadyInLago: 17, dead: 3, refused: 1,
            oldestPendingAt: start.addingTimeInterval(-42),
            eventsPerSecond: (0..<60).map { second in Double([0, 2, 5, 9, 14, 12, 8, 6, 3, 1, 0, 4][second % 12]) },
            latencyP50: .milliseconds(142), latencyP99: .milliseconds(870), engineState: .running,
            retryingBatches: [
                RetryingBatch(
                    id: "batch-0042", eventCount: 25, reason: "503 Service Unavailable", httpStatus: 503,
                    attempt: 3, maxAttempts: 8, nextRetryAt: start.addingTimeInterval(4))
            ],
            deadLetters: [dead3, dead2, dead1])
    }()

    static let metrics: [BillableMetric] = [
        BillableMetric(name: "Input tokens", code: "llm_input_tokens", aggregationType: .sumAgg, fieldName: "tokens"),
        BillableMetric(
            name: "Output tokens", code: "llm_output_tokens", aggregationType: .sumAgg, fieldName: "tokens"),
        BillableMetric(
            name: "Cached input tokens", code: "llm_cached_input_tokens", aggregationType: .sumAgg,
            fieldName: "tokens"),
        BillableMetric(
            name: "Cache creation tokens", code: "llm_cache_creation_tokens", aggregationType: .sumAgg,
            fieldName: "tokens"),
        BillableMetric(
            name: "Reasoning tokens", code: "reasoning_tokens", aggregationType: .sumAgg,
            fieldName: "tokens"),
        BillableMetric(name: "Tool calls", code: "llm_tool_calls", aggregationType: .countAgg),
        BillableMetric(
            name: "Image input tokens", code: "llm_image_input_tokens", aggregationType: .sumAgg,
            fieldName: "tokens"),
        BillableMetric(
            name: "Audio input tokens", code: "llm_audio_input_tokens", aggregationType: .sumAgg,
            fieldName: "tokens"),
        BillableMetric(
            name: "Cache write 1h", code: "llm_cache_write_1h_tokens", aggregationType: .sumAgg,
            fieldName: "tokens"),
        BillableMetric(
            name: "Cache write 5m", code: "llm_cache_write_5m_tokens", aggregationType: .sumAgg,
            fieldName: "tokens"),
    ]

    static let lagoSubscriptions: [Subscription] = [
        Subscription(
            externalID: "sub_acme_pro", externalCustomerID: "acme_corp", name: "Acme — Pro",
            planCode: "pro_monthly", status: .active, startedAt: LagoDate("2025-06-01T00:00:00Z")),
        Subscription(
            externalID: "sub_globex_team", externalCustomerID: "globex", name: "Globex team",
            planCode: "team_annual", status: .active, startedAt: LagoDate("2025-03-15T00:00:00Z")),
        Subscription(
            externalID: "sub_initech_free", externalCustomerID: "initech", name: nil,
            planCode: "free", status: .active, startedAt: LagoDate("2025-11-02T00:00:00Z")),
        Subscription(
            externalID: "sub_umbrella_ent", externalCustomerID: "umbrella", name: "Umbrella enterprise",
            planCode: "enterprise_usage", status: .active, startedAt: LagoDate("2024-12-01T00:00:00Z")),
    ]

    /// A console in use: 40 events, a retrying batch, three dead letters.
    static func busy(width: Int = 80, height: Int = 24, readOnly: Bool = false, events: Int = 40) -> AppState {
        var state = empty(width: width, height: height, readOnly: readOnly)
        state.apply(.eventLifecycle(updates(count: events)))
        state.apply(.stats(stats))
        return state
    }
}

extension AppState {
    /// Handles an event, ignoring effects.
    mutating func apply(_ event: ConsoleEvent) {
        _ = handle(event)
    }

    /// Presses keys in order and returns every effect.
    @discardableResult
    mutating func press(_ keys: Key...) -> [Effect] {
        keys.flatMap { handle(.key($0)).map(\.effect) }
    }

    /// Types text as character keys.
    @discardableResult
    mutating func type(_ text: String) -> [Effect] {
        text.flatMap { handle(.key(.char($0))).map(\.effect) }
    }
}

extension Fixture {
    /// Lago's catalogue for the Billing pane: the metrics above, `llm_output_tokens` filtered by model.
    static let catalogueMetrics: [BillableMetric] = metrics.map { metric in
        var metric = metric
        if metric.code == "llm_output_tokens" {
            metric.filters = [BillableMetricFilter(key: "model", values: ["claude-sonnet-4", "gpt-4o"])]
        }
        return metric
    }

    /// An unbillable event the console saw `secondsAgo` before the fixture's start.
    static func unbillable(
        _ transactionID: String, code: String, subscription: String?, reasons: [BillingReason],
        properties: [String: JSONValue] = ["tokens": 10], secondsAgo: Double, state: DeliveryState = .delivered
    ) -> EventUpdate {
        EventUpdate(
            transactionID: transactionID, code: code, externalSubscriptionID: subscription, properties: properties,
            state: state, time: start.addingTimeInterval(-secondsAgo), billing: .unbillable(reasons))
    }

    /// The held list of ``billing(width:height:readOnly:)``.
    static let heldEvents = [
        HeldEvent(
            id: "3", transactionID: "req_held_cache_0003", code: "llm_cache_write_5m",
            externalSubscriptionID: "sub_acme_pro",
            reasons: [.invalidCode], acceptedAt: start.addingTimeInterval(-95)),
        HeldEvent(
            id: "4", transactionID: "req_held_nobody_0004", code: "llm_input_tokens", externalSubscriptionID: "sub_zzz",
            reasons: [.subscriptionNotFound], acceptedAt: start.addingTimeInterval(-61)),
    ]

    /// A console in use with events Lago will not bill: several issue groups (a code a mapping sends that is no
    /// metric, an unknown code and subscription, a missing property, a filter value outside the list, plus the busy
    /// fixture's unknown subscriptions), two held events, policy `hold`, the catalogue read 42 s ago.
    static func billing(width: Int = 80, height: Int = 24, readOnly: Bool = false) -> AppState {
        var state = busy(width: width, height: height, readOnly: readOnly)
        var updates = (0..<4).map { index in
            unbillable(
                "req_cw5m_\(index)", code: "llm_cache_write_5m", subscription: "sub_acme_pro", reasons: [.invalidCode],
                secondsAgo: Double(200 - index * 40))
        }
        updates += (0..<2).map { index in
            unbillable(
                "test_nope_\(index)", code: "nope_code", subscription: "sub_zzz",
                reasons: [.subscriptionNotFound, .invalidCode], properties: ["value": 1],
                secondsAgo: Double(30 - index * 10))
        }
        updates.append(
            unbillable(
                "req_no_tokens", code: "llm_input_tokens", subscription: "sub_globex_team",
                reasons: [.missingAggregationProperty], properties: ["model": "gpt-4o"], secondsAgo: 150))
        updates.append(
            unbillable(
                "req_model_gpt5", code: "llm_output_tokens", subscription: "sub_acme_pro",
                reasons: [.invalidFilterValues], properties: ["tokens": 40, "model": "gpt-5"], secondsAgo: 5))
        // A held event the console saw, then saw released under another key: one event, counted once.
        var held = unbillable(
            "req_held_cache_0003", code: "llm_cache_write_5m", subscription: "sub_acme_pro", reasons: [.invalidCode],
            secondsAgo: 95, state: .held)
        held.key = "held#3"
        updates.append(held)
        var released = unbillable(
            "req_held_cache_0003", code: "llm_cache_write_5m", subscription: "sub_acme_pro", reasons: [.invalidCode],
            secondsAgo: 94, state: .queued)
        released.key = "#77"
        updates.append(released)
        state.apply(.eventLifecycle(updates))
        var stats = Fixture.stats
        stats.billing.checking = true
        stats.billing.policy = "hold"
        stats.billing.held = heldEvents.count
        stats.billing.spooled.billable = 30
        stats.billing.spooled.unchecked = 2
        stats.billing.spooled.unbillable = 5
        stats.billing.spooled.byReason = ["invalid_code": 4, "subscription_not_found": 1]
        stats.billing.catalogueLoadedAt = start.addingTimeInterval(-42)
        stats.heldEvents = heldEvents
        state.apply(.stats(stats))
        state.apply(
            .catalogueChanged(
                metrics: catalogueMetrics,
                status: BillingCatalogueStatus(
                    loadedAt: start.addingTimeInterval(-42), metrics: catalogueMetrics.count,
                    subscriptions: lagoSubscriptions.count)))
        return state
    }
}
