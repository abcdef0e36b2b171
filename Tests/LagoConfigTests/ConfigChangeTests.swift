import Foundation
import Testing

@testable import LagoConfig

@Suite("Change notifications")
struct ConfigChangeTests {
    @Test("Every subscriber gets every successful set, in order; failed sets are not published")
    func subscribersGetChanges() async throws {
        try await withTemporaryDirectory { folder in
            let store = try ConfigStore(path: "\(folder)/config.toml", environment: isolatedEnvironment(home: folder))
            var first = store.changes().makeAsyncIterator()
            var second = store.changes().makeAsyncIterator()

            try store.set("metric_codes.input", to: "one")
            #expect(throws: ConfigError.self) { try store.set("metric_codes.input", to: "") }
            try store.set("engine.max_in_flight", to: "2")

            let a1 = try #require(await first.next())
            let a2 = try #require(await first.next())
            #expect(a1.metricCodes[.input] == "one")
            #expect(a1.engine.maxInFlight == .auto)
            #expect(a2.engine.maxInFlight == 2)
            #expect(a2 == store.configuration)
            let b1 = try #require(await second.next())
            let b2 = try #require(await second.next())
            #expect([b1, b2] == [a1, a2])
        }
    }

    @Test("finish() ends every stream, and later streams start finished")
    func finishEndsStreams() async throws {
        try await withTemporaryDirectory { folder in
            let store = try ConfigStore(path: "\(folder)/config.toml", environment: isolatedEnvironment(home: folder))
            let stream = store.changes()
            try store.set("ui.no_color", to: "true")
            store.finish()
            var received: [LagoConsoleConfiguration] = []
            for await configuration in stream {
                received.append(configuration)
            }
            #expect(received.count == 1)
            var late = store.changes().makeAsyncIterator()
            #expect(await late.next() == nil)
        }
    }

    @Test("Streams finish when the store goes away")
    func deinitFinishes() async throws {
        try await withTemporaryDirectory { folder in
            var store: ConfigStore? = try ConfigStore(
                path: "\(folder)/config.toml",
                environment: isolatedEnvironment(home: folder)
            )
            let stream = try #require(store).changes()
            store = nil
            var iterator = stream.makeAsyncIterator()
            #expect(await iterator.next() == nil)
        }
    }

    @Test("A cancelled subscriber is dropped; the others still get changes")
    func cancelledSubscriber() async throws {
        try await withTemporaryDirectory { folder in
            let store = try ConfigStore(path: "\(folder)/config.toml", environment: isolatedEnvironment(home: folder))
            let cancelled = Task { for await _ in store.changes() {} }
            cancelled.cancel()
            await cancelled.value
            var kept = store.changes().makeAsyncIterator()
            try store.set("ui.readonly", to: "true")
            #expect(await kept.next()?.ui.readonly == true)
        }
    }
}
