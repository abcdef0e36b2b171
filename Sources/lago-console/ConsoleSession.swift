import ConsoleBridge
import ConsoleUI
import Foundation
import LagoAPI
import LagoConfig
import LagoControl
import LagoEngine
import LagoUsage
import Logging
import Synchronization
import Terminal

/// One console session: owns the `AppState`, feeds it events from the terminal, the engine and effect results,
/// executes its effects against the core, and hands frames to the terminal at most about 20 times a second.
final class ConsoleSession: Sendable {
    private let engine: any EngineControl
    private let client: LagoClient
    private let store: ConfigStore
    private let logger: Logger
    private let connection: ConnectionInfo
    private let defaultSubscription: String?
    private let readOnly: Bool
    private let noColor: Bool
    private let demoTraffic: Bool
    private let inbox: AsyncStream<ConsoleRuntime.Input>
    private let inboxContinuation: AsyncStream<ConsoleRuntime.Input>.Continuation
    /// Engine lifecycle changes → row updates (remembers the events in flight).
    private let lifecycle = Mutex(LifecycleAdapter())
    /// The metric-code mapping and default subscription new usage is coded with (follows the config store).
    private let coding: Mutex<(metricCodes: [CanonicalField: String], defaultSubscription: String?)>
    private let rateSamples = Mutex<[Double]>([])
    /// Lifecycle changes waiting to be handed to the console in one batch.
    private let pendingChanges = Mutex<[EventLifecycleChange]>([])
    /// Where frame counts go for `lago-console bench --parts console` (`LAGO_CONSOLE_FRAME_STATS`); nil: nowhere.
    private let frameStatsPath: String?
    private let framesRendered = Atomic<Int>(0)
    private let framesPresented = Atomic<Int>(0)

