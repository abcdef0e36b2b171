import ConsoleBridge
import ConsoleUI
import Foundation
import LagoAPI
import LagoBilling
import LagoConfig
import LagoEngine
import LagoSandbox
import Terminal
import Testing

/// An engine snapshot to edit: a real one, from an engine that never starts, on a temporary spool.
func baseStats() async throws -> EngineStats {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let engine = try LagoEngine(
        configuration: EngineConfiguration(spoolPath: folder.appendingPathComponent("spool.sqlite").path),
        baseURL: try LagoBaseURL("http://127.0.0.1:1", allowInsecureHTTP: true), apiKey: "k")
    let stats = await engine.stats()
    await engine.shutdown()
    return stats
}

@Suite("Engine stats → console events")
struct StatsPollerTests {
    let now = Date(timeIntervalSince1970: 1_764_000_000)
    let connection = ConnectionInfo(url: "http://lago/api/v1", isSandbox: false, maskedKey: "••••1234")

    @Test("Once a second a tick and a rate sample; only changes are posted")
    func postsOnlyChanges() async throws {
        var stats = try await baseStats()
        stats.queued = 3
        stats.eventsPerSecond.lastSecond = 7
        var poller = StatsPoller(connection: connection)
        #expect(poller.readsDeadLetters)
        let first = poller.polled(stats, deadLetters: [], attachedTo: nil, now: now)
        #expect(first.count == 3)  // tick, stats, connection
        guard case .tick = first[0], case .stats(let queue) = first[1], case .connection = first[2] else {
            Issue.record("unexpected \(first)")
            return
        }
        #expect(queue.queued == 3)
        #expect(queue.eventsPerSecond == [7])
        #expect(!poller.readsDeadLetters)
        #expect(poller.polled(stats, deadLetters: nil, attachedTo: nil, now: now).isEmpty)
        stats.queued = 4
        let changed = poller.polled(stats, deadLetters: nil, attachedTo: nil, now: now)
        guard case .stats(let next)? = changed.first, changed.count == 1 else {
            Issue.record("unexpected \(changed)")
            return
        }
        #expect(next.queued == 4)
    }

    @Test("The engine's hold and errors become the status line's auth and link")
    func connectionState() async throws {
        var stats = try await baseStats()
        stats.state = .authFailed
        stats.lastError = "HTTP 401 unauthorized"
        stats.holdReason = "Lago refused the API key"
        var poller = StatsPoller(connection: connection)
        let events = poller.polled(stats, deadLetters: [], attachedTo: nil, now: now)
        let info = events.compactMap { if case .connection(let info) = $0 { info } else { nil } }.first
        #expect(info?.auth == .failed("HTTP 401 unauthorized"))
        let queue = events.compactMap { if case .stats(let queue) = $0 { queue } else { nil } }.first
        #expect(queue?.engineState == .authFailed(reason: "Lago refused the API key"))
        stats.state = .backingOff
        stats.lastError = "connection refused"
        stats.requests = 3
        stats.failedRequests = 3
        let later = poller.polled(stats, deadLetters: nil, attachedTo: nil, now: now)
        let link = later.compactMap { if case .connection(let info) = $0 { info.link } else { nil } }.first
        #expect(link == .unreachable("connection refused"))
        #expect(poller.unavailable().count == 1)
        #expect(poller.unavailable().isEmpty)
    }

    @Test("An attached console follows a restarted serve's pid")
    func servePID() async throws {
        let stats = try await baseStats()
        var attached = connection
        attached.attachedTo = EngineHolder("serve", pid: 1)
        var poller = StatsPoller(connection: attached)
        let events = poller.polled(stats, deadLetters: [], attachedTo: EngineHolder("serve", pid: 42), now: now)
        let info = events.compactMap { if case .connection(let info) = $0 { info } else { nil } }.first
        #expect(info?.attachedTo == EngineHolder("serve", pid: 42))
    }

