public import ConsoleUI
import Foundation
public import LagoAPI
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

    /// Creates an adapter that knows no event yet.
    public init() {}

    /// Events remembered now (in flight or queued).
    public var rememberedCount: Int { known.count }

    /// The row update for one change.
    public mutating func update(for change: EventLifecycleChange) -> EventUpdate {
        let key = change.eventID.map { "#\($0)" } ?? change.transactionID
        if known.count > Self.capacity { known.removeAll(keepingCapacity: true) }
        if let event = change.event { known[key] = Known(event: event, payload: known[key]?.payload) }
        if let payload = change.payload {
            if let event = known[key]?.event ?? (try? JSONDecoder().decode(EventInput.self, from: Data(payload.utf8))) {
                known[key] = Known(event: event, payload: payload)
            }
        }
        let remembered = known[key]
        switch change.stage {
        case .delivered, .alreadyInLago, .dead: known[key] = nil
        default: break
        }
        let event = remembered?.event
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
        }
        return EventUpdate(
            transactionID: change.transactionID, code: event?.code ?? "",
            externalSubscriptionID: event?.externalSubscriptionID, properties: event?.properties ?? [:],
            state: state, time: change.date, attempt: attempt, httpStatus: status, reason: reason,
            payloadJSON: remembered?.payload, response: change.answer, key: key,
            timestamp: event?.timestamp.map { Date(timeIntervalSince1970: $0) })
    }
}
