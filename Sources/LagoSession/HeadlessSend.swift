import Foundation
public import LagoAPI
import LagoConfig
import LagoEngine
public import LagoUsage

/// What `lago-console send` does once its arguments are parsed: spool the events, deliver them unless a running
/// serve does (or `--no-wait`), and with `--wait` read each back from Lago by transaction id.
public struct HeadlessSend: Sendable {
    /// What to send.
    public enum Events: Sendable {
        /// One raw Lago event.
        case raw(EventInput)
        /// Canonical usage, one event per non-zero field under the engine's mapping.
        case usage(UsageRecord)
        /// The events and usage records of a file (`send --file`), in its order, every line checked first.
        case file([FileItem])
    }

    /// One event or usage record of a file, with its place (`events.ndjson:3`).
    public enum FileItem: Sendable {
        /// A Lago event.
        case event(EventInput, source: String)
        /// A usage record in the Agent SDK's shape.
        case usage(UsageRecord, source: String)
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
        // Lago's snake_case names in --json and on the control API.
        enum CodingKeys: String, CodingKey {
            case delivered, pending, dead, verified, spool
            case transactionIDs = "transaction_ids"
            case servePID = "serve_pid"
            case holder
        }

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
        /// The pid of the `lago-console serve` (or console, ``holder``) that delivers them, when one runs.
        public var servePID: Int32?
        /// What delivers them when ``servePID`` is set: `serve`, or `console` (a console with its own engine).
        public var holder: String?

        /// The most events listed one a line; more are counted (`send --file`).
        static let maxListedEvents = 20

        /// Whether events stay spooled or were dead-lettered.
        public var stuck: Bool { (pending ?? 0) > 0 || (dead ?? 0) > 0 }

        /// Whether every event was read back from Lago.
        public var allVerified: Bool { verified.map { !$0.values.contains { !$0.hasPrefix("in Lago") } } ?? false }

