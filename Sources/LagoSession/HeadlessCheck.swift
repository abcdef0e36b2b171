public import Foundation
import LagoAPI
public import LagoBilling

/// `lago-console check`: whether the configured Lago will bill each event, and why not.
public enum HeadlessCheck {
    /// One event's verdict, as `check --json` prints it.
    public struct Checked: Encodable, Sendable {
        /// Where the event came from: `--event`, or the file and its line.
        public var source: String
        /// The event's `transaction_id`.
        public var transactionID: String
        /// The event's metric code.
        public var code: String
        /// The subscription it names.
        public var externalSubscriptionID: String?
        /// The customer it names (Lago drops the field).
        public var externalCustomerID: String?
        /// Billable or not.
        public var status: BillingVerdict.Status
        /// Every reason it will not bill.
        public var reasons: [BillingReason]
        /// The subscription found from the customer for an event naming only `external_customer_id`.
        public var resolvedSubscriptionID: String?
        /// One sentence per reason.
        public var explanations: [String]

        enum CodingKeys: String, CodingKey {
            case source, code, status, reasons, explanations
            case transactionID = "transaction_id"
            case externalSubscriptionID = "external_subscription_id"
            case externalCustomerID = "external_customer_id"
            case resolvedSubscriptionID = "resolved_subscription_id"
        }
    }

    /// What `check` prints: every event's verdict and the catalogue they were checked against.
    public struct Report: Encodable, Sendable {
        /// Each event's verdict, in the order given.
        public var events: [Checked]
        /// Events Lago will bill.
        public var billable: Int
        /// Events Lago will accept and not bill.
        public var unbillable: Int
        /// When the catalogue was read, and how much it held.
        public var catalogue: BillingCatalogueStatus

        /// The text form: a line per event, then a line per reason explaining it.
        public var lines: [String] {
            var lines: [String] = []
            for event in events {
                let head =
                    "\(event.source)  \(event.transactionID)  \(event.code) → "
                    + (event.externalSubscriptionID ?? "no subscription")
                switch event.status {
                case .billable: lines.append("✔ billable    \(head)")
                case .unchecked: lines.append("? unchecked   \(head)")
                case .unbillable:
                    lines.append("⚠ unbillable  \(head): \(event.reasons.map(\.rawValue).joined(separator: ", "))")
                    lines += event.explanations.map { "      \($0)" }
                    if let resolved = event.resolvedSubscriptionID, event.externalSubscriptionID == nil {
                        lines.append(
                            "      Customer \(event.externalCustomerID ?? "")'s only active subscription is \(resolved): "
                                + "send it as external_subscription_id.")
                    }
                }
            }
            lines.append(
                "\(billable) billable, \(unbillable) unbillable (catalogue: \(catalogue.metrics) billable metrics, "
                    + "\(catalogue.subscriptions) subscriptions)")
            return lines
        }
    }

    /// An argument or a line of the file that is not a Lago event.
    public struct InputProblem: Error, CustomStringConvertible {
        /// What is wrong, naming the argument or the file and line.
        public let description: String
    }

    /// An event to check, with where it came from.
    public struct Input: Sendable {
        /// `--event`, or the file and its line.
        public var source: String
        /// The event as the check reads it.
        public var event: BillingEvent
    }

    /// The events of `--event JSON` and of `--file` (one JSON document a line; blank lines skipped). Each document
    /// is an event object, `{"event": {…}}` (`POST /events`) or `{"events": […]}` (`POST /events/batch`). An event
    /// without a timestamp is checked at `now`, as Lago would stamp it.
    /// - Throws: ``InputProblem`` naming `--event`, or the file and line.
    public static func inputs(
        eventJSON: String?, fileText: String?, fileName: String = "--file", now: Date = Date()
    ) throws -> [Input] {
        var inputs: [Input] = []
        if let eventJSON {
            inputs += try events(in: eventJSON, source: "--event", now: now)
        }
        if let fileText {
            for (index, line) in fileText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let text = line.trimmingCharacters(in: .whitespaces)
                guard !text.isEmpty else { continue }
                inputs += try events(in: text, source: "\(fileName):\(index + 1)", now: now)
            }
        }
        guard !inputs.isEmpty else { throw InputProblem(description: "give --event JSON or --file events.ndjson") }
        return inputs
    }

    /// The text of `--file PATH` (`-`: standard input, read to its end).
    /// - Throws: ``InputProblem`` naming the file when it cannot be read.
    public static func readFile(_ path: String) throws -> String {
        if path == "-" { return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputProblem(description: "--file \(path): no such file")
        }
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw InputProblem(
                description: "--file \(path): cannot be read as UTF-8 text (\(error.localizedDescription))")
        }
    }

    /// Checks `inputs` against `catalogue`.
    public static func report(_ inputs: [Input], catalogue: BillingCatalogue) -> Report {
        let checked = inputs.map { input -> Checked in
            let verdict = BillingCheck.check(input.event, against: catalogue)
            return Checked(
                source: input.source, transactionID: input.event.transactionID, code: input.event.code,
                externalSubscriptionID: input.event.externalSubscriptionID,
                externalCustomerID: input.event.externalCustomerID, status: verdict.status, reasons: verdict.reasons,
                resolvedSubscriptionID: verdict.resolvedSubscriptionID, explanations: verdict.reasons.map(\.explanation)
            )
        }
        return Report(
            events: checked, billable: checked.filter { $0.status == .billable }.count,
            unbillable: checked.filter { $0.status == .unbillable }.count, catalogue: BillingCatalogueStatus(catalogue))
    }

    private struct Identity: Decodable {
        var externalCustomerID: String?
        enum CodingKeys: String, CodingKey { case externalCustomerID = "external_customer_id" }
    }

    private static func events(in text: String, source: String, now: Date) throws -> [Input] {
        let data = Data(text.utf8)
        let document: JSONValue
        do {
            document = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw InputProblem(description: "\(source): not JSON (check its quotes, commas and braces)")
        }
        return try EventDocument.parts(of: document, place: source).parts.map { object, place in
            guard case .object = object else { throw InputProblem(description: "\(place): not a JSON object") }
            let encoded = Data(object.jsonText.utf8)
            do {
                let input = try JSONDecoder().decode(EventInput.self, from: encoded)
                let identity = try JSONDecoder().decode(Identity.self, from: encoded)
                return Input(
                    source: place,
                    event: BillingEvent(input, externalCustomerID: identity.externalCustomerID, acceptedAt: now))
            } catch {
                throw InputProblem(description: "\(place): not a Lago event (\(Self.describe(error)))")
            }
        }
    }

    /// A decoding error in a person's words: the field and what was wrong with it.
    static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".").nonEmpty ?? "the event"
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "\(key.stringValue) is missing"
        case .typeMismatch(let type, let context)?: return "\(path(context)): must be \(typeWords(type))"
        case .valueNotFound(let type, let context)?: return "\(path(context)): must be \(typeWords(type)), not null"
        case .dataCorrupted(let context)?:
            let words = context.debugDescription.replacingOccurrences(of: "The given data", with: "it")
            let field = path(context)
            return words.hasPrefix(field) ? words : "\(field): \(words)"
        default: return "\(error)"
        }
    }

    /// `a string`, `a number`… for the type a decoder expected.
    private static func typeWords(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        case is [Any].Type: "an array"
        default: String(describing: type).hasPrefix("Dictionary") ? "an object" : "a JSON value of another type"
        }
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
