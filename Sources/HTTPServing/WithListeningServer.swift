public import Hummingbird
public import NIOCore

/// Runs a Hummingbird application until `body` returns, handing `body` the port it listens on (so port 0 works).
///
/// `makeApplication` receives the `onServerRunning` callback to pass to the application. When the server stops
/// before listening (the address is taken, say), its error is thrown, or `notListening()` when it stopped without one.
/// The server is cancelled when `body` returns or throws.
public func withListeningServer<App: ApplicationProtocol & Sendable, Result: Sendable>(
    _ makeApplication: (_ onServerRunning: @escaping @Sendable (any Channel) async -> Void) -> App,
    notListening: @Sendable () -> any Error,
    _ body: (_ port: Int) async throws -> Result
) async throws -> Result {
    let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
    let application = makeApplication { channel in
        portContinuation.yield(channel.localAddress?.port ?? 0)
        portContinuation.finish()
    }
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask {
            defer { portContinuation.finish() }
            try await application.runService(gracefulShutdownSignals: [])
        }
        var ports = portStream.makeAsyncIterator()
        guard let port = await ports.next(), port > 0 else {
            // The server stopped before listening: surface its error.
            try await group.next()
            throw notListening()
        }
        do {
            let result = try await body(port)
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// `host` as it goes in a URL (IPv6 literals in brackets).
public func urlHost(_ host: String) -> String {
    host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
}
