import ConsoleBridge
import ConsoleUI
import Foundation
import LagoAPI
import LagoBilling
import LagoEngine
import Synchronization
import Testing

@Suite struct LifecycleAdapterTests {
    let date = Date(timeIntervalSince1970: 1_764_000_000)

    func event(_ id: String, subscription: String, value: Int64) -> EventInput {
        EventInput(
            transactionID: id, externalSubscriptionID: subscription, code: "llm_input_tokens",
            timestamp: 1_764_000_000.25, properties: ["value": .integer(value)])
    }

    /// Each event's billing verdict, checked once when the adapter first learns it, against a real catalogue; the
    /// row keeps it through later changes, and the filter finds events by reason.
    @Test func eachEventIsCheckedOnceAndKeepsItsBillingVerdict() {
        let catalogue = BillingCatalogue(
            metrics: [
                BillableMetric(name: "In", code: "llm_input_tokens", aggregationType: .sumAgg, fieldName: "value")
            ],
            subscriptions: [Subscription(externalID: "a", externalCustomerID: "c", planCode: "p", status: .active)],
            loadedAt: date)
        let checks = Counter()
        var adapter = LifecycleAdapter { event in
            checks.increment()
            return BillingCheck.check(event, against: catalogue)
        }
        var history = EventHistory(capacity: 100)
        history.apply([
            adapter.update(
                for: EventLifecycleChange(
                    transactionID: "t-1", stage: .queued, date: date, event: event("t-1", subscription: "a", value: 1),
                    eventID: 1)),
            adapter.update(
                for: EventLifecycleChange(
                    transactionID: "t-2", stage: .queued, date: date,
                    event: event("t-2", subscription: "zzz", value: 1),
                    eventID: 2)),
            adapter.update(
                for: EventLifecycleChange(transactionID: "t-2", stage: .inFlight(attempt: 1), date: date, eventID: 2)),
            adapter.update(
                for: EventLifecycleChange(
                    transactionID: "t-2", stage: .delivered, date: date, eventID: 2, httpStatus: 200, answer: "HTTP 200"
                )),
        ])
        #expect(checks.value == 2, "once per event")
        let billable = history.record(sequence: history.firstSequence)
        let unbillable = history.record(sequence: history.firstSequence + 1)
        #expect(billable?.billing == .billable())
        #expect(unbillable?.state == .delivered && unbillable?.billing == .unbillable([.subscriptionNotFound]))
        history.setFilter(EventFilter("subscription_not_found"))
        #expect(history.visibleCount(below: nil) == 1)
        history.setFilter(EventFilter("unbillable"))
        #expect(history.visibleCount(below: nil) == 1)
    }

    @Test func twoEventsSharingATransactionIDAreTwoRows() {
        var adapter = LifecycleAdapter()
        var history = EventHistory(capacity: 100)
        history.apply([
            adapter.update(
                for: EventLifecycleChange(
                    transactionID: "t-1", stage: .queued, date: date, event: event("t-1", subscription: "a", value: 1),
                    eventID: 1)),
            adapter.update(
                for: EventLifecycleChange(
                    transactionID: "t-1", stage: .queued, date: date, event: event("t-1", subscription: "b", value: 2),
                    eventID: 2)),
            adapter.update(
                for: EventLifecycleChange(
                    transactionID: "t-1", stage: .delivered, date: date, eventID: 2, httpStatus: 200,
                    answer: "HTTP 200")),
        ])
        #expect(history.count == 2)
        let first = history.record(sequence: history.firstSequence)
        let second = history.record(sequence: history.firstSequence + 1)
        #expect(first?.externalSubscriptionID == "a" && first?.state == .queued)
        #expect(second?.externalSubscriptionID == "b" && second?.state == .delivered)
        #expect(second?.response == "HTTP 200" && second?.httpStatus == 200)
        #expect(first?.timestamp == Date(timeIntervalSince1970: 1_764_000_000.25))
    }

    @Test func anEventResumedFromTheSpoolIsLearntFromWhatWasSent() {
        var adapter = LifecycleAdapter()
        let payload =
            #"{"transaction_id":"old-1","external_subscription_id":"sub_x","code":"llm_output_tokens","#
            + #""timestamp":1764000000,"properties":{"value":12345678901234567890}}"#
        let sent = adapter.update(
            for: EventLifecycleChange(
                transactionID: "old-1", stage: .inFlight(attempt: 1), date: date, eventID: 7, payload: payload))
        #expect(sent.code == "llm_output_tokens" && sent.externalSubscriptionID == "sub_x")
        #expect(sent.properties["value"] != nil)
        #expect(sent.payloadJSON == payload, "the detail shows the exact bytes sent")
        let dead = adapter.update(
            for: EventLifecycleChange(
                transactionID: "old-1",
                stage: .dead(DeadLetterReason(kind: .rejected, status: 422, message: "HTTP 422 validation_errors")),
                date: date, eventID: 7, httpStatus: 422, answer: #"HTTP 422 Unprocessable Entity (validation_errors)"#))
        #expect(dead.code == "llm_output_tokens", "still known when it settles")
        #expect(dead.response?.contains("validation_errors") == true && dead.httpStatus == 422)
        #expect(adapter.rememberedCount == 0, "settled events are forgotten")
    }
}

@Suite struct ResumedEventTests {
    @Test func anEventFirstSeenOnARetryAsksForItsEarlierAttemptsAndShowsThemFirst() {
        let date = Date(timeIntervalSince1970: 1_764_000_000)
        var adapter = LifecycleAdapter()
        var history = EventHistory(capacity: 10)
        let payload = #"{"transaction_id":"r-1","external_subscription_id":"s","code":"c","properties":{}}"#
        history.apply([
            adapter.update(
                for: EventLifecycleChange(
                    transactionID: "r-1", stage: .inFlight(attempt: 3), date: date, eventID: 9, payload: payload))
        ])
        #expect(adapter.takeResumed() == [9])
        #expect(adapter.takeResumed().isEmpty)
        let earlier = [
            AttemptRecord(
                eventID: 9, attempt: 1, at: date.addingTimeInterval(-60), httpStatus: 503, answer: "HTTP 503"),
            AttemptRecord(
                eventID: 9, attempt: 2, at: date.addingTimeInterval(-30), httpStatus: 429, answer: "HTTP 429"),
        ]
        history.prependAttempts(LifecycleAdapter.timeline(earlier), key: "#9")
        let row = history.record(transactionID: "r-1")
        #expect(row?.timeline.map(\.attempt) == [1, 2, 3])
        #expect(row?.timeline.first?.httpStatus == 503)
        // A fresh event (first try) has no earlier attempts to read.
        _ = adapter.update(
            for: EventLifecycleChange(
                transactionID: "n-1", stage: .inFlight(attempt: 1), date: date, eventID: 10, payload: payload))
        #expect(adapter.takeResumed().isEmpty)
    }
}

/// Counts calls from a `@Sendable` closure.
private final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
