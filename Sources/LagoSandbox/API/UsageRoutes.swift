import Foundation
import LagoAPI
import LagoIngest

/// `current_usage` and `estimate_fees`: the sandbox plan charges every billable metric with a standard,
/// pay-in-advance charge of the subscription's `unitAmount` per unit.
extension LagoRoutes {
    struct Aggregate {
        var units: Decimal
        var eventsCount: Int
    }

    /// Aggregates events of one metric like Lago's Postgres store, over the events Lago bills
    /// (``BillingRule/bills(_:into:)``): `count_agg` counts them, `sum_agg` (and `weighted_sum_agg`, simplified)
    /// sums `properties[field_name]`, `max_agg` takes the maximum, `unique_count_agg` counts distinct values as
    /// `properties->>field_name` reads them, `latest_agg` takes the latest event's value. `events_count` counts
    /// the events billed.
    static func aggregate(_ metric: SandboxBillableMetric, events: [SandboxEvent]) -> Aggregate {
        let billed = events.filter { BillingRule.bills($0.properties, into: metric) }
        let field = metric.fieldName ?? ""
        func value(_ event: SandboxEvent) -> Decimal? {
            BillingRule.number(event.properties[field])?.foundationDecimal
        }
        let units: Decimal
        switch metric.aggregationType {
        case .countAgg:
            units = Decimal(billed.count)
        case .sumAgg, .weightedSumAgg:
            units = billed.compactMap(value).reduce(0, +)
        case .maxAgg:
            units = billed.compactMap(value).max() ?? 0
        case .uniqueCountAgg:
            units = Decimal(Set(billed.compactMap { $0.properties[field].flatMap(LagoPropertyText.text) }).count)
        case .latestAgg:
            let latest = billed.max { $0.timestampMicroseconds < $1.timestampMicroseconds }
            units = latest.flatMap(value) ?? 0
        }
        return Aggregate(units: units, eventsCount: billed.count)
    }

