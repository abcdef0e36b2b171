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

    /// Aggregates events of one metric like Lago's Postgres aggregations: `count_agg` counts, `sum_agg` (and
    /// `weighted_sum_agg`, simplified) sums `properties[field_name]`, `max_agg` takes the maximum,
    /// `unique_count_agg` counts distinct values, `latest_agg` takes the latest event's value. Values that are not
    /// numbers or numeric strings are skipped.
    static func aggregate(_ metric: SandboxBillableMetric, events: [SandboxEvent]) -> Aggregate {
        func value(_ event: SandboxEvent) -> Decimal? {
            guard let field = metric.fieldName, let raw = event.properties[field],
                let decimal = LagoDecimal(property: raw)
            else { return nil }
            return decimal.foundationDecimal
        }
        switch metric.aggregationType {
        case .countAgg:
            return Aggregate(units: Decimal(events.count), eventsCount: events.count)
        case .sumAgg, .weightedSumAgg:
            return Aggregate(units: events.compactMap(value).reduce(0, +), eventsCount: events.count)
        case .maxAgg:
            return Aggregate(units: events.compactMap(value).max() ?? 0, eventsCount: events.count)
        case .uniqueCountAgg:
            let field = metric.fieldName ?? ""
            let distinct = Set(events.compactMap { $0.properties[field]?.jsonText })
            return Aggregate(units: Decimal(distinct.count), eventsCount: events.count)
        case .latestAgg:
            let latest = events.max { $0.timestampMicroseconds < $1.timestampMicroseconds }
            return Aggregate(units: latest.flatMap(value) ?? 0, eventsCount: events.count)
        }
    }

    /// Amount in cents, rounded half-up: `units × unitAmount × 100`.
    static func amountCents(units: Decimal, unitAmount: String) -> (cents: Int64, precise: Decimal) {
        let price = LagoDecimal(bigDecimal: unitAmount)?.foundationDecimal ?? 0
        var precise = units * price * 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &precise, 0, .plain)
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
            event.externalSubscriptionID == subscription.externalID && event.timestampMicroseconds >= from
                && event.timestampMicroseconds <= month.end + 999_999
        }
        let eventsByCode = Dictionary(grouping: events, by: \.code)
        var total: Int64 = 0
        let charges: [JSONOutput] = store.metrics.map { metric in
            let aggregate = Self.aggregate(metric, events: eventsByCode[metric.code] ?? [])
            let amount = Self.amountCents(units: aggregate.units, unitAmount: subscription.unitAmount)
            total += amount.cents
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
