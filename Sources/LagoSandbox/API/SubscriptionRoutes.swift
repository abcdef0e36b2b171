import Foundation
import LagoAPI
import LagoIngest

/// `POST /customers`, `POST /subscriptions` and `DELETE /subscriptions/{external_id}`, checked in the order and
/// answered in the shapes of Lago's `UpsertFromApiService`, `Subscriptions::CreateService` and `TerminateService`.
extension LagoRoutes {
    /// `POST /customers`: creates the customer with `external_id`, or updates the fields the request names.
    ///
    /// 422 `validation_errors` for a blank `external_id` (`value_is_mandatory`), a currency outside ISO 4217
    /// (`value_is_invalid`), a name over 255 characters (`value_is_too_long`), an unknown time zone
    /// (`invalid_timezone`) or an email that is not one (`invalid_email_format`), every failing field at once.
    func createCustomer(_ request: APIRequest) throws -> APIResponse {
        let params = try bodyParams(request)
        guard let input = required(params, "customer") else { return .parameterMissing("customer") }
        let externalID = EventValidation.castString(input["external_id"])
        var customer =
            externalID.flatMap { store.customer(externalID: $0) }
            ?? SandboxCustomer(externalID: externalID ?? "", currency: nil, createdAt: now())
        func update(_ key: String, _ field: WritableKeyPath<SandboxCustomer, String?>) {
            if input.keys.contains(key) { customer[keyPath: field] = EventValidation.castString(input[key]) }
        }
        update("name", \.name)
        update("email", \.email)
        update("currency", \.currency)
        update("timezone", \.timezone)

        var errors: [(String, JSONOutput)] = []
        func add(_ field: String, _ code: String) {
            errors.append((field, .array([.string(code)])))
        }
        if let currency = customer.currency, !Self.currencies.contains(currency) { add("currency", "value_is_invalid") }
        if let name = customer.name, name.count > 255 { add("name", "value_is_too_long") }
        if EventValidation.isBlank(externalID) { add("external_id", "value_is_mandatory") }
        if let timezone = customer.timezone, !Self.isTimeZone(timezone) { add("timezone", "invalid_timezone") }
        if let email = customer.email, !EventValidation.isBlank(email), !Self.isEmailList(email) {
            add("email", "invalid_email_format")
        }
        guard errors.isEmpty else { return .validationErrors(.object(errors)) }
        return .ok(.object([("customer", Serializers.customer(try store.upsert(customer)))]))
    }

    /// `POST /subscriptions`: assigns a plan to a customer, creating the customer when unknown (as Lago does, even
    /// when a later check refuses the subscription).
    ///
    /// Active from `subscription_at` (default now) when that falls on or before today in the customer's time zone,
    /// pending when it falls on a later day. 404 `plan_not_found` for an unknown or missing `plan_code`; 422 for
    /// an unreadable `subscription_at` (`invalid_date`), a blank `external_customer_id` or `external_id`
    /// (`value_is_mandatory`), an unknown `billing_time` (`value_is_invalid`), an `external_id` another
    /// customer's active subscription has (`value_already_exist`). The same subscription on the same plan again
    /// changes nothing; on another plan (an upgrade or downgrade, which the sandbox does not model) it is refused
    /// with `plan_code: sandbox_plan_change_unsupported_terminate_first`.
    func createSubscription(_ request: APIRequest) throws -> APIResponse {
        let params = try bodyParams(request)
        guard let input = required(params, "subscription") else { return .parameterMissing("subscription") }
        guard let planCode = EventValidation.castString(input["plan_code"]), let plan = store.plan(code: planCode)
        else { return .notFound("plan_not_found") }
        let receivedAt = nowMicros
        let subscriptionAt: Int64
        switch input["subscription_at"] {
        case nil, .null?: subscriptionAt = receivedAt
        case .string(let text)?:
            guard let parsed = LagoTime.parseISO8601(text) else {
                return .validationError(field: "subscription_at", code: "invalid_date")
            }
            subscriptionAt = parsed
        default: return .validationError(field: "subscription_at", code: "invalid_date")
        }
        let externalCustomerID = Self.stripped(input["external_customer_id"])
        guard !externalCustomerID.isEmpty else {
            return .validationError(field: "external_customer_id", code: "value_is_mandatory")
        }
        // Lago saves a new customer here, before it reads the subscription's own fields.
        let customer = try store.customer(
            creatingIfMissing: SandboxCustomer(
                externalID: externalCustomerID, currency: nil, createdAt: LagoTime.date(receivedAt)))
        let externalID = Self.stripped(input["external_id"])
        guard !externalID.isEmpty else { return .validationError(field: "external_id", code: "value_is_mandatory") }
        var billingTime = SandboxBillingTime.calendar
        if let text = EventValidation.castString(input["billing_time"]) {
            guard let value = SandboxBillingTime(rawValue: text) else {
                return .validationError(field: "billing_time", code: "value_is_invalid")
            }
            billingTime = value
        }
        let name = Self.stripped(input["name"])
        let startsLater =
            Self.day(of: subscriptionAt, in: customer.timezone) > Self.day(of: receivedAt, in: customer.timezone)
        let subscription = SandboxSubscription(
            externalID: externalID,
            externalCustomerID: externalCustomerID,
            planCode: plan.code,
            name: name.isEmpty ? nil : name,
            status: startsLater ? .pending : .active,
            billingTime: billingTime,
            startedAt: LagoTime.date(subscriptionAt),
            createdAt: LagoTime.date(receivedAt)
        )
        switch try store.create(subscription, customer: customer) {
        case .created(let stored, let customer), .unchanged(let stored, let customer):
            return .ok(
                .object([
                    ("subscription", Serializers.subscription(stored, customer: customer, now: receivedAt))
                ]))
        case .externalIDTaken:
            return .validationError(field: "external_id", code: "value_already_exist")
        case .planChange:
            return .validationError(field: "plan_code", code: "sandbox_plan_change_unsupported_terminate_first")
        }
    }