    @Test("When the process an attached console watches stops, the link says it is gone until one answers again")
    func holderGone() async throws {
        let stats = try await baseStats()
        var attached = connection
        attached.attachedTo = EngineHolder("console", pid: 7)
        var poller = StatsPoller(connection: attached)
        _ = poller.polled(stats, deadLetters: [], attachedTo: EngineHolder("console", pid: 7), now: now)
        let gone = poller.unavailable().compactMap { if case .connection(let info) = $0 { info } else { nil } }
        #expect(gone.map(\.link) == [.holderGone(holder: "console")])
        #expect(gone.first?.attachedTo == EngineHolder("console", pid: 7), "still says what it was attached to")
        #expect(poller.unavailable().isEmpty, "said once")
        // A serve started on the spool answers: the console is attached to it.
        var delivering = stats
        delivering.requests = 1
        let back = poller.polled(delivering, deadLetters: nil, attachedTo: EngineHolder("serve", pid: 9), now: now)
        let info = back.compactMap { if case .connection(let info) = $0 { info } else { nil } }.first
        #expect(info?.link == .connected)
        #expect(info?.attachedTo == EngineHolder("serve", pid: 9))
    }

    @Test("The status line shows the Lago URL and masked key the engine delivers with now")
    func followsTheEnginesLago() async throws {
        var stats = try await baseStats()
        var poller = StatsPoller(connection: connection)
        stats.lagoURL = "https://eu.lago.example/api/v1"
        stats.maskedKey = "••••9f3e"
        let events = poller.polled(stats, deadLetters: [], attachedTo: nil, now: now)
        let info = events.compactMap { if case .connection(let info) = $0 { info } else { nil } }.first
        #expect(info?.url == "https://eu.lago.example/api/v1")
        #expect(info?.maskedKey == "••••9f3e")
    }

    @Test("The sparkline keeps the last 60 samples")
    func sparkline() async throws {
        var stats = try await baseStats()
        var poller = StatsPoller(connection: connection)
        var last: QueueStats?
        for second in 0..<70 {
            stats.eventsPerSecond.lastSecond = Double(second)
            for _ in 0..<4 {
                for case .stats(let queue) in poller.polled(stats, deadLetters: nil, attachedTo: nil, now: now) {
                    last = queue
                }
            }
        }
        #expect(last?.eventsPerSecond.count == 60)
        #expect(last?.eventsPerSecond.last == 69)
    }
}

@Suite("The console's bounded inbox")
struct ConsoleInboxTests {
    func update(_ index: Int) -> EventUpdate {
        EventUpdate(
            transactionID: "t\(index)", code: "c", externalSubscriptionID: nil, state: .queued,
            time: Date(timeIntervalSince1970: 0))
    }

    @Test("Latest stats win; keys keep their order")
    func latestStatsWin() {
        var queue = ConsoleInboxQueue()
        queue.append(.console(.stats(QueueStats(queued: 1))))
        queue.append(.console(.key(.char("a"))))
        queue.append(.console(.stats(QueueStats(queued: 2))))
        queue.append(.console(.key(.char("b"))))
        #expect(queue.count == 3)
        guard case .console(.stats(let stats))? = queue.popFirst(),
            case .console(.key(.char("a")))? = queue.popFirst(),
            case .console(.key(.char("b")))? = queue.popFirst()
        else {
            Issue.record("wrong order")
            return
        }
        #expect(stats.queued == 2)
        let rest = queue.popFirst()
        #expect(rest == nil)
    }

    @Test("Lifecycle batches merge up to the cap; what does not fit is counted as missed")
    func lifecycleCapped() {
        var queue = ConsoleInboxQueue(lifecycleCapacity: 10)
        queue.append(.console(.eventLifecycle((0..<6).map(update))))
        queue.append(.console(.eventLifecycle((6..<14).map(update))))
        guard case .console(.lifecycleMissed(let missed))? = queue.popFirst(),
            case .console(.eventLifecycle(let updates))? = queue.popFirst()
        else {
            Issue.record("expected a missed count, then one batch")
            return
        }
        #expect(missed == 4)
        #expect(updates.map(\.transactionID) == (0..<6).map { "t\($0)" } + (10..<14).map { "t\($0)" })
        // Once taken, there is room again.
        queue.append(.console(.eventLifecycle((0..<10).map(update))))
        guard case .console(.eventLifecycle(let again))? = queue.popFirst() else {
            Issue.record("expected a batch")
            return
        }
        #expect(again.count == 10)
    }

    @Test("The mailbox hands inputs to a waiting consumer and nil once closed")
    func mailbox() async {
        let mailbox = ConsoleMailbox()
        async let first = mailbox.next()
        mailbox.post(.key(.char("x")))
        guard case .console(.key(.char("x")))? = await first else {
            Issue.record("no key")
            return
        }
        mailbox.post(.renderTick)
        mailbox.close()
        guard case .renderTick? = await mailbox.next() else {
            Issue.record("what waited is still handed out")
            return
        }
        #expect(await mailbox.next() == nil)
    }

