public import Foundation
import LagoAPI
public import LagoBilling

/// Whether a test event moved its charge on the customer's usage in Lago.
public enum UsageCount: Sendable, Hashable {
    /// Not delivered yet: the count waits for Lago to accept the event.
    case awaitingDelivery
    /// Delivered; the charge has not moved by the event yet.
    case waiting(since: Date)
    /// The charge moved: units and events counted since the reading before the event.
    case counted(ChargeChange, at: Date)
    /// ``AppState/usageCountTimeout`` passed after delivery without the charge moving: why, in words.
    case notCounted(String, at: Date)
}

/// A test event followed onto the customer's usage.
struct UsageExpectation: Sendable, Hashable {
    var transactionID: String
    /// The subscription the event bills (from the send; the event's own once seen).
    var subscriptionID: String
    var sentAt: Date
    /// The last reading of the subscription before the event was sent: what its charge moves from. `nil` until
    /// one arrives (none was taken before the send).
    var baseline: UsageReading?
    var count = UsageCount.awaitingDelivery
}

/// The Usage pane, and the reading of Lago's `current_usage` it and the test events' count marks live on.
struct UsagePaneState: Sendable {
    /// The subscription picked in the pane (`s`); `nil` shows the default subscription.
    var picked: String?
    /// The latest reading per subscription.
    var latest: [String: UsageReading] = [:]
    /// The first reading per subscription in this console session (the "since open" change counts from it).
    var first: [String: UsageReading] = [:]
    /// The reading per subscription just before the last test event was sent to it.
    var beforeLastTest: [String: UsageReading] = [:]
    /// Lago's refusal of the last read, per subscription, in Lago's words, and when.
    var errors: [String: (message: String, at: Date)] = [:]
    /// When a read of each subscription was last asked for.
    var requestedAt: [String: Date] = [:]
    /// Reads asked for and not answered yet.
    var inFlight: Set<String> = []
    /// Test events followed onto the usage, by transaction id.
    var expectations: [String: UsageExpectation] = [:]
    /// `s` was pressed before Lago's subscriptions were loaded: the picker opens when they arrive.
    var pickWhenLoaded = false
    /// The selected charge line.
    var selection = 0
}

extension AppState {
    /// The shortest time between two reads of one subscription, on demand included.
    static let minimumUsageReadInterval: TimeInterval = 1

    /// The subscription the Usage pane shows.
    var usageSubscription: String? { usagePane.picked ?? defaultSubscription }

    /// The subscriptions read on the clock: the one shown, and those of test events not settled yet.
    var watchedUsageSubscriptions: [String] {
        var result: [String] = []
        if let shown = usageSubscription { result.append(shown) }
        for expectation in usagePane.expectations.values.sorted(by: { $0.transactionID < $1.transactionID }) {
            switch expectation.count {
            case .awaitingDelivery, .waiting:
                if !result.contains(expectation.subscriptionID) { result.append(expectation.subscriptionID) }
            case .counted, .notCounted: break
            }
        }
        return result
    }

    /// The reads due now: each watched subscription not being read whose last read was asked for at least
    /// ``usageRefreshInterval`` ago (at once for one never read).
    mutating func dueUsageReads() -> [Effect] {
        var effects: [Effect] = []
        for subscription in watchedUsageSubscriptions where !usagePane.inFlight.contains(subscription) {
            if let asked = usagePane.requestedAt[subscription],
                now.timeIntervalSince(asked) < max(usageRefreshInterval, Self.minimumUsageReadInterval)
            {
                continue
            }
            effects.append(startUsageRead(subscription))
        }
        return effects
    }

    /// `r` in the Usage pane: the shown subscription now, unless read less than a second ago or being read.
    mutating func readUsageNow() -> [Effect] {
        guard let subscription = usageSubscription else {
            show("no subscription: set a default one (5) or pick one with s", .error)
            return []
        }
        if usagePane.inFlight.contains(subscription) { return [] }
        if let asked = usagePane.requestedAt[subscription],
            now.timeIntervalSince(asked) < Self.minimumUsageReadInterval
        {
            return []
        }
        return [startUsageRead(subscription)]
    }

