public import ConsoleUI
import Foundation
public import LagoAPI
public import LagoBilling
public import LagoConfig
public import LagoEngine
public import LagoUsage
import Synchronization

/// The metric-code mapping and default subscription new usage is coded with; follows the config store.
public final class UsageCoding: Sendable {
    private let state: Mutex<(metricCodes: [CanonicalField: String], defaultSubscription: String?)>

    /// Starts with a mapping and a default subscription.
    public init(metricCodes: [CanonicalField: String], defaultSubscription: String?) {
        state = Mutex((metricCodes, defaultSubscription))
    }

    /// The default subscription now.
    public var defaultSubscription: String? {
        get { state.withLock { $0.defaultSubscription } }
        set { state.withLock { $0.defaultSubscription = newValue } }
    }

    /// The mapping now.
    public var metricCodes: [CanonicalField: String] {
        get { state.withLock { $0.metricCodes } }
        set { state.withLock { $0.metricCodes = newValue } }
    }

    /// The events a usage record becomes under the current mapping and default subscription.
    /// - Throws: when the record cannot be coded (no field, a non-finite value).
    public func events(for record: UsageRecord) throws -> [(event: EventInput, coding: EventOrigin.Coding)] {
        let (metricCodes, defaultSubscription) = state.withLock { $0 }
        return try record.codedEvents(metricCodes: metricCodes, defaultSubscription: defaultSubscription)
    }
}

/// Runs the console's effects against the engine, Lago and the config store, and says what happened as console
/// events carrying the request's id. Never throws: every failure is answered (``ConsoleEvent/operationFailed(_:_:)``
/// with Lago's `code` and `error_details` kept, ``ConsoleEvent/sendFailed(_:)``…).
public struct EffectRunner: Sendable {
    /// How long a flush asked with `f` may take.
    public static let flushDeadline = Duration.seconds(30)
    /// How long the flush before quitting may take.
    public static let quitFlushDeadline = Duration.seconds(15)
    /// How often the flush before quitting reports what is left.
    public static let flushProgressInterval = Duration.milliseconds(250)

    private let engine: any EngineControl
    private let client: LagoClient
    private let store: ConfigStore
    private let coding: UsageCoding
    private let billing: BillingCatalogueService?
    private let usage: CustomerUsageReader
    private let copy: @Sendable (String) async -> String

    /// Creates a runner; `billing` is the catalogue the console checks events against (what its refresh reads
    /// again); `copy` puts text on the clipboard and says where it went (``Clipboard/copy(_:)``).
    public init(
        engine: any EngineControl, client: LagoClient, store: ConfigStore, coding: UsageCoding,
        billing: BillingCatalogueService? = nil, copy: @escaping @Sendable (String) async -> String = Clipboard.copy
    ) {
        self.engine = engine
        self.client = client
        self.store = store
        self.coding = coding
        self.billing = billing
        self.usage = CustomerUsageReader(client: client)
        self.copy = copy
    }

    /// Runs one request and posts its answers. `.quit(flushFirst: false)` is the wiring's own: nothing is done.
    public func run(_ request: EffectRequest, post: @Sendable (ConsoleEvent) -> Void) async {
        do {
            try await execute(request, post: post)
        } catch {
            post(.operationFailed(request.id, OperationError(error)))
        }
    }

