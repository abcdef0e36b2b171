import Foundation

/// What the engine and the relay do with an event the check calls `unbillable` (config `billing.unbillable`).
public enum UnbillablePolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Deliver it as Lago would take it, and flag it (Lago's own behaviour; the default).
    case forward
    /// Keep it out of delivery in the held list, until the operator releases it (after fixing the code or the
    /// subscription in Lago) or discards it.
    case hold
    /// Refuse it: the relay answers 422 in Lago's shape, naming the event's index and the reasons; nothing of the
    /// request is spooled (the strict mode a CI job puts in front of an app under test).
    case reject
}

/// Decides whether Lago will bill an event, at the moment it is accepted (``BillingCatalogueService`` is one, over
/// the catalogue it keeps fresh).
public protocol BillingChecker: Sendable {
    /// The verdict on `event`; `unchecked` while no catalogue is loaded.
    func check(_ event: BillingEvent) -> BillingVerdict
    /// The catalogue the verdicts come from, for the operator (`nil` when there is none to show).
    var catalogueStatus: BillingCatalogueStatus? { get }
}

extension BillingChecker {
    public var catalogueStatus: BillingCatalogueStatus? { nil }
}

extension BillingVerdict {
    /// The verdict as the spool keeps it: a small code (`0` unchecked, `1` billable, `2` unbillable) and the
    /// reasons' names, comma-separated (`nil` unless unbillable).
    public var storage: (code: Int, reasons: String?) {
        switch status {
        case .unchecked: (0, nil)
        case .billable: (1, nil)
        case .unbillable: (2, reasons.map(\.rawValue).joined(separator: ","))
        }
    }

    /// The verdict kept as ``storage``; a code other than 1 or 2 (or none, from a spool older than verdicts) is
    /// `unchecked`; reason names this build does not know are skipped.
    public init(storageCode code: Int?, reasons: String?) {
        switch code {
        case 1: self = .billable()
        case 2:
            let names = (reasons ?? "").split(separator: ",").compactMap { BillingReason(rawValue: String($0)) }
            self = .unbillable(names)
        default: self = .unchecked
        }
    }
}

/// Events by billing verdict: how many were billable, unchecked, unbillable, and unbillable for each reason (an
/// event with two reasons counts once in `unbillable` and once under each reason).
public struct BillingCounts: Sendable, Hashable, Codable {
    // Lago's snake_case names in --json and on the control API.
    enum CodingKeys: String, CodingKey {
        case billable, unchecked, unbillable
        case byReason = "by_reason"
    }

    /// Lago will bill them.
    public var billable = 0
    /// Checked before any catalogue was loaded (or by an engine without a check).
    public var unchecked = 0
    /// Lago will not bill them.
    public var unbillable = 0
    /// Unbillable events for each reason (`invalid_code` → count); reasons with no event are absent.
    public var byReason: [String: Int] = [:]

    /// No events.
    public init() {}

    /// Every event counted.
    public var total: Int { billable + unchecked + unbillable }

    /// Counts one event of `verdict`.
    public mutating func add(_ verdict: BillingVerdict, count: Int = 1) {
        switch verdict.status {
        case .billable: billable += count
        case .unchecked: unchecked += count
        case .unbillable:
            unbillable += count
            for reason in verdict.reasons { byReason[reason.rawValue, default: 0] += count }
        }
    }

    /// Adds every count of `other`.
    public mutating func add(_ other: BillingCounts) {
        billable += other.billable
        unchecked += other.unchecked
        unbillable += other.unbillable
        for (reason, count) in other.byReason { byReason[reason, default: 0] += count }
    }

    /// Takes every count of `other` away.
    public mutating func remove(_ other: BillingCounts) {
        billable -= other.billable
        unchecked -= other.unchecked
        unbillable -= other.unbillable
        for (reason, count) in other.byReason {
            let left = byReason[reason, default: 0] - count
            byReason[reason] = left > 0 ? left : nil
        }
    }

    /// Takes one event of `verdict` away (it left the spool).
    public mutating func remove(_ verdict: BillingVerdict, count: Int = 1) {
        switch verdict.status {
        case .billable: billable -= count
        case .unchecked: unchecked -= count
        case .unbillable:
            unbillable -= count
            for reason in verdict.reasons {
                let left = byReason[reason.rawValue, default: 0] - count
                byReason[reason.rawValue] = left > 0 ? left : nil
            }
        }
    }
}
