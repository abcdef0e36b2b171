import Foundation
import LagoAPI
import LagoBilling
import LagoUsage

/// Events the console has seen that Lago will not bill, for one reason, code and subscription.
struct BillingIssueGroup: Sendable, Hashable {
    /// What tells one group from another.
    struct Key: Sendable, Hashable {
        var reason: BillingReason
        var code: String
        var subscription: String?
    }

    var key: Key
    /// Distinct transaction ids (an event held, then released, is one event; so are two rows Lago deduplicates).
    var count: Int
    /// When the console first saw the earliest of them.
    var firstSeen: Date
    /// When the console first saw the latest of them.
    var lastSeen: Date
    /// The transaction id of the latest.
    var exampleTransactionID: String

    var reason: BillingReason { key.reason }
    var code: String { key.code }
    var subscription: String? { key.subscription }
}

/// One row of the Billing pane's list: an issue group, or an event in the held list.
enum BillingItem: Sendable, Hashable {
    case group(BillingIssueGroup)
    case held(HeldEvent)

    var key: BillingItemKey {
        switch self {
        case .group(let group): .group(group.key)
        case .held(let event): .held(id: event.id)
        }
    }
}

extension EventHistory {
    /// The rows kept whose latest verdict is `unbillable`, grouped by reason × code × subscription (an event with two
    /// reasons is in two groups), in `order`; ties go to the other order, then to the reason's order.
    func billingIssueGroups(order: IssueOrder) -> [BillingIssueGroup] {
        struct Accumulator {
            var transactions: Set<String> = []
            var firstSeen = Date.distantFuture
            var lastSeen = Date.distantPast
            var example = ""
        }
        var groups: [BillingIssueGroup.Key: Accumulator] = [:]
        for record in records where record.billing?.status == .unbillable {
            for reason in record.billing?.reasons ?? [] {
                let key = BillingIssueGroup.Key(
                    reason: reason, code: record.code, subscription: record.externalSubscriptionID)
                var group = groups[key] ?? Accumulator()
                group.transactions.insert(record.transactionID)
                group.firstSeen = min(group.firstSeen, record.firstSeen)
                if record.firstSeen >= group.lastSeen {
                    group.lastSeen = record.firstSeen
                    group.example = record.transactionID
                }
                groups[key] = group
            }
        }
        let result = groups.map { key, group in
            BillingIssueGroup(
                key: key, count: group.transactions.count, firstSeen: group.firstSeen, lastSeen: group.lastSeen,
                exampleTransactionID: group.example)
        }
        return result.sorted { left, right in
            let recent = (left.lastSeen, left.count)
            let rightRecent = (right.lastSeen, right.count)
            switch order {
            case .recent where recent != rightRecent: return recent > rightRecent
            case .frequent where (left.count, left.lastSeen) != (right.count, right.lastSeen):
                return (left.count, left.lastSeen) > (right.count, right.lastSeen)
            default:
                if left.reason != right.reason { return left.reason < right.reason }
                if left.code != right.code { return left.code < right.code }
                return (left.subscription ?? "") < (right.subscription ?? "")
            }
        }
    }
}

extension AppState {
    /// The Billing pane's rows: the issue groups, then the held list.
    var billingItems: [BillingItem] {
        billingPane.groups.map(BillingItem.group)
            + stats.heldEvents.map(BillingItem.held)
    }

    /// The selected row of the Billing pane (the first when the selected one went away).
    var selectedBillingItem: BillingItem? {
        let items = billingItems
        return items.first { $0.key == billingPane.selected } ?? items.first
    }

    /// The selected issue group, if the selection is one.
    var selectedIssueGroup: BillingIssueGroup? {
        if case .group(let group)? = selectedBillingItem { return group }
        return nil
    }

    /// The selected held event, if the selection is one.
    var selectedHeldEvent: HeldEvent? {
        if case .held(let event)? = selectedBillingItem { return event }
        return nil
    }

    /// The canonical field whose mapping sends `code` (`nil` when no field's mapping gives it: a raw event's code).
    func field(sendingCode code: String) -> CanonicalField? {
        CanonicalField.allCases.first { self.code(for: $0) == code }
    }

    /// The metrics to pick a code from: the catalogue's, else those of the mappings pane's last check.
    var pickableMetrics: [BillableMetric] {
        let catalogue = billingPane.metrics.values.sorted { $0.code < $1.code }
        return catalogue.isEmpty ? (knownMetrics ?? []) : catalogue
    }

    /// The field the selected `invalid_code` group's code came from, when it can be remapped to one of Lago's codes.
    var remappableField: CanonicalField? {
        guard let group = selectedIssueGroup, group.reason == .invalidCode, !pickableMetrics.isEmpty,
            mappingsPane.saving == nil
        else { return nil }
        return field(sendingCode: group.code)
    }

    /// Whether the selected group is about the subscription (a default subscription fixes events that name none).
    var selectedIssueIsSubscription: Bool {
        guard let reason = selectedIssueGroup?.reason else { return false }
        return [.subscriptionMissing, .subscriptionNotFound, .subscriptionNotActive].contains(reason)
    }

    mutating func moveBillingSelection(_ action: ConsoleAction) {
        let items = billingItems
        guard !items.isEmpty else {
            billingPane.selected = nil
            return
        }
        let index = items.firstIndex { $0.key == billingPane.selected } ?? 0
        let page = layout.listRows(for: .billing, focused: focusedPane)
        billingPane.selected = items[movedIndex(index, count: items.count, action: action, page: page)].key
    }

    /// Performs a Billing pane action.
    mutating func performBilling(_ action: ConsoleAction) -> [Effect] {
        switch action {
        case .remapCode:
            guard let field = remappableField else { return [] }
            let items = pickableMetrics.map { metric in
                PickerItem(value: metric.code, detail: "\(metric.name) \u{B7} \(metric.aggregationType)")
            }
            overlay = .picker(PickerState(field: field, items: items))
        case .setDefaultSubscription:
            focusedPane = .subscription
            show("pick the subscription that bills events naming none: Enter uses it")
            if case .loaded = subscriptionPane.list { return [] }
            subscriptionPane.list = .loading
            return [.loadSubscriptions]
        case .releaseHeld:
            if let held = selectedHeldEvent {
                overlay = .confirm(
                    ConfirmDialog(kind: .releaseHeld(heldID: held.id, transactionID: held.transactionID)))
            }
        case .discardHeld:
            if let held = selectedHeldEvent {
                overlay = .confirm(
                    ConfirmDialog(kind: .discardHeld(heldID: held.id, transactionID: held.transactionID)))
            }
        case .refreshCatalogue:
            show("reading Lago's metrics and subscriptions again\u{2026}")
            return [.refreshCatalogue]
        case .toggleIssueOrder:
            billingPane.order = billingPane.order == .recent ? .frequent : .recent
        default:
            break
        }
        return []
    }
}

extension ConsoleEvent {
    /// Whether the event is a clock tick (it changes no row of the history).
    var isTick: Bool {
        if case .tick = self { return true }
        return false
    }
}
