public import ConsoleUI
import Foundation
public import LagoAPI
public import LagoBilling
public import LagoConfig
public import LagoEngine
public import Logging
import Synchronization
import Terminal

/// One console session: owns the `AppState`, feeds it events from the terminal, the engine and effect results,
/// runs its effects (``EffectRunner``) in its own task group, and hands frames to the terminal at most about 20
/// times a second (``FramePresenter``). Wiring only: the decisions are the reducer's and the adapters'.
public final class ConsoleSession: Sendable {
    private let engine: any EngineControl
    private let store: ConfigStore
    private let logger: Logger
    private let connection: ConnectionInfo
    private let defaultSubscription: String?
    private let readOnly: Bool
    private let noColor: Bool
    private let demoTraffic: Bool
    /// The main loop's inbox: bounded by coalescing (``ConsoleInboxQueue``).
    private let mailbox = ConsoleMailbox()
    /// Effects the main loop asked for, run by ``runEffects()``.
    private let effects: AsyncStream<EffectRequest>
    private let effectsContinuation: AsyncStream<EffectRequest>.Continuation
    /// When the next held-back frame is due, for ``runRenderTicks()``.
    private let frameDue: AsyncStream<ContinuousClock.Instant>
    private let frameDueContinuation: AsyncStream<ContinuousClock.Instant>.Continuation
    private let runner: EffectRunner
    /// Lago's billable metrics and subscriptions, kept fresh: each event's billing verdict is checked against them.
    private let billing: BillingCatalogueService
    /// Whether this session keeps ``billing`` fresh (it made it), or its owner does (the engine's own).
    private let runsBilling: Bool
    /// The metric-code mapping and default subscription new usage is coded with (follows the config store).
    private let coding: UsageCoding
    /// Where frame counts go for `lago-console bench --parts console` (`LAGO_CONSOLE_FRAME_STATS`); nil: nowhere.
    private let frameStatsPath: String?
    private let framesRendered = Atomic<Int>(0)
    private let interrupted = Atomic<Bool>(false)

    /// Whether the operator left with Ctrl-C (an interruption: the process should exit 130) rather than a quit.
    public var wasInterrupted: Bool { interrupted.load(ordering: .relaxed) }
    private let framesPresented = Atomic<Int>(0)

