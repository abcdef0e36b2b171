import Foundation
import LagoAPI
import LagoIngest

/// Lago's `V1::*Serializer` output for the sandbox's records, keys in Lago's order.
enum Serializers {
    static func iso(_ microseconds: Int64) -> JSONOutput {
        .string(LagoTime.iso8601(microseconds))
    }

    static func isoMilliseconds(_ microseconds: Int64) -> JSONOutput {
        .string(LagoTime.iso8601(microseconds, fractionDigits: 3))
    }

    /// `V1::EventSerializer` (Postgres store): legacy customer/subscription ids are always null.
    static func event(_ event: SandboxEvent) -> JSONOutput {
        LagoEventIngress.serializedEvent(
            lagoID: event.lagoID, transactionID: event.transactionID, code: event.code,
            timestampMicroseconds: event.timestampMicroseconds, preciseTotalAmountCents: event.preciseTotalAmountCents,
            properties: event.properties, externalSubscriptionID: event.externalSubscriptionID,
            createdAtMicroseconds: event.createdAtMicroseconds)
    }

    /// `V1::BillableMetricSerializer`; the list adds the deprecated counters (always 0).
    static func billableMetric(_ metric: SandboxBillableMetric, counters: Bool) -> JSONOutput {
        var members: [(String, JSONOutput)] = [
            ("lago_id", .string(metric.lagoID)),
            ("name", .string(metric.name)),
            ("code", .string(metric.code)),
            ("description", .string(metric.description)),
            ("aggregation_type", .string(metric.aggregationType.rawValue)),
            ("weighted_interval", .string(metric.weightedInterval)),
            ("recurring", .bool(metric.recurring)),
            ("rounding_function", .string(metric.roundingFunction)),
            ("rounding_precision", metric.roundingPrecision.map { .int($0) } ?? .null),
            ("created_at", iso(metric.createdAtMicroseconds)),
            ("field_name", .string(metric.fieldName)),
            ("expression", .string(metric.expression)),
        ]
        if counters {
            members += [
                ("active_subscriptions_count", .integer(0)),
                ("draft_invoices_count", .integer(0)),
                ("plans_count", .integer(0)),
            ]
        }
        members.append(
            (
                "filters",
                .array(
                    metric.filters.map {
                        .object([("key", .string($0.key)), ("values", .array($0.values.map { .string($0) }))])
                    }
                )
            )
        )
        return .object(members)
    }

    /// `V1::CustomerSerializer` (core keys, no integrations).
    static func customer(_ customer: SandboxCustomer) -> JSONOutput {
        .object([
            ("lago_id", .string(customer.lagoID)),
            ("billing_entity_code", .string("default")),
            ("external_id", .string(customer.externalID)),
            ("account_type", .string("customer")),
            ("name", .string(customer.name)),
            ("firstname", .null),
            ("lastname", .null),
            ("customer_type", .null),
            ("sequential_id", .int(customer.sequentialID)),
            ("slug", .string("SBX-\(String(format: "%03d", customer.sequentialID))")),
            ("created_at", iso(customer.createdAtMicroseconds)),
            ("updated_at", iso(customer.createdAtMicroseconds)),
            ("country", .null),
            ("address_line1", .null),
            ("address_line2", .null),
            ("state", .null),
            ("zipcode", .null),
            ("email", .string(customer.email)),
            ("city", .null),
            ("url", .null),
            ("phone", .null),
            ("logo_url", .null),
            ("legal_name", .null),
            ("legal_number", .null),
            ("currency", .string(customer.currency)),
            ("tax_identification_number", .null),
            ("timezone", .string(customer.timezone)),
            ("applicable_timezone", .string(customer.timezone ?? "UTC")),
            ("net_payment_term", .null),
            ("external_salesforce_id", .null),
            ("finalize_zero_amount_invoice", .string("inherit")),
            ("skip_invoice_custom_sections", .bool(false)),
            (
                "billing_configuration",
                .object([("invoice_grace_period", .integer(0)), ("document_locale", .string("en"))])
            ),
            (
                "shipping_address",
                .object([
                    ("address_line1", .null), ("address_line2", .null), ("city", .null), ("zipcode", .null),
                    ("state", .null), ("country", .null),
                ])
            ),
            ("metadata", .array([])),
            ("taxes", .array([])),
            ("integration_customers", .array([])),
        ])
    }