    @Test("The lifecycle buffer drops the oldest tenth when full and counts it")
    func lifecycleBuffer() {
        var buffer = LifecycleBuffer(capacity: 10)
        for index in 0..<12 {
            buffer.append(
                EventLifecycleChange(
                    transactionID: "t\(index)", stage: .queued, date: Date(timeIntervalSince1970: 0),
                    event: EventInput(transactionID: "t\(index)", externalSubscriptionID: "s", code: "c"),
                    eventID: Int64(index)))
        }
        let batch = buffer.take()
        #expect(batch.missed == 2)
        #expect(batch.updates.first?.transactionID == "t2")
        #expect(batch.updates.count == 10)
        let next = buffer.take()
        #expect(next.missed == 0)
    }

    @Test("Changes the engine's or serve's stream dropped (missedBefore) count as missed too")
    func upstreamMissedMarker() {
        var buffer = LifecycleBuffer(capacity: 10)
        var change = EventLifecycleChange(
            transactionID: "t1", stage: .delivered, date: Date(timeIntervalSince1970: 0),
            event: EventInput(transactionID: "t1", externalSubscriptionID: "s", code: "c"), eventID: 1)
        change.missedBefore = 7
        buffer.append(change)
        let batch = buffer.take()
        #expect(batch.missed == 7)
        #expect(batch.updates.map(\.transactionID) == ["t1"])
        #expect(buffer.take().missed == 0)
    }
}

@Suite("Terminal input → console events")
struct TerminalEventTests {
    @Test func keysAndResizes() {
        guard case .key(.char("q"))? = ConsoleEvent(.character("q")),
            case .key(.ctrl("c"))? = ConsoleEvent(.control("c")),
            case .key(.pageDown)? = ConsoleEvent(.pageDown),
            case .resize(let width, let height)? = ConsoleEvent(.resize(width: 100, height: 30))
        else {
            Issue.record("a terminal input was not mapped")
            return
        }
        #expect(width == 100 && height == 30)
        #expect(ConsoleEvent(.insert) == nil)
        let frame = Frame(Grid(width: 3, height: 1))
        #expect(frame.cells.count == 3)
        #expect(frame.changes(from: nil).count == 3)
    }
}

/// Issue #17: the key is checked at start — the catalogue's first read is an authenticated call, so a wrong key
/// shows on the status line before any event is sent, and a right one shows ✔.
@Suite("The API key checked at start")
struct KeyCheckAtStartTests {
    let now = Date(timeIntervalSince1970: 1_764_000_000)
    let connection = ConnectionInfo(url: "http://lago/api/v1", isSandbox: true, maskedKey: "••••beef")

    private func auth(apiKey: (Sandbox) -> String) async throws -> AuthState? {
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let configuration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: apiKey(sandbox))
            return try await withLagoClient(configuration: configuration) { client in
                let catalogue = BillingCatalogueService(
                    client: client, refreshInterval: .seconds(3600), minimumLoadSpacing: .milliseconds(50))
                let refresher = Task { await catalogue.run() }
                defer { refresher.cancel() }
                let deadline = ContinuousClock.now + .seconds(20)
                while catalogue.status.loadedAt == nil && catalogue.status.lastError == nil,
                    ContinuousClock.now < deadline
                {
                    try await Task.sleep(for: .milliseconds(20))
                }
                var poller = StatsPoller(connection: connection)
                _ = poller.catalogue(catalogue.catalogue, status: catalogue.status)
                // No event sent: the engine has made no request.
                let events = poller.polled(try await baseStats(), deadLetters: [], attachedTo: nil, now: now)
                return events.compactMap { if case .connection(let info) = $0 { info.auth } else { nil } }.first
            }
        }
    }

    @Test func aWrongKeyShowsFailedBeforeAnyEventIsSent() async throws {
        let state = try await auth { _ in "wrong-key" }
        guard case .failed(let reason)? = state else {
            Issue.record("auth \(String(describing: state))")
            return
        }
        #expect(reason.contains("401"), "\(reason)")
    }

    @Test func theRightKeyShowsOKBeforeAnyEventIsSent() async throws {
        #expect(try await auth { $0.apiKey } == .ok)
    }
}