    private func execute(_ request: EffectRequest, post: @Sendable (ConsoleEvent) -> Void) async throws {
        let id = request.id
        switch request.effect {
        case .flush:
            post(.flushFinished(try await flush(deadline: Self.flushDeadline) { _ in }))
        case .quit(flushFirst: true):
            let summary = try await flush(deadline: Self.quitFlushDeadline) {
                post(.quitFlushProgress(pending: $0))
            }
            post(.quitFlushFinished(summary))
        case .quit(flushFirst: false):
            break
        case .sendUsage(let draft):
            var values: [CanonicalField: Double] = [:]
            for (field, value) in draft.values { values[field] = Double(value) }
            let record = UsageRecord(
                values: values, dimensions: draft.dimensions.mapValues { .string($0) },
                externalSubscriptionID: draft.externalSubscriptionID)
            do {
                let coded = try coding.events(for: record)
                post(
                    .sendAccepted(
                        transactionIDs: try await engine.enqueue(coded.map(\.event), codedBy: coded.map(\.coding))))
            } catch {
                post(.sendFailed(String(describing: error)))
            }
        case .sendEvent(let draft):
            let event = EventInput(
                transactionID: draft.transactionID ?? "test_" + UUID().uuidString.lowercased(),
                externalSubscriptionID: draft.externalSubscriptionID ?? coding.defaultSubscription,
                code: draft.code, timestamp: draft.timestamp, properties: draft.properties)
            do {
                post(.sendAccepted(transactionIDs: [try await engine.enqueue([event])[0]]))
            } catch {
                post(.sendFailed(String(describing: error)))
            }
        case .saveMapping(let field, let code):
            try store.set(ConfigKey.metricCode(field).name, to: code)
            post(.mappingSaved(field: field, code: code))
        case .saveDefaultSubscription(let subscriptionID):
            do {
                _ = try await client.subscription(externalID: subscriptionID)
            } catch let error as LagoAPIError where error.status == 404 {
                var failure = OperationError(error)
                failure.message = "subscription \(subscriptionID) does not exist in Lago (\(error.code ?? "not found"))"
                post(.operationFailed(id, failure))
                return
            }
            try store.set(ConfigKey.lagoDefaultSubscriptionID.name, to: subscriptionID)
            try await engine.setDefaultSubscription(subscriptionID)
            coding.defaultSubscription = subscriptionID
            post(.subscriptionSaved(subscriptionID))
        case .verify(let transactionID):
            do {
                let event = try await client.event(transactionID: transactionID)
                post(.verifyFinished(transactionID: transactionID, result: .success(event)))
            } catch {
                post(.verifyFinished(transactionID: transactionID, result: .failure(OperationError(error))))
            }
        case .checkMappings:
            do {
                post(.mappingsChecked(.success(try await client.allBillableMetrics())))
            } catch {
                post(.mappingsChecked(.failure(OperationError(error))))
            }
        case .loadSubscriptions:
            do {
                post(.subscriptionsLoaded(.success(try await client.subscriptions(status: [.active]).items)))
            } catch {
                post(.subscriptionsLoaded(.failure(OperationError(error))))
            }
        case .replayDeadLetter(let letterID, let edits):
            guard let number = Int64(letterID) else {
                return post(.operationFailed(id, OperationError("no dead letter \(letterID)")))
            }
            let edit = edits.map {
                DeadLetterEdit(
                    code: $0.code, externalSubscriptionID: $0.externalSubscriptionID, properties: $0.properties,
                    transactionID: $0.transactionID)
            }
            switch try await engine.replayDeadLetter(id: number, edit: edit) {
            case .queued(let transactionID):
                post(.operationSucceeded(id, "replayed \(transactionID)"))
            case .alreadyInLago(let transactionID):
                post(
                    .operationSucceeded(
                        id, "already in Lago: \(transactionID) is stored there exactly as here, nothing sent"))
            case .differsInLago(let transactionID, _, _, let differences):
                post(
                    .operationFailed(
                        id,
                        OperationError(
                            "not replayed: Lago holds a different event under \(transactionID) ("
                                + differences.joined(separator: "; ")
                                + "); e edits it: give a new transaction id to bill this one")))
            }
        case .discardDeadLetter(let letterID):
            guard let number = Int64(letterID) else {
                return post(.operationFailed(id, OperationError("no dead letter \(letterID)")))
            }
            try await engine.discardDeadLetter(id: number)
            post(.operationSucceeded(id, "discarded dead letter \(letterID)"))
        case .releaseHeld(let heldID):
            guard let number = Int64(heldID) else {
                return post(.operationFailed(id, OperationError("no held event \(heldID)")))
            }
            let release = try await engine.releaseHeld(id: number)
            post(
                .heldReleased(
                    id,
                    ConsoleUI.HeldRelease(id: heldID, transactionID: release.transactionID, billing: release.billing)))
        case .discardHeld(let heldID):
            guard let number = Int64(heldID) else {
                return post(.operationFailed(id, OperationError("no held event \(heldID)")))
            }
            try await engine.discardHeld(id: number)
            post(.operationSucceeded(id, "discarded held event \(heldID): never sent, never billed"))
        case .refreshCatalogue:
            guard let billing else {
                return post(.operationFailed(id, OperationError("this console reads no catalogue of Lago's")))
            }
            billing.refresh()
            post(.operationSucceeded(id, "reading Lago's metrics and subscriptions again (at least 5 s apart)"))
        case .readUsage(let subscriptionID):
            do {
                let reading = try await usage.read(externalSubscriptionID: subscriptionID)
                post(.usageRead(subscriptionID: subscriptionID, result: .success(reading)))
            } catch {
                post(.usageRead(subscriptionID: subscriptionID, result: .failure(OperationError(error))))
            }
        case .retryNow:
            try await engine.retryDelivery()
            post(.operationSucceeded(id, "retrying now"))
        case .copy(let text):
            post(.operationSucceeded(id, await copy(text)))
        }
    }

