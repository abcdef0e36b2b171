public import ConsoleUI
import Foundation
import LagoAPI
public import LagoBilling
public import LagoEngine

/// Turns the engine's per-event lifecycle changes into the console's row updates.
///
/// A value type fed from one task: it remembers each event in flight by its key (the spool row id) from its
/// `.queued` change, or from the exact payload of its first `.inFlight` change when the console subscribed later
/// (events resumed from the spool, queued by `serve` before attaching), and forgets it once settled. Two events that
/// share a transaction id are two rows.
public struct LifecycleAdapter: Sendable {
    private struct Known: Sendable {
        var event: EventInput
        var payload: String?
    }

    /// Events kept at most before the memory is cleared (a safety bound; settled events are forgotten anyway).
    public static let capacity = 50_000
    private var known: [String: Known] = [:]

    /// Whether Lago will bill an event: asked once per event, when the adapter first learns it.
    private let check: (@Sendable (BillingEvent) -> BillingVerdict)?

    /// Creates an adapter that knows no event yet; `check` gives each event its billing verdict.
    public init(check: (@Sendable (BillingEvent) -> BillingVerdict)? = nil) {
        self.check = check
    }

    /// Events remembered now (in flight or queued).
    public var rememberedCount: Int { known.count }
    /// Events first seen on a retry (resumed from the spool, or queued before the console subscribed): their
    /// earlier attempts are in the spool's attempt log. Taken with ``takeResumed()``.
    private var resumed: [Int64] = []

    /// The events learnt on a retry since the last call, whose earlier attempts the console should read.
    public mutating func takeResumed() -> [Int64] {
        defer { resumed.removeAll() }
        return resumed
    }

    /// The timeline entries of attempts read from the spool's log.
    public static func timeline(_ attempts: [AttemptRecord]) -> [EventTimelineEntry] {
        attempts.map {
            EventTimelineEntry(
                time: $0.at, state: .retrying(attempt: $0.attempt + 1), attempt: $0.attempt, httpStatus: $0.httpStatus,
                reason: $0.answer)
        }
    }

    /// The row update for one change.
    public mutating func update(for change: EventLifecycleChange) -> EventUpdate {
        // Held events have ids of their own list: `held#3` is never the queued event `#3`.
        let key =
            change.eventID.map { id in
                switch change.stage {
                case .held, .released, .discarded: "held#\(id)"
                default: "#\(id)"
                }
            } ?? change.transactionID
        if known.count > Self.capacity { known.removeAll(keepingCapacity: true) }
        let wasKnown = known[key] != nil
        if let event = change.event { known[key] = Known(event: event, payload: known[key]?.payload) }
        if let payload = change.payload {
            let learnt = known[key] == nil
            if let event = known[key]?.event ?? (try? JSONDecoder().decode(EventInput.self, from: Data(payload.utf8))) {
                known[key] = Known(event: event, payload: payload)
                if learnt, case .inFlight(let attempt) = change.stage, attempt > 1, let id = change.eventID {
                    resumed.append(id)
                }
            }
        }
        let remembered = known[key]
        switch change.stage {
        case .delivered, .alreadyInLago, .dead, .held, .released, .discarded: known[key] = nil
        default: break
        }
        let event = remembered?.event
        // The verdict once per event, when it is first learnt; an event without a timestamp is billed at the time
        // it was accepted (its `.queued` change's date).
        // The engine's own verdict (taken when it accepted the event) when it checks; else the console's.
        let billing =
            change.billing
            ?? (wasKnown ? nil : event.flatMap { event in check?(BillingEvent(event, acceptedAt: change.date)) })
        let state: DeliveryState
        var attempt: Int?
        var reason: String?
        var status = change.httpStatus
        switch change.stage {
        case .queued: state = .queued
        case .inFlight(let number):
            state = .inFlight
            attempt = number
        case .delivered: state = .delivered
        case .alreadyInLago: state = .alreadyInLago
        case .retryScheduled(let number, _, let why):
            state = .retrying(attempt: number)
            attempt = number
            reason = why
        case .dead(let deadReason):
            state = .dead
            reason = deadReason.message
            status = status ?? deadReason.status
        case .held:
            state = .held
            reason =
                "held: Lago would not bill it (billing.unbillable = hold); release or discard it in the Billing pane"
        case .released:
            state = .released
        case .discarded:
            state = .discarded
        }
        return EventUpdate(
            transactionID: change.transactionID, code: event?.code ?? "",
            externalSubscriptionID: event?.externalSubscriptionID, properties: event?.properties ?? [:],
            state: state, time: change.date, attempt: attempt, httpStatus: status, reason: reason,
            payloadJSON: remembered?.payload, response: change.answer, key: key,
            timestamp: event?.timestamp.map { Date(timeIntervalSince1970: $0) }, billing: billing,
            origin: change.origin)
    }
}