    /// `DELETE /subscriptions/{external_id}`: terminates the active subscription now, or with `status=pending`
    /// cancels the pending one; 404 `subscription_not_found` when there is none.
    func terminateSubscription(_ request: APIRequest, externalID: String) throws -> APIResponse {
        let status: SandboxSubscriptionStatus = request.queryValue("status") == "pending" ? .pending : .active
        let receivedAt = nowMicros
        guard let ended = try store.terminate(externalID: externalID, status: status, now: receivedAt) else {
            return .notFound("subscription_not_found")
        }
        let customer = store.customer(externalID: ended.externalCustomerID)
        return .ok(.object([("subscription", Serializers.subscription(ended, customer: customer, now: receivedAt))]))
    }

    // MARK: - Checks

    /// ISO 4217 currency codes.
    static let currencies = Set(Locale.Currency.isoCurrencies.map(\.identifier))

    /// `UTC` or a time zone identifier such as `Europe/Paris`.
    static func isTimeZone(_ identifier: String) -> Bool {
        identifier == "UTC" || (identifier.contains("/") && TimeZone(identifier: identifier) != nil)
    }

    /// Lago's email check, simplified: comma-separated addresses, each a local part without spaces, `@`, and a
    /// domain of dot-separated labels of letters, digits and inner hyphens.
    static func isEmailList(_ text: String) -> Bool {
        text.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { candidate in
            let address = candidate.trimmingCharacters(in: .whitespaces)
            let parts = address.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[0].contains(where: \.isWhitespace) else { return false }
            let labels = parts[1].lowercased().split(separator: ".", omittingEmptySubsequences: false)
            return labels.count >= 2
                && labels.allSatisfy { label in
                    !label.isEmpty && label.first != "-" && label.last != "-"
                        && label.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" }
                }
        }
    }

    /// A permitted parameter as Ruby's `to_s.strip`.
    static func stripped(_ value: JSONValue?) -> String {
        (EventValidation.castString(value) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The calendar day (`yyyymmdd`) of an instant in a time zone (UTC when nil or unknown).
    static func day(of microseconds: Int64, in timeZone: String?) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: LagoTime.date(microseconds))
        return (parts.year ?? 0) * 10_000 + (parts.month ?? 0) * 100 + (parts.day ?? 0)
    }
}

extension LagoRoutes {
    /// `POST /webhook_endpoints`: registers where webhooks go, `signature_algo` `jwt` (the default) or `hmac`.
    func createWebhookEndpoint(_ request: APIRequest) throws -> APIResponse {
        let params = try bodyParams(request)
        guard let input = required(params, "webhook_endpoint") else { return .parameterMissing("webhook_endpoint") }
        let algo = EventValidation.castString(input["signature_algo"])
        if let algo, algo != "jwt", algo != "hmac" {
            return .validationErrors(.object([("signature_algo", .array([.string("value_is_invalid")]))]))
        }
        guard let url = EventValidation.castString(input["webhook_url"]),
            let endpoint = webhooks.register(url: url, signatureAlgo: algo, now: now())
        else {
            return .validationErrors(.object([("webhook_url", .array([.string("url_is_invalid")]))]))
        }
        return .ok(.object([("webhook_endpoint", webhookEndpoint(endpoint))]))
    }

    /// Lago's `WebhookEndpointObject`.
    func webhookEndpoint(_ endpoint: SandboxWebhookEndpoint) -> JSONOutput {
        .object([
            ("lago_id", .string(endpoint.lagoID)),
            ("lago_organization_id", .string(webhooks.organizationID)),
            ("webhook_url", .string(endpoint.webhookURL)),
            ("signature_algo", .string(endpoint.signatureAlgo)),
            ("name", .null),
            ("event_types", .null),
            ("created_at", .string(LagoTime.iso8601(LagoTime.microseconds(endpoint.createdAt)))),
        ])
    }
}
