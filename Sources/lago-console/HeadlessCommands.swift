import ArgumentParser
import enum ConsoleUI.ConsoleValidation
import Foundation
import LagoAPI
import LagoConfig
import LagoControl
import LagoEngine
import LagoUsage
import Logging

/// The Lago a headless command works with: where events go and where `send --wait` reads them back.
struct HeadlessTarget: Sendable {
    var configuration: LagoConsoleConfiguration
    var baseURL: LagoBaseURL
    var apiKey: String
    /// The spool the events go to.
    var spoolPath: String
    /// The running `lago-console serve` the command went through, if any.
    var serve: ControlEndpoint? = nil
}

/// Runs one headless command on the engine of the configured Lago's spool.
///
/// When `lago-console serve` runs on that spool, the command goes through serve's control API (so it works while
/// serve delivers); otherwise it opens the spool itself (`start`: deliver while the command runs) and shuts the
/// engine down afterwards. With no Lago configured, the only spool is that of a serve running on its embedded
/// sandbox.
func withHeadlessEngine<Result: Sendable>(
    global: GlobalOptions, start: Bool, _ body: (any EngineControl, HeadlessTarget) async throws -> Result
) async throws -> Result {
    let configuration = try global.loadConfigStore().configuration
    let isSandbox = configuration.lago.apiURL == nil
    let engineConfiguration = ConsoleRuntime.engineConfiguration(
        configuration, isSandbox: isSandbox, defaultSubscription: configuration.lago.defaultSubscriptionID)
    if let remote = await RemoteEngine.connect(forSpool: engineConfiguration.spoolPath) {
        let endpoint = remote.endpoint
        do {
            let baseURL = try LagoBaseURL(
                endpoint.lagoURL, allowInsecureHTTP: endpoint.sandbox || configuration.lago.allowInsecureHTTP)
            let target = HeadlessTarget(
                configuration: configuration, baseURL: baseURL,
                apiKey: endpoint.sandboxAPIKey ?? configuration.lago.apiKey, spoolPath: engineConfiguration.spoolPath,
                serve: endpoint)
            let result = try await body(remote, target)
            await remote.shutdown()
            return result
        } catch {
            await remote.shutdown()
            throw error
        }
    }
    let baseURL = try configuredLago(
        configuration, purpose: "headless commands use its spool (or that of a running `lago-console serve`)")
    let logger = Logger(label: "lago-console.headless") { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .warning
        return handler
    }
    let engine: LagoEngine
    do {
        engine = try LagoEngine(
            configuration: engineConfiguration, baseURL: baseURL, apiKey: configuration.lago.apiKey, logger: logger)
    } catch {
        throw ConsoleFailure(description: "\(error)")
    }
    if start { engine.start() }
    let target = HeadlessTarget(
        configuration: configuration, baseURL: baseURL, apiKey: configuration.lago.apiKey,
        spoolPath: engineConfiguration.spoolPath)
    do {
        let result = try await body(engine, target)
        await engine.shutdown()
        return result
    } catch {
        await engine.shutdown()
        throw error
    }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // Dates as ISO-8601 UTC (`2026-12-01T21:29:10Z`), not Foundation's default of seconds since 2001.
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `lago-console send`: spool usage or an event, optionally wait until Lago has it.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send canonical usage (--input 120 --output 40 …) or a raw event (--event JSON) through the engine.",
        discussion: """
            The events are spooled durably, then delivered: by a running `lago-console serve` when there is one, \
            otherwise by this command, which waits up to --timeout and exits 1 when events stay spooled (serve \
            or the console delivers them later) or were dead-lettered. --no-wait only spools them. With --wait \
            the command also reads every event back from Lago by transaction id, and exits 1 unless all are there.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "A raw event as JSON (Lago's event object: transaction_id, external_subscription_id, code, …).")
    var event: String?

    @Option(parsing: .upToNextOption, help: "Usage values as field=value (fields: input, output, cache_read, …).")
    var usage: [String] = []

    @Option(parsing: .upToNextOption, help: "Dimensions as key=value, added to each usage event's properties.")
    var dimension: [String] = []

    @Option(help: "The subscription (default: lago.default_subscription_id).")
    var subscription: String?

    @Flag(help: "Flush and verify in Lago before exiting.")
    var wait = false

    @Flag(help: "Only spool the events; a running serve or the console delivers them.")
    var noWait = false

    @Option(help: "Seconds to keep delivering before giving up (the events stay spooled).")
    var timeout: Double = 30

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Result: Encodable {
        var transactionIDs: [String]
        var delivered: Int?
        var pending: Int?
        var dead: Int?
        var verified: [String: String]?
        /// The spool the events went to.
        var spool: String
        /// The pid of the `lago-console serve` that delivers them, when one runs.
        var servePID: Int32?
    }

    func validate() throws {
        if wait && noWait { throw ValidationError("--wait and --no-wait exclude each other") }
        guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout \(timeout): give seconds > 0") }
        if let subscription, let problem = EventRules.identifierProblem(subscription) {
            throw ValidationError("--subscription \(subscription): \(problem)")
        }
    }

    func run() async throws {
        let events = try makeEvents()
        let result = try await withHeadlessEngine(global: global, start: !noWait) { engine, target in
            var result: Result
            do {
                switch events {
                case .raw(let input):
                    result = Result(transactionIDs: [try await engine.enqueue(input)], spool: target.spoolPath)
                case .usage(let record):
                    result = Result(transactionIDs: try await engine.enqueue(record), spool: target.spoolPath)
                }
            } catch {
                throw ConsoleFailure(description: "\(error)")
            }
            result.servePID = target.serve?.pid
            // serve delivers what it spools; without it, nobody else would: this command delivers.
            guard wait || (!noWait && target.serve == nil) else { return result }
            let flushed = try await engine.flush(deadline: .milliseconds(Int64(timeout * 1000)))
            result.delivered = flushed.delivered
            result.pending = flushed.pending
            result.dead = flushed.dead
            guard wait else { return result }
            let client = LagoClient(
                configuration: LagoClientConfiguration(
                    baseURL: target.baseURL, apiKey: target.apiKey))
            var verified: [String: String] = [:]
            for id in result.transactionIDs {
                do {
                    let stored = try await client.event(transactionID: id)
                    verified[id] = "in Lago at \(stored.timestamp)"
                } catch {
                    verified[id] = "not found: \(error)"
                }
            }
            try? await client.shutdown()
            result.verified = verified
            return result
        }
        let stuck = (result.pending ?? 0) > 0 || (result.dead ?? 0) > 0
        if json {
            try printJSON(result)
        } else {
            let state =
                if let pid = result.servePID, result.delivered == nil { "queued: serve pid \(pid) delivers it" }
                else if result.delivered == nil { "spooled (not delivered: --no-wait)" }
                else if stuck { "spooled" } else { "delivered" }
            for id in result.transactionIDs {
                print("\(id)  \(result.verified?[id] ?? state)")
            }
            if let delivered = result.delivered {
                print("flushed: delivered \(delivered) · pending \(result.pending ?? 0) · dead \(result.dead ?? 0)")
            }
        }
        if let pending = result.pending, pending > 0 {
            FileHandle.standardError.write(
                Data(
                    ("\(pending) event(s) stay spooled in \(result.spool) after \(Int(timeout)) s; "
                        + "`lago-console serve` or the console delivers them (`lago-console status` shows why they wait)\n")
                        .utf8))
        }
        if let dead = result.dead, dead > 0 {
            FileHandle.standardError.write(
                Data("\(dead) event(s) dead-lettered: `lago-console dead-letters list` shows Lago's reason\n".utf8))
        }
        if stuck { throw ExitCode(1) }
        if wait, result.verified?.values.contains(where: { !$0.hasPrefix("in Lago") }) ?? true {
            throw ExitCode(1)
        }
    }

    enum Events {
        case raw(EventInput)
        case usage(UsageRecord)
    }

    func makeEvents() throws -> Events {
        if let event {
            do {
                var input = try JSONDecoder().decode(EventInput.self, from: Data(event.utf8))
                if input.externalSubscriptionID == nil { input.externalSubscriptionID = subscription }
                if let problem = EventRules.metricCodeProblem(input.code) {
                    throw ValidationError("--event: code \(input.code): \(problem)")
                }
                if !input.transactionID.isEmpty, let problem = EventRules.identifierProblem(input.transactionID) {
                    throw ValidationError("--event: transaction_id \(input.transactionID): \(problem)")
                }
                if let id = input.externalSubscriptionID, let problem = EventRules.identifierProblem(id) {
                    throw ValidationError("--event: external_subscription_id \(id): \(problem)")
                }
                return .raw(input)
            } catch let error as ValidationError {
                throw error
            } catch {
                throw ValidationError("--event: not a Lago event object: \(error)")
            }
        }
        var values: [CanonicalField: Double] = [:]
        for pair in usage {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let field = CanonicalField(rawValue: parts[0]) else {
                throw ValidationError(
                    "--usage \(pair): expected field=count with field one of "
                        + CanonicalField.allCases.map(\.rawValue).joined(separator: ", "))
            }
            // The console's form takes the same: token (or call) counts, whole numbers ≥ 0.
            guard case .success(let count?) = ConsoleValidation.parseCount(parts[1]) else {
                throw ValidationError("--usage \(pair): the count must be a whole number ≥ 0")
            }
            values[field] = Double(count)
        }
        guard !values.isEmpty else { throw ValidationError("give --event JSON or --usage field=value …") }
        var dimensions: [String: JSONValue] = [:]
        for pair in dimension {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--dimension \(pair): expected key=value") }
            dimensions[parts[0]] = .string(parts[1])
        }
        return .usage(UsageRecord(values: values, dimensions: dimensions, externalSubscriptionID: subscription))
    }
}

/// `lago-console flush`: deliver everything spooled now.
struct FlushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush", abstract: "Deliver every spooled event now; exit non-zero if any is left pending.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Seconds to keep trying.")
    var timeout: Double = 30

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Result: Encodable {
        var delivered: Int
        var pending: Int
        var dead: Int
        var seconds: Double
    }

    func run() async throws {
        let started = ContinuousClock.now
        let flushed = try await withHeadlessEngine(global: global, start: true) { engine, _ in
            try await engine.flush(deadline: .milliseconds(Int64(timeout * 1000)))
        }
        let result = Result(
            delivered: flushed.delivered, pending: flushed.pending, dead: flushed.dead,
            seconds: (ContinuousClock.now - started).inSeconds)
        if json {
            try printJSON(result)
        } else {
            print(
                "flushed: delivered \(result.delivered) · pending \(result.pending) · dead \(result.dead) in "
                    + String(format: "%.2f s", result.seconds))
        }
        if result.pending > 0 { throw ExitCode(1) }
    }
}

/// `lago-console status`: what the spool holds.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the spool: queued events, dead letters, oldest age.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print the status as JSON.")
    var json = false

    struct Result: Encodable {
        var lago: String
        /// Every undelivered event in the spool (= queued + inFlight + retrying), each once.
        var pending: Int
        /// Waiting for a request.
        var queued: Int
        /// Carried by requests in flight (0 unless serve runs).
        var inFlight: Int
        /// In batches backing off (0 unless serve runs).
        var retrying: Int
        var dead: Int
        var oldestQueuedSeconds: Double?
        /// The last spool write that failed, in plain words with the file (`spool write failed: disk full
        /// (/path)`); `null` when the last write succeeded. Known from a running serve's engine.
        var spoolError: String?
        /// When it failed.
        var spoolErrorAt: Date?
        /// Set when `lago-console serve` runs on the spool: its engine's live figures.
        var serve: Serve?
    }

    struct Serve: Encodable {
        var pid: Int32
        var relay: String?
        var control: String
        var state: String
        var inFlight: Int
        var deliveredSinceStart: Int
        var retryingBatches: Int
        var eventsPerSecond: Double
        var lastError: String?
    }

    func run() async throws {
        let result = try await withHeadlessEngine(global: global, start: false) { engine, target in
            let stats = try await engine.stats()
            return Result(
                lago: target.baseURL.apiRoot, pending: stats.pending, queued: stats.queued, inFlight: stats.inFlight,
                retrying: stats.retrying, dead: stats.dead,
                oldestQueuedSeconds: stats.oldestQueuedAge?.inSeconds, spoolError: stats.spoolError,
                spoolErrorAt: stats.spoolErrorAt,
                serve: target.serve.map { endpoint in
                    Serve(
                        pid: endpoint.pid, relay: endpoint.relayURL, control: endpoint.url, state: stats.state.rawValue,
                        inFlight: stats.inFlight, deliveredSinceStart: stats.delivered + stats.alreadyInLago,
                        retryingBatches: stats.retryingBatches.count, eventsPerSecond: stats.eventsPerSecond.last10Seconds,
                        lastError: stats.lastError)
                })
        }
        if json {
            try printJSON(result)
        } else {
            print("Lago     \(result.lago)")
            print("pending  \(result.pending) (queued \(result.queued), in flight \(result.inFlight), retrying \(result.retrying))")
            print("dead     \(result.dead)")
            print("oldest   \(result.oldestQueuedSeconds.map { String(format: "%.0f s", $0) } ?? "—")")
            if let spoolError = result.spoolError {
                let age = result.spoolErrorAt.map { String(format: " · %.0f s ago", max(0, -$0.timeIntervalSinceNow)) }
                print("spool    \(spoolError)\(age ?? "")")
            }
            if let serve = result.serve {
                print("serve    pid \(serve.pid) · \(serve.state) · relay \(serve.relay ?? "—") · control \(serve.control)")
                print(
                    "         in flight \(serve.inFlight) · delivered \(serve.deliveredSinceStart) since start · "
                        + String(format: "%.0f events/s (10 s)", serve.eventsPerSecond)
                        + (serve.retryingBatches > 0 ? " · \(serve.retryingBatches) batches retrying" : ""))
                if let error = serve.lastError { print("         last error: \(error)") }
            } else {
                print("serve    not running on this spool")
            }
        }
    }
}

/// `lago-console dead-letters list|show|replay|discard`.
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters", abstract: "List, show, replay or discard dead letters.",
        subcommands: [List.self, Show.self, Replay.self, Discard.self])

    struct Letter: Encodable {
        var id: Int64
        var transactionID: String
        var code: String?
        var subscription: String?
        var reason: String
        var status: Int?
        var attempts: Int
        var deadAt: Date
        var payload: String?

        init(_ letter: DeadLetter, payload: Bool) {
            id = letter.id
            transactionID = letter.transactionID
            code = letter.event?.code
            subscription = letter.event?.externalSubscriptionID
            reason = letter.reason.message
            status = letter.reason.status
            attempts = letter.attempts
            deadAt = letter.deadAt
            self.payload = payload ? letter.payload : nil
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters with Lago's reason.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            let letters = try await withHeadlessEngine(global: global, start: false) { engine, _ in
                try await engine.deadLetters(limit: limit).map { Letter($0, payload: false) }
            }
            if json { return try printJSON(letters) }
            if letters.isEmpty { print("no dead letters") }
            for letter in letters {
                print("\(letter.id)\t\(letter.transactionID)\t\(letter.code ?? "?")\t\(letter.reason)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter: payload and Lago's error.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The dead letter's id (from list).") var id: Int64

        func run() async throws {
            let letter = try await withHeadlessEngine(global: global, start: false) { engine, _ in
                try await engine.deadLetter(id: id)
            }
            guard let letter else { throw ConsoleFailure(description: "no dead letter \(id)") }
            try printJSON(Letter(letter, payload: true))
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a dead letter again (same transaction id), optionally with another code or subscription.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The dead letter's id (from list).") var id: Int64
        @Option(help: "Replace the metric code.") var code: String?
        @Option(help: "Replace the subscription.") var subscription: String?
        @Option(help: "Replay under another transaction id (a new event for Lago).") var transactionID: String?
        @Flag(help: "Print the result as JSON.") var json = false

        func validate() throws {
            if let code, let problem = EventRules.metricCodeProblem(code) {
                throw ValidationError("--code \(code): \(problem)")
            }
            if let subscription, let problem = EventRules.identifierProblem(subscription) {
                throw ValidationError("--subscription \(subscription): \(problem)")
            }
            if let transactionID, let problem = EventRules.identifierProblem(transactionID) {
                throw ValidationError("--transaction-id \(transactionID): \(problem)")
            }
        }

        func run() async throws {
            let edit = code == nil && subscription == nil && transactionID == nil
                ? nil : DeadLetterEdit(code: code, externalSubscriptionID: subscription, transactionID: transactionID)
            let result = try await withHeadlessEngine(global: global, start: false) { engine, _ in
                do {
                    return try await engine.replayDeadLetter(id: id, edit: edit)
                } catch {
                    throw ConsoleFailure(description: "\(error)")
                }
            }
            if json { try printJSON(result) } else { print(Self.describe(result)) }
            if case .differsInLago = result { throw ExitCode(1) }
        }

        /// One paragraph for the operator.
        static func describe(_ result: ReplayResult) -> String {
            switch result {
            case .queued(let id): return "queued again: \(id)"
            case .alreadyInLago(let id): return "already in Lago: \(id) is stored there exactly as here; nothing sent"
            case .differsInLago(let id, _, _, let differences):
                return "not replayed: Lago holds a different event under \(id):\n  "
                    + differences.joined(separator: "\n  ")
                    + "\nreplay with --transaction-id NEW to bill this one as a new event"
            }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a dead letter for good (it is never billed).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The dead letter's id (from list).") var id: Int64
        @Flag(help: "Required: confirms the event will never be billed.") var yes = false

        func run() async throws {
            guard yes else { throw ValidationError("discarding loses the event for good: add --yes to confirm") }
            try await withHeadlessEngine(global: global, start: false) { engine, _ in
                do {
                    try await engine.discardDeadLetter(id: id)
                } catch {
                    throw ConsoleFailure(description: "\(error)")
                }
            }
            print("discarded dead letter \(id)")
        }
    }
}
