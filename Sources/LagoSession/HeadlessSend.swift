public import LagoAPI
public import LagoConfig
public import LagoEngine

/// What `lago-console send` does once its arguments are parsed: spool the events, deliver them unless a running
/// serve does (or `--no-wait`), and with `--wait` read each back from Lago by transaction id.
public struct HeadlessSend: Sendable {
    /// What to send.
    public enum Events: Sendable {
        /// One raw Lago event.
        case raw(EventInput)
        /// Canonical usage, one event per non-zero field under the engine's mapping.
        case usage(UsageRecord)
    }

    /// When the command delivers.
    public enum Delivery: Sendable {
        /// Flush and read every event back from Lago (`--wait`).
        case waitAndVerify
        /// Flush unless a serve delivers (the default).
        case deliverUnlessServe
        /// Only spool (`--no-wait`).
        case spoolOnly
    }

    /// What happened, as `send --json` prints it.
    public struct Report: Encodable, Sendable {
        /// The events' transaction ids.
        public var transactionIDs: [String]
        /// Delivered by this command's flush (`nil`: no flush).
        public var delivered: Int?
        /// Left spooled after the flush.
        public var pending: Int?
        /// Dead-lettered during the flush.
        public var dead: Int?
        /// Per transaction id: `in Lago at <timestamp>` or `not found: <why>` (`--wait` only).
        public var verified: [String: String]?
        /// The spool the events went to.
        public var spool: String
        /// The pid of the `lago-console serve` that delivers them, when one runs.
        public var servePID: Int32?

        /// Whether events stay spooled or were dead-lettered.
        public var stuck: Bool { (pending ?? 0) > 0 || (dead ?? 0) > 0 }

        /// Whether every event was read back from Lago.
        public var allVerified: Bool { verified.map { !$0.values.contains { !$0.hasPrefix("in Lago") } } ?? false }

        /// The lines for a person: one per event with its state, then the flush's figures.
        public var lines: [String] {
            let state =
                if let servePID, delivered == nil { "queued: serve pid \(servePID) delivers it" }
                else if delivered == nil { "spooled (not delivered: --no-wait)" }
                else if stuck { "spooled" } else { "delivered" }
            var lines = transactionIDs.map { "\($0)  \(verified?[$0] ?? state)" }
            if let delivered {
                lines.append("flushed: delivered \(delivered) · pending \(pending ?? 0) · dead \(dead ?? 0)")
            }
            return lines
        }

        /// What goes to standard error: events left spooled after `timeoutSeconds`, dead letters.
        public func warnings(timeoutSeconds: Int) -> [String] {
            var warnings: [String] = []
            if let pending, pending > 0 {
                warnings.append(
                    "\(pending) event(s) stay spooled in \(spool) after \(timeoutSeconds) s; `lago-console serve` or "
                        + "the console delivers them (`lago-console status` shows why they wait)")
            }
            if let dead, dead > 0 {
                warnings.append("\(dead) event(s) dead-lettered: `lago-console dead-letters list` shows Lago's reason")
            }
            return warnings
        }
    }

    /// The events.
    public var events: Events
    /// When to deliver.
    public var delivery: Delivery
    /// How long the flush may take.
    public var timeout: Duration

    /// Creates a send.
    public init(events: Events, delivery: Delivery, timeout: Duration) {
        self.events = events
        self.delivery = delivery
        self.timeout = timeout
    }

    /// Runs it on `session`.
    /// - Throws: ``SendRefused`` when the engine refuses the events (nothing was spooled); the flush's errors.
    public func run(on session: EngineSession) async throws -> Report {
        let engine = session.control
        var report: Report
        do {
            switch events {
            case .raw(let input):
                report = Report(transactionIDs: [try await engine.enqueue(input)], spool: session.spoolPath)
            case .usage(let record):
                report = Report(transactionIDs: try await engine.enqueue(record), spool: session.spoolPath)
            }
        } catch {
            throw SendRefused(underlying: error)
        }
        report.servePID = session.serve?.pid
        switch delivery {
        case .spoolOnly: return report
        // serve delivers what it spools; without it, nobody else would: this command delivers.
        case .deliverUnlessServe where session.serve != nil: return report
        default: break
        }
        let flushed = try await engine.flush(deadline: timeout)
        report.delivered = flushed.delivered
        report.pending = flushed.pending
        report.dead = flushed.dead
        guard case .waitAndVerify = delivery else { return report }
        var verified: [String: String] = [:]
        for id in report.transactionIDs {
            do {
                let stored = try await session.client.event(transactionID: id)
                verified[id] = "in Lago at \(stored.timestamp)"
            } catch {
                verified[id] = "not found: \(error)"
            }
        }
        report.verified = verified
        return report
    }
}

/// The engine refused to spool the events of a send (invalid, spool full); nothing was spooled.
public struct SendRefused: Error, CustomStringConvertible {
    /// What the engine threw.
    public var underlying: any Error

    /// The engine's message.
    public var description: String { "\(underlying)" }
}