        /// The lines for a person: one per event with its state, then the flush's figures.
        public var lines: [String] {
            let state =
                if let servePID, delivered == nil {
                    "queued: \(holder ?? "serve") pid \(servePID) delivers it"
                } else if delivered == nil { "spooled (not delivered: --no-wait)" } else if stuck { "spooled" } else {
                    "delivered"
                }
            var lines: [String]
            if transactionIDs.count > Self.maxListedEvents && verified == nil {
                // A file of events: the count, not a line each (`--json` lists every id).
                lines = ["\(transactionIDs.count) events  \(state)"]
            } else {
                lines = transactionIDs.map { "\($0)  \(verified?[$0] ?? state)" }
            }
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
        // A local engine checks what it accepts: with Lago's catalogue read first, the event is checked, not
        // `unchecked` (bounded: a slow Lago only leaves it unchecked).
        _ = await session.billing?.firstLoad(timeout: .seconds(5))
        var report: Report
        do {
            switch events {
            case .raw(let input):
                report = Report(transactionIDs: [try await engine.enqueue(input)], spool: session.spoolPath)
            case .usage(let record):
                report = Report(transactionIDs: try await engine.enqueue(record), spool: session.spoolPath)
            case .file(let items):
                report = Report(transactionIDs: try await Self.enqueue(items, on: engine), spool: session.spoolPath)
            }
        } catch {
            throw SendRefused(underlying: error)
        }
        report.servePID = session.serve?.pid
        report.holder = session.serve?.holderName
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

extension HeadlessSend {
    /// Events are spooled this many at a time (each group one durable commit, acknowledged before the next).
    static let fileChunk = 1_000

    /// Spools a file's items in order: consecutive events in groups of ``fileChunk``, usage records one by one
    /// (each becomes its events under the engine's mapping).
    static func enqueue(_ items: [FileItem], on engine: any EngineControl) async throws -> [String] {
        var ids: [String] = []
        var pending: [EventInput] = []
        func spoolPending() async throws {
            guard !pending.isEmpty else { return }
            ids += try await engine.enqueue(pending)
            pending.removeAll(keepingCapacity: true)
        }
        for item in items {
            switch item {
            case .event(let event, _):
                pending.append(event)
                if pending.count >= fileChunk { try await spoolPending() }
            case .usage(let record, _):
                try await spoolPending()
                ids += try await engine.enqueue(record)
            }
        }
        try await spoolPending()
        return ids
    }

    /// The most problems one refusal of a file lists.
    static let maxListedProblems = 20

    /// The items of a file of events (`send --file`): one JSON document a line (blank lines skipped), each a Lago
    /// event, `{"event": …}`, `{"events": […]}`, a usage record in the Agent SDK's shape (no `code`) or
    /// `{"records": […]}`. Every line is checked before anything is spooled, as Lago's own CLI does: an event
    /// needs a `transaction_id` (so that sending the file again bills nothing twice) and a valid code; the same
    /// transaction id (or record `id`) twice in the file is refused, naming both lines. Events and records without
    /// a subscription get `subscription`, else the engine's default.
    /// - Throws: ``InputProblem`` listing every line at fault (the first ``maxListedProblems``) with its number.
    public static func fileItems(
        text: String, fileName: String, subscription: String?, defaultSubscription: String?
    ) throws -> [FileItem] {
        var items: [FileItem] = []
        var problems: [String] = []
        var seenTransactions: [String: String] = [:]
        var seenRecordIDs: [String: String] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            let place = "\(fileName):\(index + 1)"
            let document: JSONValue
            do {
                document = try JSONDecoder().decode(JSONValue.self, from: Data(trimmed.utf8))
            } catch {
                problems.append("\(place): not JSON")
                continue
            }
            guard document.objectValue != nil else {
                problems.append("\(place): not a JSON object (an event or a usage record)")
                continue
            }
            let (parts, isUsage) = EventDocument.parts(of: document, place: place)
            for (value, source) in parts {
                if isUsage {
                    switch UsageRecord.read(agentSDK: value, defaultSubscription: subscription ?? defaultSubscription) {
                    case .failure(let found): problems.append("\(source): \(found)")
                    case .success(var record):
                        if record.externalSubscriptionID == nil {
                            record.externalSubscriptionID = subscription ?? defaultSubscription
                        }
                        if let id = record.idBase {
                            if let first = seenRecordIDs[id] {
                                problems.append("\(source): id \(id) is already on \(first): it would be billed once")
                                continue
                            }
                            seenRecordIDs[id] = source
                        }
                        items.append(.usage(record, source: source))
                    }
                    continue
                }
                do {
                    let event = try fileEvent(
                        value, subscription: subscription, defaultSubscription: defaultSubscription)
                    let key = "\(event.externalSubscriptionID ?? "")\u{0}\(event.transactionID)"
                    if let first = seenTransactions[key] {
                        problems.append(
                            "\(source): transaction_id \(event.transactionID) is already on \(first): Lago bills it once "
                                + "and refuses the other (value_already_exist)")
                        continue
                    }
                    seenTransactions[key] = source
                    items.append(.event(event, source: source))
                } catch let problem as InputProblem {
                    problems.append("\(source): \(problem.description)")
                }
            }
        }
        if !problems.isEmpty {
            var lines = Array(problems.prefix(maxListedProblems))
            if problems.count > maxListedProblems {
                lines.append("… and \(problems.count - maxListedProblems) more")
            }
            throw InputProblem(
                "--file \(fileName): \(problems.count) line\(problems.count == 1 ? "" : "s") refused, nothing sent:\n"
                    + lines.joined(separator: "\n"))
        }
        guard !items.isEmpty else { throw InputProblem("--file \(fileName): no events in it") }
        return items
    }

    private static func fileEvent(
        _ value: JSONValue, subscription: String?, defaultSubscription: String?
    ) throws -> EventInput {
        guard value.objectValue != nil else { throw InputProblem("not a JSON object") }
        var input: EventInput
        do {
            input = try JSONDecoder().decode(EventInput.self, from: Data(value.jsonText.utf8))
        } catch {
            throw InputProblem("not a Lago event: \(HeadlessCheck.describe(error))")
        }
        if input.transactionID.isEmpty {
            throw InputProblem(
                "transaction_id is missing: a file's events need one, so that sending it again bills "
                    + "nothing twice")
        }
        if let problem = EventRules.identifierProblem(input.transactionID) {
            throw InputProblem("transaction_id \(input.transactionID): \(problem)")
        }
        if let problem = EventRules.metricCodeProblem(input.code) {
            throw InputProblem("code \(input.code): \(problem)")
        }
        if input.externalSubscriptionID == nil { input.externalSubscriptionID = subscription ?? defaultSubscription }
        if let id = input.externalSubscriptionID, let problem = EventRules.identifierProblem(id) {
            throw InputProblem("external_subscription_id \(id): \(problem)")
        }
        return input
    }

    /// An argument of `send` that does not make an event.
    public struct InputProblem: Error, CustomStringConvertible {
        /// What is wrong, naming the argument.
        public let description: String

        init(_ description: String) {
            self.description = description
        }
    }

    /// The events of `send`'s arguments: a raw event (`--event` JSON, checked as the console checks one) or usage
    /// (`--usage field=count …` with `--dimension key=value …`), billed to `subscription` when it names none.
    /// - Throws: ``InputProblem`` naming the argument.
    public static func events(
        eventJSON event: String?, usage: [String], dimensions dimension: [String], subscription: String?
    ) throws -> Events {
        if let event {
            guard (try? JSONDecoder().decode(JSONValue.self, from: Data(event.utf8))) != nil else {
                throw InputProblem("--event: not JSON (check its quotes, commas and braces)")
            }
            do {
                var input = try JSONDecoder().decode(EventInput.self, from: Data(event.utf8))
                if input.externalSubscriptionID == nil { input.externalSubscriptionID = subscription }
                if let problem = EventRules.metricCodeProblem(input.code) {
                    throw InputProblem("--event: code \(input.code): \(problem)")
                }
                if !input.transactionID.isEmpty, let problem = EventRules.identifierProblem(input.transactionID) {
                    throw InputProblem("--event: transaction_id \(input.transactionID): \(problem)")
                }
                if let id = input.externalSubscriptionID, let problem = EventRules.identifierProblem(id) {
                    throw InputProblem("--event: external_subscription_id \(id): \(problem)")
                }
                return .raw(input)
            } catch let error as InputProblem {
                throw error
            } catch {
                throw InputProblem("--event: not a Lago event: \(HeadlessCheck.describe(error))")
            }
        }
        var values: [CanonicalField: Double] = [:]
        for pair in usage {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let field = CanonicalField(rawValue: parts[0]) else {
                throw InputProblem(
                    "--usage \(pair): expected field=count with field one of "
                        + CanonicalField.allCases.map(\.rawValue).joined(separator: ", "))
            }
            // The console's form takes the same: token (or call) counts, whole numbers ≥ 0.
            guard let count = EventRules.count(parts[1]) else {
                throw InputProblem("--usage \(pair): the count must be a whole number ≥ 0")
            }
            values[field] = Double(count)
        }
        guard !values.isEmpty else { throw InputProblem("give --event JSON or --usage field=value …") }
        var dimensions: [String: JSONValue] = [:]
        for pair in dimension {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw InputProblem("--dimension \(pair): expected key=value") }
            dimensions[parts[0]] = .string(parts[1])
        }
        return .usage(UsageRecord(values: values, dimensions: dimensions, externalSubscriptionID: subscription))
    }
}

/// The engine refused to spool the events of a send (invalid, spool full); nothing was spooled.
public struct SendRefused: Error, CustomStringConvertible {
    /// What the engine threw.
    public var underlying: any Error

    /// The engine's message.
    public var description: String { "\(underlying)" }
}