    /// Amount in cents, rounded half-up: `units × unitAmount × 100`, held to Lago's `bigint` range.
    static func amountCents(units: Decimal, unitAmount: String) -> (cents: Int64, precise: Decimal) {
        let price = LagoDecimal(bigDecimal: unitAmount)?.foundationDecimal ?? 0
        var precise = units * price * 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &precise, 0, .plain)
        if rounded >= Decimal(Int64.max) { return (.max, precise) }
        if rounded <= Decimal(Int64.min) { return (.min, precise) }
        return (NSDecimalNumber(decimal: rounded).int64Value, precise)
    }

    static func decimalString(_ decimal: Decimal) -> JSONOutput {
        .string(LagoDecimal(decimal).plainString)
    }

    func currentUsage(_ request: APIRequest, externalCustomerID: String) -> APIResponse {
        guard let customer = store.customer(externalID: externalCustomerID) else {
            return .notFound("customer_not_found")
        }
        let externalSubscriptionID = request.queryValue("external_subscription_id")
        guard
            let subscription = store.subscriptions.first(where: {
                $0.externalID == externalSubscriptionID && $0.externalCustomerID == customer.externalID
                    && $0.status == .active
            })
        else {
            return .methodNotAllowed("no_active_subscription")
        }
        let now = nowMicros
        let month = LagoTime.monthBounds(now)
        let from = max(month.start, subscription.startedAtMicroseconds)
        let events = store.events { event in
            event.externalSubscriptionID == subscription.externalID && event.timestampMicroseconds >= month.start
                && event.timestampMicroseconds <= month.end + 999_999
                && BillingRule.subscription(subscription, covers: event.timestampMicroseconds)
        }
        let eventsByCode = Dictionary(grouping: events, by: \.code)
        var total: Int64 = 0
        let charges: [JSONOutput] = store.metrics.map { metric in
            let aggregate = Self.aggregate(metric, events: eventsByCode[metric.code] ?? [])
            let amount = Self.amountCents(units: aggregate.units, unitAmount: subscription.unitAmount)
            let sum = total.addingReportingOverflow(amount.cents)
            total = sum.overflow ? (amount.cents > 0 ? .max : .min) : sum.partialValue
            return .object([
                ("units", Self.decimalString(aggregate.units)),
                ("total_aggregated_units", Self.decimalString(aggregate.units)),
                ("events_count", .int(aggregate.eventsCount)),
                ("amount_cents", .integer(amount.cents)),
                ("amount_currency", .string(subscription.currency)),
                ("pricing_unit_details", .null),
                (
                    "charge",
                    .object([
                        ("lago_id", .string(Serializers.chargeID(for: metric))),
                        ("charge_model", .string("standard")),
                        ("invoice_display_name", .null),
                    ])
                ),
                (
                    "billable_metric",
                    .object([
                        ("lago_id", .string(metric.lagoID)),
                        ("name", .string(metric.name)),
                        ("code", .string(metric.code)),
                        ("aggregation_type", .string(metric.aggregationType.rawValue)),
                    ])
                ),
                ("filters", .array([])),
                ("grouped_usage", .array([])),
                ("presentation_breakdowns", .array([])),
            ])
        }
        return .ok(
            .object([
                (
                    "customer_usage",
                    .object([
                        ("from_datetime", Serializers.iso(from)),
                        ("to_datetime", Serializers.iso(month.end)),
                        ("issuing_date", .string(LagoTime.isoDate(month.end + 1_000_000))),
                        ("currency", .string(subscription.currency)),
                        ("amount_cents", .integer(total)),
                        ("total_amount_cents", .integer(total)),
                        ("taxes_amount_cents", .integer(0)),
                        ("lago_invoice_id", .null),
                        ("charges_usage", .array(charges)),
                    ])
                )
            ])
        )
    }

    /// `POST /events/estimate_fees`: the pay-in-advance fee one event would create.
    func estimateFees(_ request: APIRequest) throws -> APIResponse {
        let params = try bodyParams(request)
        guard let input = required(params, "event") else { return .parameterMissing("event") }
        let externalSubscriptionID = EventValidation.castString(input["external_subscription_id"])
        guard
            let subscription = store.subscriptions.first(where: {
                $0.externalID == externalSubscriptionID && $0.status == .active
            })
        else {
            return .notFound("subscription_not_found")
        }
        guard let code = EventValidation.castString(input["code"]), let metric = store.metric(code: code) else {
            return .notFound("billable_metric_not_found")
        }
        if case .failure = EventValidation.timestamp(input["timestamp"], receivedAt: nowMicros) {
            return .validationError(field: "timestamp", code: "invalid_format")
        }
        let properties = input["properties"]?.objectValue ?? [:]
        var units = Decimal(1)
        switch metric.aggregationType {
        case .sumAgg, .maxAgg, .latestAgg, .weightedSumAgg:
            if let field = metric.fieldName, let raw = properties[field], raw != .null {
                guard let decimal = LagoDecimal(property: raw) else {
                    return .validationError(field: "properties", code: "value_is_not_valid_number")
                }
                units = decimal.foundationDecimal
            } else {
                units = 0
            }
        case .countAgg, .uniqueCountAgg:
            units = 1
        }
        let customer = store.customer(externalID: subscription.externalCustomerID)
        let amount = Self.amountCents(units: units, unitAmount: subscription.unitAmount)
        let preciseAmount = Self.decimalString(amount.precise)
        let fee: JSONOutput = .object([
            ("lago_id", .null),
            ("lago_charge_id", .string(Serializers.chargeID(for: metric))),
            ("lago_charge_filter_id", .null),
            ("lago_invoice_id", .null),
            ("lago_true_up_fee_id", .null),
            ("lago_true_up_parent_fee_id", .null),
            ("lago_subscription_id", .string(subscription.lagoID)),
            ("lago_customer_id", .string(customer?.lagoID)),
            ("external_customer_id", .string(subscription.externalCustomerID)),
            ("external_subscription_id", .string(subscription.externalID)),
            ("amount_cents", .integer(amount.cents)),
            ("precise_amount", preciseAmount),
            ("precise_total_amount", preciseAmount),
            ("amount_currency", .string(subscription.currency)),
            ("taxes_amount_cents", .integer(0)),
            ("taxes_precise_amount", .string("0.0")),
            ("taxes_rate", .number(0)),
            ("units", Self.decimalString(units)),
            ("precise_unit_amount", .string(LagoDecimal(bigDecimal: subscription.unitAmount)?.plainString ?? "0.0")),
            ("total_aggregated_units", Self.decimalString(units)),
            ("total_amount_cents", .integer(amount.cents)),
            ("total_amount_currency", .string(subscription.currency)),
            ("events_count", .integer(1)),
            ("pay_in_advance", .bool(true)),
            ("invoiceable", .bool(true)),
            ("from_date", .null),
            ("to_date", .null),
            ("payment_status", .string("pending")),
            ("created_at", .null),
            ("succeeded_at", .null),
            ("failed_at", .null),
            ("refunded_at", .null),
            ("event_transaction_id", .string(EventValidation.castString(input["transaction_id"]))),
            ("precise_coupons_amount_cents", .string("0.0")),
            ("sub_total_excluding_taxes_amount_cents", .integer(amount.cents)),
            ("sub_total_excluding_taxes_precise_amount_cents", preciseAmount),
            ("amount_details", .object([])),
            ("self_billed", .bool(false)),
            (
                "item",
                .object([
                    ("type", .string("charge")),
                    ("code", .string(metric.code)),
                    ("name", .string(metric.name)),
                    ("description", .string(metric.description)),
                    ("invoice_display_name", .string(metric.name)),
                    ("filter_invoice_display_name", .null),
                    ("filters", .null),
                    ("lago_item_id", .string(metric.lagoID)),
                    ("item_type", .string("BillableMetric")),
                    ("grouped_by", .object([])),
                ])
            ),
            ("applied_taxes", .array([])),
        ])
        return .ok(.object([("fees", .array([fee]))]))
    }
}
