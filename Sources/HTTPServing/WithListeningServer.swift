public import Hummingbird
import Logging
public import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a Hummingbird application until `body` returns, handing `body` the port it listens on (so port 0 works).
///
/// `makeApplication` receives the `onServerRunning` callback to pass to the application. When the server stops
/// before listening (the address is taken, say), `notListening` makes the error thrown from why, in words
/// (``listenFailureReason(_:)``: "the address is in use", never an errno tuple).
///
/// When `body` returns or throws, the server shuts down gracefully: it stops accepting, lets the requests under way
/// finish, and closes its connections; one still open after `gracePeriod` (a streaming answer) is cut. Cancelling the
/// server outright instead can drop a connection it accepted but had not yet read from its accept stream, which
/// SwiftNIO traps on ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#2637).
public func withListeningServer<App: ApplicationProtocol & Sendable, Result: Sendable>(
    _ makeApplication: (_ onServerRunning: @escaping @Sendable (any Channel) async -> Void) -> App,
    notListening: @Sendable (_ reason: String) -> any Error,
    gracePeriod: Duration = .seconds(1),
    _ body: (_ port: Int) async throws -> Result
) async throws -> Result {
    let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
    let application = makeApplication { channel in
        portContinuation.yield(channel.localAddress?.port ?? 0)
        portContinuation.finish()
    }
    let services = ServiceGroup(
        configuration: .init(
            services: [application], gracefulShutdownSignals: [],
            logger: Logger(label: "lago.http-serving") { _ in SwiftLogNoOpLogHandler() }))
    // Each task says whether it is the server (true) or the grace period's timer (false).
    return try await withThrowingTaskGroup(of: Bool.self, returning: Result.self) { group in
        group.addTask {
            defer { portContinuation.finish() }
            try await services.run()
            return true
        }
        var ports = portStream.makeAsyncIterator()
        guard let port = await ports.next(), port > 0 else {
            // The server stopped before listening: say why.
            do {
                _ = try await group.next()
            } catch {
                throw notListening(listenFailureReason(error))
            }
            throw notListening("the server stopped before listening")
        }
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(try await body(port))
        } catch {
            outcome = .failure(error)
        }
        await services.triggerGracefulShutdown()
        group.addTask {
            try? await Task.sleep(for: gracePeriod)
            return false
        }
        // The server ends once its connections are closed, or the grace period does first: then it is cut.
        _ = try? await group.next()
        group.cancelAll()
        return try outcome.get()
    }
}

/// `host` as it goes in a URL (IPv6 literals in brackets).
public func urlHost(_ host: String) -> String {
    host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
}

/// Why a server could not listen, in words a person can act on: "the address is in use" (another process listens
/// there), "permission denied" (ports below 1024 need privileges), "the address is not on this machine", or the
/// system's own words for another failure; never a Swift type name or an errno tuple.
public func listenFailureReason(_ error: any Error) -> String {
    guard let error = error as? IOError else { return "the server could not start" }
    switch error.errnoCode {
    case EADDRINUSE: return "the address is in use (another process listens there)"
    case EACCES, EPERM: return "permission denied (ports below 1024 need privileges)"
    case EADDRNOTAVAIL: return "the address is not on this machine"
    default: return String(cString: strerror(error.errnoCode)).lowercased()
    }
}