    private mutating func startUsageRead(_ subscription: String) -> Effect {
        usagePane.inFlight.insert(subscription)
        usagePane.requestedAt[subscription] = now
        return .readUsage(subscriptionID: subscription)
    }

    /// Lago answered a read: keep it, and settle the test events it shows counted.
    mutating func usageRead(_ subscription: String, _ result: Result<UsageReading, OperationError>) {
        usagePane.inFlight.remove(subscription)
        switch result {
        case .failure(let error):
            usagePane.errors[subscription] = (Self.lagoWords(error), now)
        case .success(let reading):
            usagePane.errors[subscription] = nil
            usagePane.latest[subscription] = reading
            if usagePane.first[subscription] == nil { usagePane.first[subscription] = reading }
            for (id, var expectation) in usagePane.expectations where expectation.subscriptionID == subscription {
                if expectation.baseline == nil {
                    // No reading came before the send: this one is the baseline if the event was not delivered
                    // yet, else the charge counts from zero (the event is in this reading already).
                    expectation.baseline =
                        expectation.count == .awaitingDelivery ? reading : Self.emptyReading(like: reading)
                }
                settle(&expectation, with: reading)
                usagePane.expectations[id] = expectation
            }
        }
    }

    /// Lago's refusal as Lago words it: the HTTP status and Lago's `code`, then the message.
    static func lagoWords(_ error: OperationError) -> String {
        if let status = error.status, let code = error.code { return "Lago answered \(status) \(code)" }
        return error.message
    }

    private static func emptyReading(like reading: UsageReading) -> UsageReading {
        var empty = reading
        empty.usage.chargesUsage = []
        empty.usage.totalAmountCents = 0
        return empty
    }

    /// The test events just queued: followed onto the usage of their subscription, from its latest reading.
    mutating func expectUsage(transactionIDs: [String], subscription: String?) -> [Effect] {
        guard let subscription, !subscription.isEmpty else { return [] }
        let baseline = usagePane.latest[subscription]
        if let baseline { usagePane.beforeLastTest[subscription] = baseline }
        for transactionID in transactionIDs {
            usagePane.expectations[transactionID] = UsageExpectation(
                transactionID: transactionID, subscriptionID: subscription, sentAt: now, baseline: baseline)
        }
        // Keep the marks of the last sends only.
        if usagePane.expectations.count > 200 {
            let oldest = usagePane.expectations.values.sorted { $0.sentAt < $1.sentAt }.prefix(
                usagePane.expectations.count - 200)
            for expectation in oldest { usagePane.expectations[expectation.transactionID] = nil }
        }
        if baseline == nil, !usagePane.inFlight.contains(subscription) {
            return [startUsageRead(subscription)]
        }
        return []
    }

    /// On each tick and lifecycle change: a delivered test event starts its count; one whose time is up is
    /// marked not counted, with the billing check's reason when it has one.
    mutating func advanceUsageCounts() {
        for (id, var expectation) in usagePane.expectations {
            let before = expectation
            let record = history.record(transactionID: id)
            if let subscription = record?.externalSubscriptionID, !subscription.isEmpty {
                expectation.subscriptionID = subscription
            }
            switch expectation.count {
            case .awaitingDelivery:
                if let record, record.state == .delivered || record.state == .alreadyInLago {
                    expectation.count = .waiting(since: now)
                    if let reading = usagePane.latest[expectation.subscriptionID],
                        let baseline = expectation.baseline, reading.readAt > baseline.readAt
                    {
                        settle(&expectation, with: reading)
                    }
                } else if let record,
                    record.state == .dead || record.state == .refused
                        || record.state == .discarded
                {
                    expectation.count = .notCounted("not delivered: \(record.state.label)", at: now)
                }
            case .waiting(let since):
                if now.timeIntervalSince(since) >= usageCountTimeout {
                    expectation.count = .notCounted(notCountedReason(expectation, record: record), at: now)
                }
            case .counted, .notCounted:
                break
            }
            if expectation != before { usagePane.expectations[id] = expectation }
        }
    }