    init(
        engine: any EngineControl, client: LagoClient, store: ConfigStore, logger: Logger, connection: ConnectionInfo,
        defaultSubscription: String?, readOnly: Bool, noColor: Bool, demoTraffic: Bool, frameStatsPath: String? = nil
    ) {
        self.engine = engine
        self.client = client
        self.store = store
        self.logger = logger
        self.connection = connection
        self.defaultSubscription = defaultSubscription
        self.readOnly = readOnly
        self.noColor = noColor
        self.demoTraffic = demoTraffic
        self.frameStatsPath = frameStatsPath
        (inbox, inboxContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        coding = Mutex((store.configuration.metricCodes.byField, defaultSubscription))
    }

    /// The events a usage record becomes under the current mapping and default subscription.
    private func events(for record: UsageRecord) throws -> [EventInput] {
        let (metricCodes, defaultSubscription) = coding.withLock { $0 }
        return try record.events(metricCodes: metricCodes, defaultSubscription: defaultSubscription)
    }

    private func post(_ event: ConsoleEvent) {
        inboxContinuation.yield(.console(event))
    }

    func run() async throws {
        try await TerminalSession.withTerminal(noColor: noColor) { terminal in
            await withTaskGroup(of: Void.self) { group in
                // Keys travel on the UI's own queue too: the concurrency pool may be busy with engine work.
                let ui = UIExecutor()
                group.addTask(executorPreference: ui) { await self.forwardTerminal(terminal) }
                group.addTask { await self.forwardLifecycle() }
                group.addTask { await self.pollStats() }
                group.addTask { await self.forwardConfigChanges() }
                if demoTraffic && !readOnly { group.addTask { await self.generateDemoTraffic() } }
                if let frameStatsPath { group.addTask { await self.writeFrameStats(to: frameStatsPath, terminal) } }
                await withTaskExecutorPreference(ui) { await self.mainLoop(terminal) }
                group.cancelAll()
            }
        }
    }

    // MARK: Main loop (the only owner of AppState)

    private func mainLoop(_ terminal: TerminalSession) async {
        let size = terminal.size
        let config = store.configuration
        let mappings = config.metricCodes.byField
        var state = AppState(
            size: TerminalSize(width: size.width, height: size.height), now: Date(),
            options: ConsoleOptions(
                readOnly: readOnly, noColor: noColor || !terminal.usesColor, connection: connection,
                mappings: mappings, defaultSubscription: defaultSubscription))
        var previous: Grid?
        var dirty = true
        // Changes from the engine are drawn at most once per 50 ms (about 20 frames a second under any load); a key
        // or a resize is drawn at once unless a frame went out in the last 16 ms, so the operator never waits for a
        // timer. Nothing changes, nothing is drawn and no timer runs.
        let dataInterval = Duration.milliseconds(50)
        let keyInterval = Duration.milliseconds(16)
        var lastFrameAt = ContinuousClock.now - dataInterval
        var tickAt: ContinuousClock.Instant?
        func requestFrame(within interval: Duration) {
            guard dirty else { return }
            let due = lastFrameAt + interval
            if ContinuousClock.now >= due {
                let frame = render(state)
                framesRendered.add(1, ordering: .relaxed)
                present(frame, previous: previous, terminal: terminal)
                previous = frame
                dirty = false
                lastFrameAt = ContinuousClock.now
                return
            }
            if let tickAt, tickAt <= due { return }
            tickAt = due
            let continuation = inboxContinuation
            Task {
                try? await Task.sleep(until: due, clock: .continuous)
                continuation.yield(.renderTick)
            }
        }
        requestFrame(within: .zero)
        for await input in inbox {
            switch input {
            case .finished:
                return
            case .renderTick:
                tickAt = nil
                requestFrame(within: keyInterval)
            case .console(let event):
                if case .resize = event { previous = nil }
                let effects = state.handle(event)
                dirty = true
                for effect in effects {
                    if case .quit(let flushFirst) = effect {
                        if flushFirst { _ = try? await engine.flush(deadline: .seconds(15)) }
                        return
                    }
                    perform(effect)
                }
                switch event {
                case .key, .resize: requestFrame(within: keyInterval)
                default: requestFrame(within: dataInterval)
                }
            }
        }
    }

    private func present(_ frame: Grid, previous: Grid?, terminal: TerminalSession) {
        let changes: [CellChange]
        let full: Bool
        if let previous, previous.width == frame.width, previous.height == frame.height {
            changes = frame.diff(from: previous)
            full = false
        } else {
            changes = (0..<frame.height).flatMap { y in
                (0..<frame.width).map { x in CellChange(x: x, y: y, cell: frame[x, y]) }
            }
            full = true
        }
        guard !changes.isEmpty || full else { return }
        framesPresented.add(1, ordering: .relaxed)
        terminal.present(changes.map(Self.terminalCell), fullFrame: full)
    }

    static func terminalCell(_ change: CellChange) -> TerminalCell {
        let style = change.cell.style
        return TerminalCell(
            x: change.x, y: change.y, symbol: change.cell.symbol, bold: style.bold, dim: style.dim,
            reverse: style.reverse, underline: style.underline, foreground: style.fg.map { Int($0.rawValue) },
            background: style.bg.map { Int($0.rawValue) })
    }

    /// Frame counts as `lago-console bench --parts console` reads them: the process, the frames rendered (at most one
    /// per 50 ms render tick, only when something changed), handed to the terminal (non-empty diffs) and drawn by the
    /// curses thread, and the Unix time they were read at.
    struct FrameStats: Codable {
        var pid: Int32
        var rendered: Int
        var presented: Int
        var drawn: Int
        /// Milliseconds from reading each key to drawing the next frame (the last 10,000 keys).
        var keyToDrawMilliseconds: [Double]
        var time: Double
    }

    /// Opt-in measurement (`LAGO_CONSOLE_FRAME_STATS=/path`): replaces the file at `path` with the current
    /// ``FrameStats`` every 250 ms and once more when the session ends. Each snapshot carries its own time, so a
    /// reader computes rates from two snapshots whatever the interval.
    private func writeFrameStats(to path: String, _ terminal: TerminalSession) async {
        func write() {
            let stats = FrameStats(
                pid: getpid(), rendered: framesRendered.load(ordering: .relaxed),
                presented: framesPresented.load(ordering: .relaxed), drawn: terminal.framesDrawn,
                keyToDrawMilliseconds: terminal.keyToDrawMilliseconds,
                time: Date().timeIntervalSince1970)
            do {
                try JSONEncoder().encode(stats).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                logger.warning("cannot write frame stats", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
        while !Task.isCancelled {
            write()
            try? await Task.sleep(for: .milliseconds(250))
        }
        write()
    }

    // MARK: Producers

    private func forwardTerminal(_ terminal: TerminalSession) async {
        for await input in terminal.inputs {
            if let event = Self.consoleEvent(input) { post(event) }
        }
        inboxContinuation.yield(.finished)
    }

    static func consoleEvent(_ input: TerminalInput) -> ConsoleEvent? {
        switch input {
        case .character(let character): .key(.char(character))
        case .control(let character): .key(.ctrl(character))
        case .enter: .key(.enter)
        case .escape: .key(.escape)
        case .tab: .key(.tab)
        case .backTab: .key(.backTab)
        case .backspace: .key(.backspace)
        case .delete: .key(.delete)
        case .insert: nil
        case .up: .key(.up)
        case .down: .key(.down)
        case .left: .key(.left)
        case .right: .key(.right)
        case .home: .key(.home)
        case .end: .key(.end)
        case .pageUp: .key(.pageUp)
        case .pageDown: .key(.pageDown)
        case .function(let number): .key(.function(number))
        case .resize(let width, let height): .resize(width: width, height: height)
        }
    }

    /// Engine lifecycle changes, coalesced into one console event per ~50 ms.
    private func forwardLifecycle() async {
        let stream = engine.lifecycleEvents(bufferSize: 20_000)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await change in stream { self.pendingChanges.withLock { $0.append(change) } }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(50))
                    let changes = self.pendingChanges.withLock { changes -> [EventLifecycleChange] in
                        defer { changes.removeAll(keepingCapacity: true) }
                        return changes
                    }
                    if !changes.isEmpty {
                        self.post(.eventLifecycle(changes.map(self.eventUpdate)))
                        // Events resumed from the spool: their earlier attempts (Lago's answers) are read back, for
                        // at most 100 rows per 50 ms (a spool of a million retried events must not stall this loop).
                        for id in self.lifecycle.withLock({ $0.takeResumed() }).prefix(100) {
                            if let attempts = try? await self.engine.attemptLog(eventID: id), !attempts.isEmpty {
                                self.post(.eventAttempts(key: "#\(id)", LifecycleAdapter.timeline(attempts)))
                            }
                        }
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func eventUpdate(_ change: EventLifecycleChange) -> EventUpdate {
        lifecycle.withLock { $0.update(for: change) }
    }

    /// Engine stats four times a second (dead letters once a second); the events/s sparkline samples once a second.
    /// Only changes are posted, so an idle console does not redraw for nothing.
    private func pollStats() async {
        var tick = 0
        var deadLetters: [EngineDeadLetter] = []
        var lastStats: QueueStats?
        var lastConnection: ConnectionInfo?
        while !Task.isCancelled {
            guard let stats = try? await engine.stats() else {
                // Only an attached console gets here: the serve process it watches stopped answering.
                var info = connection
                info.link = .unreachable("lago-console serve is not answering")
                if info != lastConnection {
                    post(.connection(info))
                    lastConnection = info
                }
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            if tick % 4 == 0 {
                rateSamples.withLock {
                    $0.append(stats.eventsPerSecond.lastSecond)
                    if $0.count > 60 { $0.removeFirst($0.count - 60) }
                }
                post(.tick(now: Date()))
                deadLetters = (try? await engine.deadLetters(limit: 200)) ?? deadLetters
            }
            let queue = queueStats(stats, deadLetters: deadLetters)
            if queue != lastStats {
                post(.stats(queue))
                lastStats = queue
            }
            var info = connection
            // A restarted serve (found again through its discovery file) has another pid.
            if let remote = engine as? RemoteEngine, info.attachedTo != nil {
                info.attachedTo = "serve pid \(remote.endpoint.pid)"
            }
            switch stats.state {
            case .authFailed: info.auth = .failed(stats.lastError ?? "authentication failed")
            default: info.auth = stats.requests > stats.failedRequests || stats.delivered > 0 ? .ok : .unknown
            }
            if stats.state == .backingOff, let error = stats.lastError {
                info.link = .unreachable(error)
            } else if stats.requests > 0 {
                info.link = .connected
            }
            if info != lastConnection {
                post(.connection(info))
                lastConnection = info
            }
            tick += 1
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    private func queueStats(_ stats: EngineStats, deadLetters: [EngineDeadLetter]) -> QueueStats {
        let now = Date()
        let engineState: ConsoleUI.EngineState =
            switch stats.state {
            case .running: .running
            case .paused: .paused
            case .authFailed: .authFailed(reason: stats.holdReason ?? stats.lastError ?? "authentication failed")
            case .wrongURL: .wrongURL(reason: stats.holdReason ?? stats.lastError ?? "HTTP 404")
            case .backingOff:
                .backingOff(
                    until: stats.retryingBatches.map(\.nextRetry).min() ?? now, reason: stats.lastError ?? "retrying")
            case .stopped: .stopped
            }
        let retrying = stats.retryingBatches.enumerated().map { index, batch in
            ConsoleUI.RetryingBatch(
                id: "\(index + 1)", eventCount: batch.eventCount, reason: batch.reason, httpStatus: nil,
                attempt: batch.attempt, nextRetryAt: batch.nextRetry)
        }
        let dead = deadLetters.map { letter in
            ConsoleUI.DeadLetter(
                id: String(letter.id),
                event: letter.event
                    ?? EventInput(transactionID: letter.transactionID, externalSubscriptionID: nil, code: "?"),
                reason: letter.reason.message, httpStatus: letter.reason.status, attempts: letter.attempts,
                failedAt: letter.deadAt)
        }
        return QueueStats(
            queued: stats.queued, inFlight: stats.inFlight,
            retrying: stats.retrying, delivered: stats.delivered,
            alreadyInLago: stats.alreadyInLago, dead: stats.dead, refused: stats.refused.total,
            oldestPendingAt: stats.oldestQueuedAge.map { now.addingTimeInterval(-$0.inSeconds) },
            eventsPerSecond: rateSamples.withLock { $0 }, latencyP50: stats.requestLatencyP50,
            latencyP99: stats.requestLatencyP99, engineState: engineState, retryingBatches: retrying,
            deadLetters: dead, spoolError: stats.spoolError, spoolErrorAt: stats.spoolErrorAt)
    }

    private func forwardConfigChanges() async {
        for await configuration in store.changes() {
            let mappings = configuration.metricCodes.byField
            try? await engine.setMapping(mappings)
            coding.withLock { $0.metricCodes = mappings }
            post(.config(mappings: mappings, defaultSubscription: configuration.lago.defaultSubscriptionID))
        }
    }

    // MARK: Effects

    private func perform(_ effect: Effect) {
        Task {
            do {
                try await execute(effect)
            } catch {
                logger.warning("console action failed", metadata: ["error": "\(error)"])
                post(.operationFailed(Self.describe(error)))
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        String(describing: error)
    }

    private func execute(_ effect: Effect) async throws {
        switch effect {
        case .flush:
            let started = ContinuousClock.now
            let result = try await engine.flush(deadline: .seconds(30))
            post(
                .flushFinished(
                    FlushSummary(
                        delivered: result.delivered, pending: result.pending, dead: result.dead,
                        duration: ContinuousClock.now - started)))
        case .sendUsage(let draft):
            var values: [CanonicalField: Double] = [:]
            for (field, value) in draft.values { values[field] = Double(value) }
            let record = UsageRecord(
                values: values, dimensions: draft.dimensions.mapValues { .string($0) },
                externalSubscriptionID: draft.externalSubscriptionID)
            do {
                let events = try events(for: record)
                let ids = try await engine.enqueue(events)
                post(.sendAccepted(transactionIDs: ids))
            } catch {
                post(.sendFailed(Self.describe(error)))
            }
        case .sendEvent(let draft):
            let event = EventInput(
                transactionID: draft.transactionID ?? "test_" + UUID().uuidString.lowercased(),
                externalSubscriptionID: draft.externalSubscriptionID ?? coding.withLock { $0.defaultSubscription },
                code: draft.code, timestamp: draft.timestamp, properties: draft.properties)
            do {
                let id = try await engine.enqueue([event])[0]
                post(.sendAccepted(transactionIDs: [id]))
            } catch {
                post(.sendFailed(Self.describe(error)))
            }
        case .saveMapping(let field, let code):
            try store.set(ConfigKey.metricCode(field).name, to: code)
            post(.mappingSaved(field: field, code: code))
        case .saveDefaultSubscription(let id):
            do {
                _ = try await client.subscription(externalID: id)
            } catch let error as LagoAPIError where error.status == 404 {
                post(.operationFailed("subscription \(id) does not exist in Lago (\(error.code ?? "not found"))"))
                return
            }
            try store.set(ConfigKey.lagoDefaultSubscriptionID.name, to: id)
            try await engine.setDefaultSubscription(id)
            coding.withLock { $0.defaultSubscription = id }
            post(.subscriptionSaved(id))
        case .verify(let transactionID):
            do {
                let event = try await client.event(transactionID: transactionID)
                post(.verifyFinished(transactionID: transactionID, result: .success(event)))
            } catch {
                post(
                    .verifyFinished(
                        transactionID: transactionID, result: .failure(OperationError(Self.describe(error)))))
            }
        case .checkMappings:
            do {
                post(.mappingsChecked(.success(try await client.allBillableMetrics())))
            } catch {
                post(.mappingsChecked(.failure(OperationError(Self.describe(error)))))
            }
        case .loadSubscriptions:
            do {
                post(.subscriptionsLoaded(.success(try await client.subscriptions(status: [.active]).items)))
            } catch {
                post(.subscriptionsLoaded(.failure(OperationError(Self.describe(error)))))
            }
        case .replayDeadLetter(let id, let edits):
            guard let number = Int64(id) else { return }
            let edit = edits.map {
                DeadLetterEdit(
                    code: $0.code, externalSubscriptionID: $0.externalSubscriptionID, properties: $0.properties,
                    transactionID: $0.transactionID)
            }
            switch try await engine.replayDeadLetter(id: number, edit: edit) {
            case .queued(let transactionID):
                post(.operationSucceeded("replayed \(transactionID)"))
            case .alreadyInLago(let transactionID):
                post(.operationSucceeded("already in Lago: \(transactionID) is stored there exactly as here, nothing sent"))
            case .differsInLago(let transactionID, _, _, let differences):
                post(
                    .operationFailed(
                        "not replayed: Lago holds a different event under \(transactionID) ("
                            + differences.joined(separator: "; ")
                            + "); e edits it: give a new transaction id to bill this one"))
            }
        case .discardDeadLetter(let id):
            guard let number = Int64(id) else { return }
            try await engine.discardDeadLetter(id: number)
            post(.operationSucceeded("discarded dead letter \(id)"))
        case .retryNow:
            try await engine.retryDelivery()
            post(.operationSucceeded("retrying now"))
        case .copy(let text):
            post(.operationSucceeded(Self.copy(text)))
        case .quit:
            break
        }
    }

    /// Copies to the tmux buffer when inside tmux, else to a file next to the log.
    static func copy(_ text: String) -> String {
        if ProcessInfo.processInfo.environment["TMUX"] != nil {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["tmux", "set-buffer", "--", text]
            if (try? process.run()) != nil {
                process.waitUntilExit()
                if process.terminationStatus == 0 { return "copied to the tmux buffer" }
            }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lago-console-copy.txt")
        do {
            try Data(text.utf8).write(to: path, options: .atomic)
            return "saved to \(path.path)"
        } catch {
            return "could not copy: \(error)"
        }
    }

    // MARK: Demo traffic

    /// Realistic LLM usage: a few models and providers, token counts with a long tail, occasional cache and tool use.
    private func generateDemoTraffic() async {
        var random = SystemRandomNumberGenerator()
        let models = [("gpt-4.1", "openai"), ("claude-sonnet-4", "anthropic"), ("gemini-2.5-pro", "google"),
            ("llama-3.3-70b", "meta")]
        while !Task.isCancelled {
            let (model, provider) = models.randomElement(using: &random)!
            var values: [CanonicalField: Double] = [
                .input: Double(Int.random(in: 50...4000, using: &random)),
                .output: Double(Int.random(in: 10...1200, using: &random)),
            ]
            if Bool.random(using: &random) { values[.cacheRead] = Double(Int.random(in: 100...8000, using: &random)) }
            if Int.random(in: 0..<5, using: &random) == 0 {
                values[.toolCalls] = Double(Int.random(in: 1...4, using: &random))
            }
            if provider == "anthropic", Int.random(in: 0..<4, using: &random) == 0 {
                values[.cacheWrite5m] = Double(Int.random(in: 200...3000, using: &random))
            }
            let record = UsageRecord(values: values, dimensions: ["model": .string(model), "provider": .string(provider)])
            if let events = try? events(for: record) {
                _ = try? await engine.enqueue(events)
            }
            try? await Task.sleep(for: .milliseconds(Int.random(in: 300...900, using: &random)))
        }
    }
}
