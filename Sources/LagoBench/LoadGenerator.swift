import AsyncHTTPClient
import Foundation
import LagoSandbox
import NIOCore
import Synchronization

/// Posts batches to the relay on a fixed schedule (batch `i` due at `start + i × batchSize / eventsPerSecond`) from
/// several keep-alive clients until stopped or past its deadline; a batch behind schedule goes at once.
final class LoadGenerator: Sendable {
    struct Outcome: Sendable {
        var accepted: Int
        var refused: Int
        var firstRefusal: String?
        var maxLagMilliseconds: Double
    }

    let url: String
    let eventsPerSecond: Int
    let batchSize: Int
    let clients: Int
    let deadline: ContinuousClock.Instant
    private let stopped = Atomic<Bool>(false)
    private let nextBatch = Atomic<Int>(0)
    private let acceptedEvents = Atomic<Int>(0)
    private let refusedBatches = Atomic<Int>(0)
    private let firstRefusal = Mutex<String?>(nil)
    private let maxLag = Mutex<Duration>(.zero)
    private let runID = String(UUID().uuidString.prefix(8)).lowercased()

    init(
        url: String, eventsPerSecond: Int, batchSize: Int, clients: Int,
        deadline: ContinuousClock.Instant
    ) {
        self.url = url
        self.eventsPerSecond = eventsPerSecond
        self.batchSize = batchSize
        self.clients = clients
        self.deadline = deadline
    }

    /// Events answered 200 so far.
    var accepted: Int { acceptedEvents.load(ordering: .relaxed) }

    /// Stops after the requests in flight.
    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Posts until ``stop()`` or the deadline, then shuts its clients down.
    func run() async throws -> Outcome {
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)
        let httpClients = (0..<clients).map { _ in
            HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        }
        let interval = Duration.seconds(Double(batchSize) / Double(eventsPerSecond))
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for client in httpClients {
                group.addTask { await self.lane(client, start: start, interval: interval) }
            }
        }
        for client in httpClients { try? await client.shutdown() }
        return Outcome(
            accepted: accepted, refused: refusedBatches.load(ordering: .relaxed),
            firstRefusal: firstRefusal.withLock { $0 },
            maxLagMilliseconds: maxLag.withLock { $0 / .milliseconds(1) })
    }

    private func lane(_ client: HTTPClient, start: ContinuousClock.Instant, interval: Duration) async {
        while !stopped.load(ordering: .relaxed) && !Task.isCancelled {
            let index = nextBatch.wrappingAdd(1, ordering: .relaxed).oldValue
            let due = start + interval * index
            guard due < deadline else { return }
            if due > .now {
                do { try await Task.sleep(until: due, clock: .continuous) } catch { return }
                if stopped.load(ordering: .relaxed) { return }
            }
            let lag = ContinuousClock.now - due
            maxLag.withLock { $0 = max($0, lag) }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Authorization", value: "Bearer bench")
            request.body = .bytes(ByteBuffer(string: body(batch: index)))
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                let answer = try await response.body.collect(upTo: 1 << 20)
                if response.status.code == 200 {
                    acceptedEvents.add(batchSize, ordering: .relaxed)
                } else {
                    refuse("\(response.status.code) \(String(buffer: answer))")
                }
            } catch  where !stopped.load(ordering: .relaxed) {
                refuse("\(error)")
            } catch {
                return
            }
        }
    }

    private func refuse(_ reason: String) {
        refusedBatches.add(1, ordering: .relaxed)
        firstRefusal.withLock { $0 = $0 ?? reason }
    }

    /// A batch of canonical input-token events for the sandbox's seeded subscription, unique transaction ids.
    func body(batch: Int) -> String {
        var text = #"{"events":["#
        text.reserveCapacity(batchSize * 160)
        for offset in 0..<batchSize {
            let number = batch * batchSize + offset
            if offset > 0 { text += "," }
            text +=
                #"{"transaction_id":"console-bench-\#(runID)-\#(number)","#
                + #""external_subscription_id":"\#(SandboxSeed.subscriptionExternalID)","#
            text += #""code":"llm_input_tokens","properties":{"value":"\#(number % 4000 + 1)"}}"#
        }
        return text + "]}"
    }
}