    private func notCountedReason(_ expectation: UsageExpectation, record: EventRecord?) -> String {
        let seconds = "\(Format.grouped(Int(usageCountTimeout.rounded()))) s"
        if let verdict = record?.billing, verdict.status == .unbillable, !verdict.reasons.isEmpty {
            return "not counted after \(seconds): " + verdict.reasons.map(\.rawValue).joined(separator: ", ")
        }
        if let code = record?.code, let reading = usagePane.latest[expectation.subscriptionID],
            reading.charge(code: code) == nil
        {
            return "not counted after \(seconds): the plan has no charge for \(code)"
        }
        if let error = usagePane.errors[expectation.subscriptionID] {
            return "not counted after \(seconds): usage unreadable (\(error.message))"
        }
        return "not counted after \(seconds): its charge did not move"
    }

    /// Whether `reading` shows the event counted: its charge's events moved, and its units by the event's value
    /// where the aggregation says what that is (a sum by its property, a count by one).
    private func settle(_ expectation: inout UsageExpectation, with reading: UsageReading) {
        guard case .waiting = expectation.count, let baseline = expectation.baseline,
            let record = history.record(transactionID: expectation.transactionID),
            let line = reading.charge(code: record.code)
        else { return }
        let change = UsageChange.between(baseline, reading)
        guard let moved = change.charge(line.lineKey), moved.eventsCount >= 1 else { return }
        if let expected = expectedUnits(of: record, aggregation: line.billableMetric.aggregationType),
            moved.units < expected
        {
            return
        }
        expectation.count = .counted(moved, at: now)
    }

    /// How much the event moves its charge's units, when the aggregation makes that plain.
    private func expectedUnits(of record: EventRecord, aggregation: AggregationType) -> Decimal? {
        switch aggregation {
        case .countAgg:
            return 1
        case .sumAgg:
            guard let field = billingPane.metrics[record.code]?.fieldName, let value = record.properties[field],
                let text = LagoPropertyText.text(value), LagoPropertyText.isNumeral(text)
            else { return nil }
            return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
        default:
            return nil
        }
    }

    /// Opens the searchable list of Lago's active subscriptions, for the Usage pane.
    mutating func openUsageSubscriptionPicker() {
        guard case .loaded(let list, _) = subscriptionPane.list else { return }
        let items = list.map { subscription in
            PickerItem(
                value: subscription.externalID,
                detail: [subscription.externalCustomerID, subscription.name, subscription.planCode]
                    .compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " · "))
        }
        var picker = PickerState(purpose: .usageSubscription, items: items)
        if let shown = usageSubscription, let index = items.firstIndex(where: { $0.value == shown }) {
            picker.selection = index
        }
        overlay = .picker(picker)
    }

    /// A count mark as plain text (the detail view, what `y` copies).
    func usageCountWords(_ count: UsageCount) -> String {
        switch count {
        case .awaitingDelivery: return "waiting for delivery before counting"
        case .waiting: return "delivered; waiting for its charge to move on the customer's usage"
        case .counted(let change, let at):
            return "counted on the customer's usage: \(change.line.billableMetric.code) "
                + "\(UsageText.signedUnits(change.units)) units, +\(change.eventsCount) event"
                + (change.eventsCount == 1 ? "" : "s") + " (\(Format.clock(at, timeZone)))"
        case .notCounted(let reason, _): return reason
        }
    }

    /// The count mark of a test event, if the console follows it.
    func usageCount(of transactionID: String) -> UsageCount? {
        usagePane.expectations[transactionID]?.count
    }
}
