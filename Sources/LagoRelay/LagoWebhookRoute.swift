import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LagoEngine
import LagoIngest
import Logging

extension HTTPField.Name {
    static let lagoSignature = Self("X-Lago-Signature")!
    static let lagoSignatureAlgorithm = Self("X-Lago-Signature-Algorithm")!
    static let lagoUniqueKey = Self("X-Lago-Unique-Key")!
}

/// Reads the webhooks Lago sends about ingested events (`../shared/lago-api-facts.md` §8.2–8.3).
enum LagoWebhookBody {
    /// The events a webhook body names as not billed, with its type; `nil` for a body that is not a JSON object
    /// with a `webhook_type`. Webhooks of other types (invoices, customers…) name no event.
    static func read(_ body: [UInt8]) -> (type: String, events: [LagoReportedEvent])? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let type = object["webhook_type"] as? String
        else { return nil }
        switch type {
        case "events.errors":
            guard let errors = object["events_errors"] as? [String: Any] else { return (type, []) }
            var events: [LagoReportedEvent] = []
            for reason in errors.keys.sorted() {
                for case let id as String in errors[reason] as? [Any] ?? [] {
                    events.append(LagoReportedEvent(transactionID: id, reason: reason))
                }
            }
            return (type, events)
        case "event.error":
            guard let error = object["event_error"] as? [String: Any],
                let event = error["event"] as? [String: Any], let id = event["transaction_id"] as? String
            else { return (type, []) }
            return (
                type,
                [
                    LagoReportedEvent(
                        transactionID: id, externalSubscriptionID: event["external_subscription_id"] as? String,
                        reason: reason(of: error))
                ]
            )
        default:
            return (type, [])
        }
    }

    /// An `event.error`'s reason: the first error code of its `message` (`{"transaction_id":
    /// ["value_already_exist"]}`), else its `error` text.
    private static func reason(of error: [String: Any]) -> String {
        if let message = error["message"] as? String,
            let fields = try? JSONSerialization.jsonObject(with: Data(message.utf8)) as? [String: Any]
        {
            for field in fields.keys.sorted() {
                if let codes = fields[field] as? [Any], let code = codes.first as? String { return code }
            }
        }
        return (error["error"] as? String) ?? "event_error"
    }
}

extension RelayResponder {
    /// `POST /webhooks/lago`: a webhook signed by Lago is recorded once (by `X-Lago-Unique-Key`) and answered 200;
    /// an unsigned or wrongly signed one is answered 401 and nothing is recorded.
    func respondToWebhook(body: [UInt8], headers: HTTPFields, verifier: LagoWebhookVerifier) async -> Response {
        do {
            try await verifier.verify(
                body: body, algorithm: headers[.lagoSignatureAlgorithm], signature: headers[.lagoSignature])
        } catch {
            logger.warning("relay refused a Lago webhook (401)", metadata: ["reason": "\(error)"])
            return finishWebhook(status: 401, body: #"{"status":401,"error":"Unauthorized"}"#)
        }
        guard let read = LagoWebhookBody.read(body) else {
            return finishWebhook(
                status: 422, body: #"{"status":422,"error":"Unprocessable Entity","code":"not_a_lago_webhook"}"#)
        }
        let (type, events) = read
        guard !events.isEmpty || type == "events.errors" else {
            // Verified, about something else (invoices, customers…): acknowledged so Lago does not retry it.
            return finishWebhook(status: 200, body: #"{"recorded":0}"#)
        }
        // Lago always sends a unique key; without one, the body's hash stands for it (a resend is the same body).
        let uniqueKey =
            headers[.lagoUniqueKey].flatMap { $0.isEmpty ? nil : $0 }
            ?? "sha256:" + SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        do {
            let report = LagoWebhookReport(
                uniqueKey: uniqueKey, webhookType: type, events: events, receivedAt: options.now())
            switch try await engine.recordLagoWebhook(report) {
            case .recorded(let count):
                logger.info(
                    "Lago webhook recorded", metadata: ["type": "\(type)", "events": "\(count)", "key": "\(uniqueKey)"])
                return finishWebhook(status: 200, body: #"{"recorded":\#(count)}"#)
            case .replayed:
                logger.debug("Lago webhook replayed; ignored", metadata: ["key": "\(uniqueKey)"])
                return finishWebhook(status: 200, body: #"{"recorded":0,"replayed":true}"#)
            }
        } catch {
            logger.warning(
                "relay could not record a Lago webhook; answered 503 (Lago retries it)",
                metadata: ["cause": "\(SpoolWriteFailure.plainWords(error))"])
            return finishWebhook(status: 503, body: #"{"status":503,"error":"Service Unavailable"}"#)
        }
    }

    private func finishWebhook(status: Int, body: String) -> Response {
        metrics.requests(status: status).increment()
        return Self.response(LagoEventIngress.Response(status: status, body: Array(body.utf8)))
    }
}