    /// One flush of the engine until nothing is pending, `deadline` passes or the engine stops delivering (paused,
    /// on hold); `progress` hears what is left (``EngineStats/pending``) at once and every
    /// ``flushProgressInterval``. Cancelling the task (the console quits with Ctrl-C) ends the flush at once: the
    /// engine answers a cancelled flush with what it did so far, and the events stay spooled.
    private func flush(deadline: Duration, progress: (_ pending: Int) -> Void) async throws -> FlushSummary {
        enum Step: Sendable {
            case flushed(FlushResult)
            case tick
        }
        let started = ContinuousClock.now
        let engine = self.engine
        if let stats = try? await engine.stats() { progress(stats.pending) }
        let result: FlushResult = try await withThrowingTaskGroup(of: Step.self) { group in
            group.addTask { .flushed(try await engine.flush(deadline: deadline)) }
            group.addTask {
                try await Task.sleep(for: Self.flushProgressInterval)
                return .tick
            }
            while let step = try await group.next() {
                switch step {
                case .flushed(let result):
                    group.cancelAll()
                    return result
                case .tick:
                    if let stats = try? await engine.stats() { progress(stats.pending) }
                    group.addTask {
                        try await Task.sleep(for: Self.flushProgressInterval)
                        return .tick
                    }
                }
            }
            throw CancellationError()
        }
        return FlushSummary(
            delivered: result.delivered, pending: result.pending, dead: result.dead,
            duration: ContinuousClock.now - started)
    }
}

/// The console's clipboard: the tmux buffer inside tmux, else a file in the temporary folder.
public enum Clipboard {
    /// Copies `text` and says where it went. Waits for `tmux` without blocking a thread (its termination
    /// handler resumes the caller).
    public static func copy(_ text: String) async -> String {
        if ProcessInfo.processInfo.environment["TMUX"] != nil, await tmuxSetBuffer(text) {
            return "copied to the tmux buffer"
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lago-console-copy.txt")
        do {
            try Data(text.utf8).write(to: path, options: .atomic)
            return "saved to \(path.path)"
        } catch {
            return "could not copy: \(error)"
        }
    }

    private static func tmuxSetBuffer(_ text: String) async -> Bool {
        await withCheckedContinuation { continuation in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["tmux", "set-buffer", "--", text]
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus == 0) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(returning: false)
            }
        }
    }
}
