import Foundation
import Hummingbird
import HummingbirdCore
import LagoAPI
import LagoIngest
import Logging
import NIOCore

/// Request context that keeps the connection's channel, so faults can drop or cut a connection.
struct SandboxRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// HTTP/1 child channel that closes connections at accept time during an outage in `.refuse` mode.
struct SandboxChildChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let faults: SandboxFaults
    let counters: SandboxRequestCounters

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let future = http1.setup(channel: channel, logger: logger)
        guard faults.refusesConnections else { return future }
        counters.connectionRefused()
        // Let the pipeline finish setting up (a failed setup would end the server's accept loop), then close.
        return future.map { value in
            channel.close(promise: nil)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

/// Routes every request: the admin API under `/_sandbox`, everything else through the faults to Lago's routes.
/// Never throws: every answer is a Lago-shaped JSON body.
struct SandboxResponder: HTTPResponder {
    typealias Context = SandboxRequestContext

    let lago: LagoRoutes
    let admin: AdminRoutes
    let faults: SandboxFaults
    let counters: SandboxRequestCounters
    let maxBodyBytes: Int

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        if path == "/_sandbox" || path.hasPrefix("/_sandbox/") {
            guard let apiRequest = await apiRequest(request, context: context) else {
                return Self.response(.status(413))
            }
            return Self.response(admin.respond(to: apiRequest))
        }

        counters.request()
        let plan = faults.plan(method: request.method.rawValue, path: path)
        func answered(_ response: APIResponse) -> Response {
            var response = response
            // The rate limiter's headers on every answer it counted; a 429 fault's own headers win.
            let own = Set(response.headers.map { $0.0.lowercased() })
            response.headers += plan.headers.filter { !own.contains($0.name.lowercased()) }
            return self.answered(response)
        }
        // The answer leaves the configured latency after the request arrived, as from a Lago that far away: the
        // request is served at once, so the sandbox's own work (on this machine's cores, where a real Lago's is not)
        // is part of the delay instead of adding to it, and a wave of requests arriving together is answered on
        // time rather than one after another.
        let answerAt = plan.latency.map { ContinuousClock.now + $0 }
        func awaitAnswerTime() async {
            if let answerAt { try? await Task.sleep(until: answerAt, tolerance: .zero, clock: .continuous) }
        }
        if let early = plan.early {
            await awaitAnswerTime()
            counters.fault()
            if early != .drop {
                // Read (and discard) the request as Lago's proxy does before it answers: an answer sent over an
                // unread body leaves the keep-alive connection in doubt, and a client may send the next request
                // on a connection the server is closing.
                var unread = request
                _ = try? await unread.collectBody(upTo: maxBodyBytes)
            }
            switch early {
            case .drop:
                counters.dropped()
                return Self.drop(context.channel)
            case .status(429), .rateLimited:
                var retryAfter = 1
                var limit = 100
                if case .rateLimited(let seconds, let max) = early {
                    retryAfter = seconds
                    limit = max
                }
                return answered(.tooManyRequests(retryAfter: retryAfter, limit: limit))
            case .rateLimiterRefused:
                return answered(.status(429))
            case .status(let status):
                return answered(.status(status))
            case .proxyStatus(let status):
                counters.answered(status: status)
                return Self.proxyPage(status)
            }
        }

        guard let apiRequest = await apiRequest(request, context: context) else {
            await awaitAnswerTime()
            return answered(.status(413))
        }
        if request.method == .post, path.hasPrefix("/api/v1/events") { counters.recordEventBody(apiRequest.body) }
        let response = lago.respond(to: apiRequest)
        await awaitAnswerTime()
        switch plan.late {
        case nil:
            return answered(response)
        case .status503?:
            counters.fault()
            return answered(.status(503))
        case .drop?:
            counters.fault()
            counters.dropped()
            return Self.drop(context.channel)
        case .resetMidResponse?:
            counters.fault()
            counters.reset()
            return Self.resetMidResponse(response, channel: context.channel)
        }
    }

    private func answered(_ response: APIResponse) -> Response {
        counters.answered(status: response.status)
        return Self.response(response)
    }

    private func apiRequest(_ request: Request, context: Context) async -> APIRequest? {
        var request = request
        let body: [UInt8]
        do {
            let buffer = try await request.collectBody(upTo: maxBodyBytes)
            body = Array(buffer.readableBytesView)
        } catch {
            return nil
        }
        return APIRequest(
            method: request.method.rawValue,
            rawPath: request.uri.path,
            rawQuery: request.uri.query,
            authorization: request.headers[.authorization],
            contentType: request.headers[.contentType],
            body: body,
            fromLoopback: Self.isLoopback(context.channel.remoteAddress)
        )
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    static func headers(for response: APIResponse, contentLength: Int) -> HTTPFields {
        var fields = HTTPFields()
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.contentLength] = String(contentLength)
        for header in response.headers {
            // Header names here are fixed, valid tokens (Retry-After, X-RateLimit-*).
            fields[.init(header.name)!] = header.value
        }
        return fields
    }

    static func status(_ code: Int) -> HTTPResponse.Status {
        HTTPResponse.Status(code: code, reasonPhrase: APIResponse.reasonPhrase(code))
    }

    static func response(_ response: APIResponse) -> Response {
        let bytes = response.rawBody ?? response.body.bytes
        return Response(
            status: status(response.status),
            headers: headers(for: response, contentLength: bytes.count),
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// An error page as nginx writes one in front of an application: HTML, no JSON envelope.
    static func proxyPage(_ code: Int) -> Response {
        let title = "\(code) \(HTTPResponse.Status(code: code).reasonPhrase)"
        let page =
            "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n"
            + "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        var headers = HTTPFields()
        headers[.contentType] = "text/html"
        return Response(
            status: HTTPResponse.Status(code: code), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
    }

    /// Closes the connection without an answer (the write Hummingbird then attempts fails quietly).
    static func drop(_ channel: any Channel) -> Response {
        channel.close(promise: nil)
        return Response(status: .serviceUnavailable)
    }

    /// Sends the head (with the full `Content-Length`) and half the body, then closes the connection.
    static func resetMidResponse(_ response: APIResponse, channel: any Channel) -> Response {
        let bytes = response.body.bytes
        let half = max(1, bytes.count / 2)
        let partial = ByteBuffer(bytes: bytes.prefix(half))
        return Response(
            status: status(response.status),
            headers: headers(for: response, contentLength: bytes.count),
            body: ResponseBody(contentLength: bytes.count) { writer in
                try await writer.write(partial)
                // The write and the close are both queued on the channel's event loop, in this order.
                channel.eventLoop.execute {
                    channel.flush()
                    channel.close(promise: nil)
                }
                throw CancellationError()
            }
        )
    }
}