    /// Creates a session on `engine` (local or attached), with `client` for Lago's own answers and `store` for
    /// the mapping and the default subscription; `connection` is what the status line shows at first.
    public init(
        engine: any EngineControl, client: LagoClient, store: ConfigStore, logger: Logger, connection: ConnectionInfo,
        defaultSubscription: String?, readOnly: Bool, noColor: Bool, demoTraffic: Bool, frameStatsPath: String? = nil,
        billing: BillingCatalogueService? = nil
    ) {
        self.engine = engine
        self.store = store
        self.logger = logger
        self.connection = connection
        self.defaultSubscription = defaultSubscription
        self.readOnly = readOnly
        self.noColor = noColor
        self.demoTraffic = demoTraffic
        self.frameStatsPath = frameStatsPath
        (effects, effectsContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (frameDue, frameDueContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        coding = UsageCoding(
            metricCodes: store.configuration.metricCodes.byField, defaultSubscription: defaultSubscription)
        // The local engine's catalogue when there is one (one set of loads); else the console's own.
        let catalogue = billing ?? BillingCatalogueService(client: client)
        self.billing = catalogue
        runsBilling = billing == nil
        runner = EffectRunner(engine: engine, client: client, store: store, coding: coding, billing: catalogue)
    }

    /// Runs the console until the operator quits (or the terminal's input ends), restoring the terminal whatever
    /// happens. Effects still running are cancelled; a flush ends at once (the engine answers a cancelled flush).
    /// `relayProblem`: why the relay the console runs could not listen (the status line and the Queue pane say so).
    /// - Throws: ``TerminalError`` when there is no usable terminal.
    public func run(relayProblem: String? = nil) async throws {
        var opening = self.connection
        opening.relayProblem = relayProblem
        let connection = opening
        try await TerminalSession.withTerminal(noColor: noColor) { terminal in
            await withTaskGroup(of: Void.self) { group in
                // Keys travel on the UI's own queue too: the concurrency pool may be busy with engine work.
                let ui = UIExecutor()
                group.addTask(executorPreference: ui) { await self.forwardTerminal(terminal) }
                let billing = self.billing
                if runsBilling { group.addTask { await billing.run() } }
                let feed = EngineFeed(engine: engine, check: { billing.check($0) }, catalogue: billing) {
                    self.mailbox.post($0)
                }
                group.addTask { await feed.forwardLifecycle() }
                group.addTask { await feed.pollStats(connection: connection) }
                group.addTask { await self.forwardConfigChanges() }
                group.addTask { await self.runEffects() }
                group.addTask { await self.runRenderTicks() }
                if demoTraffic && !readOnly {
                    group.addTask { [engine, coding] in await DemoTraffic.run(engine: engine, coding: coding) }
                }
                if let frameStatsPath {
                    group.addTask {
                        await FrameStats.keepWriting(to: frameStatsPath, logger: self.logger) {
                            FrameStats(
                                pid: getpid(), rendered: self.framesRendered.load(ordering: .relaxed),
                                presented: self.framesPresented.load(ordering: .relaxed), drawn: terminal.framesDrawn,
                                keyToDrawMilliseconds: terminal.keyToDrawMilliseconds,
                                time: Date().timeIntervalSince1970)
                        }
                    }
                }
                await withTaskExecutorPreference(ui) { await self.mainLoop(terminal, connection: connection) }
                mailbox.close()
                effectsContinuation.finish()
                frameDueContinuation.finish()
                group.cancelAll()
            }
        }
    }

    // MARK: Main loop (the only owner of AppState)

    private func mainLoop(_ terminal: TerminalSession, connection: ConnectionInfo) async {
        let size = terminal.size
        let config = store.configuration
        let mappings = config.metricCodes.byField
        var state = AppState(
            size: TerminalSize(width: size.width, height: size.height), now: Date(),
            options: ConsoleOptions(
                readOnly: readOnly, noColor: noColor || !terminal.usesColor, connection: connection,
                mappings: mappings, defaultSubscription: defaultSubscription,
                usageRefreshInterval: config.usage.refreshIntervalSeconds,
                usageCountTimeout: config.usage.countTimeoutSeconds))
        // The terminal side keeps the previous frame and paces frames (see ``FramePresenter``).
        var frames = FramePresenter(now: .now)
        func handle(_ request: FrameRequest) {
            switch request {
            case .draw:
                let frame = Frame(render(state))
                framesRendered.add(1, ordering: .relaxed)
                if let drawn = frames.draw(frame, now: .now) {
                    framesPresented.add(1, ordering: .relaxed)
                    terminal.present(drawn.cells, fullFrame: drawn.fullFrame)
                }
            case .tick(let due):
                frameDueContinuation.yield(due)
            case .nothing:
                break
            }
        }
        handle(frames.changed(urgent: true, now: .now))
        while let input = await mailbox.next() {
            switch input {
            case .finished:
                return
            case .renderTick:
                handle(frames.tickFired(now: .now))
            case .console(let event):
                if case .resize = event { frames.invalidate() }
                for request in state.handle(event) {
                    if request.effect == .quit(flushFirst: false) {
                        if state.interrupted { interrupted.store(true, ordering: .relaxed) }
                        return
                    }
                    effectsContinuation.yield(request)
                }
                switch event {
                case .key, .resize: handle(frames.changed(urgent: true, now: .now))
                default: handle(frames.changed(urgent: false, now: .now))
                }
            }
        }
    }

    /// Runs each effect the main loop asks for in a child task of this session, answering through the mailbox.
    private func runEffects() async {
        await withDiscardingTaskGroup { group in
            for await request in effects {
                group.addTask {
                    await self.runner.run(request) { event in
                        if case .operationFailed(_, let error) = event {
                            self.logger.warning("console action failed", metadata: ["error": "\(error.message)"])
                        }
                        self.mailbox.post(event)
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// Posts a render tick when a held-back frame is due. Each due time gets its own child task, so an earlier one
    /// (a key after engine changes) is not held behind a later one; a tick that finds nothing to draw does nothing.
    private func runRenderTicks() async {
        await withDiscardingTaskGroup { group in
            for await due in frameDue {
                group.addTask {
                    try? await Task.sleep(until: due, clock: .continuous)
                    self.mailbox.post(.renderTick)
                }
            }
            group.cancelAll()
        }
    }

    // MARK: Producers

    private func forwardTerminal(_ terminal: TerminalSession) async {
        for await input in terminal.inputs {
            if let event = ConsoleEvent(input) { mailbox.post(event) }
        }
        mailbox.post(.finished)
    }

    private func forwardConfigChanges() async {
        for await configuration in store.changes() {
            let mappings = configuration.metricCodes.byField
            try? await engine.setMapping(mappings)
            coding.metricCodes = mappings
            mailbox.post(.config(mappings: mappings, defaultSubscription: configuration.lago.defaultSubscriptionID))
        }
    }
}
