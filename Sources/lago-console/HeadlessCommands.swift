import ArgumentParser
import Foundation
import LagoAPI
import LagoConfig
import LagoControl
import LagoEngine
import LagoSession
import LagoUsage
import Logging

/// Runs one headless command on the engine of the configured Lago's spool (``EngineSession``): through a running
/// `lago-console serve` on that spool when there is one, else on the spool itself (`start`: deliver while the
/// command runs). With no Lago configured, the only spool is that of a serve running on its embedded sandbox.
func withHeadlessEngine<Result: Sendable>(
    global: GlobalOptions, start: Bool, _ body: (EngineSession) async throws -> Result
) async throws -> Result {
    let logger = Logger(label: "lago-console.headless") { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .warning
        return handler
    }
    return try await EngineSession.openHeadless(
        configuration: try global.loadConfigStore().configuration, start: start, logger: logger, body)
}

func printJSON(_ value: some Encodable) throws {
    print(try ReportJSON.text(value))
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

    @Option(
        help: """
            A file of events, one JSON document a line (- reads standard input): Lago events, {"event": …}, \
            {"events": […]}, or usage records in the Agent SDK's shape; every line is checked before anything is sent.
            """)
    var file: String?

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

    func validate() throws {
        if wait && noWait { throw ValidationError("--wait and --no-wait exclude each other") }
        if file != nil && (event != nil || !usage.isEmpty) {
            throw ValidationError("--file sends the file's events: leave out --event and --usage")
        }
        guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout \(timeout): give seconds > 0") }
        if let subscription, let problem = EventRules.identifierProblem(subscription) {
            throw ValidationError("--subscription \(subscription): \(problem)")
        }
    }

    func run() async throws {
        let send = HeadlessSend(
            events: try makeEvents(), delivery: wait ? .waitAndVerify : noWait ? .spoolOnly : .deliverUnlessServe,
            timeout: .seconds(timeout))
        let report = try await withHeadlessEngine(global: global, start: !noWait) { session in
            do {
                return try await send.run(on: session)
            } catch let error as SendRefused {
                throw ConsoleFailure(description: error.description)
            }
        }
        if json { try printJSON(report) } else { report.lines.forEach { print($0) } }
        for warning in report.warnings(timeoutSeconds: Int(timeout)) {
            FileHandle.standardError.write(Data((warning + "\n").utf8))
        }
        if report.stuck || (wait && !report.allVerified) { throw ExitCode(1) }
    }

    func makeEvents() throws -> HeadlessSend.Events {
        // An event that names no subscription bills the default one, as the console's and the relay's do (the
        // engine applies it to usage records only: a raw event left without one would never bill).
        let defaultSubscription = try global.loadConfigStore().configuration.lago.defaultSubscriptionID
        if let file {
            do {
                let text = try HeadlessCheck.readFile(file)
                return .file(
                    try HeadlessSend.fileItems(
                        text: text, fileName: file == "-" ? "stdin" : file, subscription: subscription,
                        defaultSubscription: defaultSubscription))
            } catch let problem as HeadlessCheck.InputProblem {
                throw ValidationError(problem.description)
            } catch let problem as HeadlessSend.InputProblem {
                throw ValidationError(problem.description)
            }
        }
        do {
            return try HeadlessSend.events(
                eventJSON: event, usage: usage, dimensions: dimension, subscription: subscription ?? defaultSubscription
            )
        } catch let problem as HeadlessSend.InputProblem {
            throw ValidationError(problem.description)
        }
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

    func run() async throws {
        let started = ContinuousClock.now
        let flushed = try await withHeadlessEngine(global: global, start: true) { session in
            try await session.control.flush(deadline: .seconds(timeout))
        }
        let report = FlushReport(flushed, duration: ContinuousClock.now - started)
        if json { try printJSON(report) } else { print(report.line) }
        if report.pending > 0 { throw ExitCode(1) }
    }
}

/// `lago-console status`: what the spool holds.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the spool: queued events, dead letters, oldest age.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print the status as JSON.")
    var json = false

    func run() async throws {
        let status = try await withHeadlessEngine(global: global, start: false) { session in
            SpoolStatus(
                stats: try await session.control.stats(), lago: session.lago.baseURL.apiRoot, serve: session.serve)
        }
        if json { return try printJSON(status) }
        for line in status.lines() { print(line) }
    }
}

/// `lago-console dead-letters list|show|replay|discard`.
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters", abstract: "List, show, replay or discard dead letters.",
        subcommands: [List.self, Show.self, Replay.self, Discard.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters with Lago's reason.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            let letters = try await withHeadlessEngine(global: global, start: false) { session in
                try await session.control.deadLetters(limit: limit).map { DeadLetterReport($0, payload: false) }
            }
            if json { return try printJSON(letters) }
            if letters.isEmpty { print("no dead letters") }
            for letter in letters { print(letter.line) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter: payload and Lago's error.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The dead letter's id (from list).") var id: Int64
        @Flag(help: "Print JSON (show always does; accepted like every command's --json).") var json = false

        func run() async throws {
            let letter = try await withHeadlessEngine(global: global, start: false) { session in
                try await session.control.deadLetter(id: id)
            }
            guard let letter else { throw ConsoleFailure(description: "no dead letter \(id)") }
            try printJSON(DeadLetterReport(letter, payload: true))
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
            let edit =
                code == nil && subscription == nil && transactionID == nil
                ? nil : DeadLetterEdit(code: code, externalSubscriptionID: subscription, transactionID: transactionID)
            let result = try await withHeadlessEngine(global: global, start: false) { session in
                do {
                    return try await session.control.replayDeadLetter(id: id, edit: edit)
                } catch {
                    throw ConsoleFailure(description: "\(error)")
                }
            }
            if json { try printJSON(result) } else { print(result.operatorDescription) }
            if case .differsInLago = result { throw ExitCode(1) }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a dead letter for good (it is never billed).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The dead letter's id (from list).") var id: Int64
        @Flag(help: "Required: confirms the event will never be billed.") var yes = false

        func run() async throws {
            guard yes else { throw ValidationError("discarding loses the event for good: add --yes to confirm") }
            try await withHeadlessEngine(global: global, start: false) { session in
                do {
                    try await session.control.discardDeadLetter(id: id)
                } catch {
                    throw ConsoleFailure(description: "\(error)")
                }
            }
            print("discarded dead letter \(id)")
        }
    }
}
