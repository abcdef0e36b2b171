public import Foundation

/// What Lago itself reported afterwards about the events (its `events.errors` and `event.error` webhooks, received
/// by the relay), beside the console's own prediction: shown by the Billing pane and in an event's detail.
public struct LagoVerdictSummary: Sendable, Hashable {
    /// One event Lago reported not billed.
    public struct ReportedEvent: Sendable, Hashable {
        /// Lago's reasons (`invalid_code`…).
        public var reasons: [String]
        /// When the webhook that said so arrived.
        public var reportedAt: Date
        /// Our check predicted it billable: a disagreement.
        public var predictedBillable: Bool

        /// Creates a reported event.
        public init(reasons: [String], reportedAt: Date, predictedBillable: Bool) {
            self.reasons = reasons
            self.reportedAt = reportedAt
            self.predictedBillable = predictedBillable
        }
    }

    /// Webhooks recorded.
    public var webhooks = 0
    /// When the last one arrived.
    public var lastWebhookAt: Date?
    /// Events Lago reported not billed.
    public var notBilled = 0
    /// Those events by Lago's reason.
    public var byReason: [String: Int] = [:]
    /// Of those, events our check predicted unbillable too.
    public var agreed = 0
    /// Of those, events our check predicted billable.
    public var predictedBillable = 0
    /// Events our check predicted unbillable that Lago's post-validation covered without naming them.
    public var predictedUnbillableNotReported = 0
    /// Events Lago named that did not go through this spool.
    public var notFromThisSpool = 0
    /// The latest reported events by transaction id.
    public var reported: [String: ReportedEvent] = [:]

    /// Where Lago and our check disagree, either way.
    public var disagreements: Int { predictedBillable + predictedUnbillableNotReported }

    /// Nothing reported.
    public init() {}
}
