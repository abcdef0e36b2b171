import LagoAPI

/// What one request's result means for each event of its batch. Pure: no I/O, tested on its own.
struct BatchOutcome: Sendable {
    /// Stored by Lago now.
    var delivered: [SpoolRow] = []
    /// Lago answered `value_already_exist` for events an earlier, unanswered try had sent: they may be in Lago (the
    /// engine asks Lago what it holds before it settles them so; a different event there makes a dead letter).
    var alreadyInLago: [SpoolRow] = []
    /// Taken out of delivery with their reason.
    var dead: [(row: SpoolRow, reason: DeadLetterReason)] = []
    /// Lago stored nothing of the batch but did not object to these: send them again at once.
    var resend: [SpoolRow] = []
    /// Send each of these alone, at once (a request-level refusal of a batch of several events).
    var split: [SpoolRow] = []
    /// Send these as separate batches, at once (a 413: the request was too large, the events are fine).
    var halves: [[SpoolRow]] = []
    /// Try the whole batch again later.
    var retry: Retry?
    /// Stop sending until the operator acts or a probe gets through (the batch is kept).
    var hold: Hold?
    /// Lago answered with something other than "try later": the endpoint is reachable and healthy.
    var serverAnswered = false
    /// The error, for stats and logs.
    var error: String?
    /// The HTTP status Lago answered, if it answered.
    var httpStatus: Int?
    /// Lago's answer in its words (`HTTP 200` on success), or the transport failure: shown per event.
    var answer: String?
    /// The request as the concurrency limit and the rate-limit pacing see it (`nil`: no request went out).
    var exchange: Exchange?

    /// One request's round trip and what it says about Lago's load.
    struct Exchange: Sendable, Hashable {
        /// From sending to the end of the answer (or the failure).
        var latency: Duration
        /// Lago took the request (2xx): the round trip is a sample of its speed.
        var succeeded: Bool
        /// Lago pushed back: 429, a 5xx other than 501, or a timeout.
        var backPressure: Bool
        /// The rate-limit headers of the answer (empty when it had none or there was no answer).
        var rateLimit = RateLimitHeaders()

        /// The exchange of a request that ended with `error` (`nil`: a 2xx answer) after `latency`.
        init(latency: Duration, error: (any Error)?, rateLimit: RateLimitHeaders? = nil) {
            self.latency = latency
            self.succeeded = error == nil
            let apiError = error as? LagoAPIError
            self.backPressure = apiError.map(Self.isBackPressure) ?? false
            self.rateLimit = rateLimit ?? apiError?.rateLimit ?? RateLimitHeaders()
        }

        /// 429, a 5xx other than 501 (not implemented is no load), or a timeout.
        static func isBackPressure(_ error: LagoAPIError) -> Bool {
            if error.kind == .timeout { return true }
            guard let status = error.status else { return false }
            return status == 429 || ((500...599).contains(status) && status != 501)
        }
    }

    /// Why sending stops.
    struct Hold: Sendable, Hashable {
        enum Kind: Sendable, Hashable {
            /// 401/403: the API key.
            case auth
            /// 404: the URL does not lead to Lago's events route.
            case wrongURL
        }
        var kind: Kind
        var reason: String
    }

    struct Retry: Sendable, Hashable {
        var suggestedDelay: Duration?
        var reason: String
        /// Lago answered 429: it is up, and its window is full.
        var rateLimited = false
    }

    /// Rows this outcome takes out of the spool.
    var settledCount: Int { delivered.count + alreadyInLago.count + dead.count }

    /// Classifies a request result.
    ///
    /// - Parameters:
    ///   - rows: the batch, in request order; `attempts` already counts this request.
    ///   - error: `nil` for a 2xx answer.
    ///   - isolated: the batch is one event split out of a refused batch (a second refusal is final).
    static func classify(rows: [SpoolRow], error: (any Error)?, isolated: Bool) -> BatchOutcome {
        var outcome = BatchOutcome()
        guard let error else {
            outcome.delivered = rows
            outcome.serverAnswered = true
            return outcome
        }
        guard let apiError = error as? LagoAPIError else {
            // Cancelled or an unexpected failure: the request may or may not have reached Lago.
            outcome.retry = Retry(suggestedDelay: nil, reason: "\(error)")
            outcome.error = "\(error)"
            return outcome
        }
        outcome.error = apiError.description
        switch apiError.disposition(eventCount: rows.count) {
        case .delivered:
            outcome.delivered = rows
            outcome.serverAnswered = true
        case .retryLater(let suggestedDelay):
            outcome.retry = Retry(
                suggestedDelay: suggestedDelay, reason: retryReason(apiError), rateLimited: apiError.status == 429)
        case .hold:
            outcome.hold = Hold(kind: .auth, reason: apiError.description)
        case .holdWrongURL:
            outcome.hold = Hold(
                kind: .wrongURL,
                reason: apiError.description + " (no Lago events route at this URL: check lago.api_url)")
        case .tooLarge:
            outcome.serverAnswered = true
            if rows.count > 1 {
                let middle = rows.count / 2
                outcome.halves = [Array(rows[..<middle]), Array(rows[middle...])]
            } else {
                let reason = deadReason(apiError, details: apiError.errorDetails, kind: .tooLarge)
                outcome.dead = rows.map { ($0, reason) }
            }
        case .rejected(let byIndex) where !byIndex.isEmpty:
            outcome.serverAnswered = true
            for (index, row) in rows.enumerated() {
                guard let reason = byIndex[index] else {
                    outcome.resend.append(row)
                    continue
                }
                if LagoAPIError.isDuplicateReason(reason) && row.attempts >= 2 {
                    outcome.alreadyInLago.append(row)
                } else {
                    outcome.dead.append((row, deadReason(apiError, details: reason, kind: .rejected)))
                }
            }
        case .rejected, .callerBug:
            outcome.serverAnswered = apiError.status != nil
            if rows.count > 1 && !isolated {
                outcome.split = rows
            } else {
                let reason = deadReason(apiError, details: apiError.errorDetails, kind: .requestRefused)
                outcome.dead = rows.map { ($0, reason) }
            }
        }
        return outcome
    }

    static func retryReason(_ error: LagoAPIError) -> String {
        if let status = error.status {
            var text = "HTTP \(status)"
            if let code = error.code { text += " \(code)" }
            if let delay = error.rateLimit.suggestedDelay { text += ", server asked to wait \(delay)" }
            return text
        }
        return "\(error.kind): \(error.detail ?? "")"
    }

    static func deadReason(_ error: LagoAPIError, details: JSONValue?, kind: DeadLetterReason.Kind) -> DeadLetterReason
    {
        var message = error.status.map { "HTTP \($0)" } ?? "\(error.kind)"
        if let code = error.code { message += " \(code)" }
        if let details {
            message += ": " + (details.stringValue ?? details.jsonText)
        } else if let detail = error.detail {
            message += ": " + detail
        }
        return DeadLetterReason(
            kind: kind, status: error.status, code: error.code, error: error.error, details: details, message: message)
    }
}