    /// `V1::SubscriptionSerializer`.
    static func subscription(_ subscription: SandboxSubscription, customer: SandboxCustomer?, now: Int64) -> JSONOutput
    {
        let period = LagoTime.monthBounds(now)
        let isActive = subscription.status == .active
        let terminatedAt = subscription.terminatedAtMicroseconds.map(iso) ?? .null
        let canceledAt = subscription.canceledAtMicroseconds.map(iso) ?? .null
        // A canceled subscription was pending: it never started.
        let started = subscription.status != .pending && subscription.status != .canceled
        let startedAt: JSONOutput = started ? isoMilliseconds(subscription.startedAtMicroseconds) : .null
        return .object([
            ("lago_id", .string(subscription.lagoID)),
            ("external_id", .string(subscription.externalID)),
            ("lago_customer_id", .string(customer?.lagoID)),
            ("external_customer_id", .string(subscription.externalCustomerID)),
            ("name", .string(subscription.name)),
            ("plan_code", .string(subscription.planCode)),
            ("plan_amount_cents", .integer(0)),
            ("plan_amount_currency", .string(subscription.currency)),
            ("status", .string(subscription.status.rawValue)),
            ("billing_time", .string(subscription.billingTime.rawValue)),
            ("subscription_at", iso(subscription.startedAtMicroseconds)),
            ("started_at", startedAt),
            ("trial_ended_at", .null),
            ("ending_at", .null),
            ("terminated_at", terminatedAt),
            ("canceled_at", canceledAt),
            ("created_at", iso(subscription.createdAtMicroseconds)),
            ("previous_plan_code", .null),
            ("next_plan_code", .null),
            ("downgrade_plan_date", .null),
            ("current_billing_period_started_at", isActive ? iso(period.start) : .null),
            ("current_billing_period_ending_at", isActive ? iso(period.end) : .null),
            ("on_termination_credit_note", .null),
            ("on_termination_invoice", .string("generate")),
            ("progressive_billing_disabled", .bool(false)),
            ("consolidate_invoice", .bool(false)),
            ("purchase_order_number", .null),
            ("cancellation_reason", .null),
            ("activated_at", started ? iso(subscription.startedAtMicroseconds) : .null),
            ("payment_method", .object([("payment_method_type", .string("provider")), ("payment_method_id", .null)])),
            ("activation_rules", .array([])),
        ])
    }

    /// Lago's pagination `meta` (§4): zeroed when empty; `prev_page` stays set past the end.
    static func meta(page: Int, perPage: Int, totalCount: Int) -> JSONOutput {
        guard totalCount > 0 else {
            return .object([
                ("current_page", .integer(0)), ("next_page", .null), ("prev_page", .null),
                ("total_pages", .integer(0)), ("total_count", .integer(0)),
            ])
        }
        let totalPages = (totalCount + perPage - 1) / perPage
        return .object([
            ("current_page", .int(page)),
            ("next_page", page < totalPages ? .int(page + 1) : .null),
            ("prev_page", page > 1 ? .int(page - 1) : .null),
            ("total_pages", .int(totalPages)),
            ("total_count", .int(totalCount)),
        ])
    }

    /// A stable charge id for a metric in the sandbox plan: the metric's UUID with every hex digit inverted.
    static func chargeID(for metric: SandboxBillableMetric) -> String {
        String(
            metric.lagoID.map { character -> Character in
                guard let value = character.hexDigitValue else { return character }
                return Character(String(15 - value, radix: 16))
            }
        )
    }
}
