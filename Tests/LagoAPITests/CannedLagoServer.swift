import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Synchronization

/// A request the canned server received.
struct ReceivedRequest: Sendable {
    var method: String
    var path: String
    var query: String
    var headers: [String: String]
    var body: String
}

/// A response the canned server sends for one route.
struct CannedResponse: Sendable {
    var status: Int
    var body: String
    var headers: [String: String] = [:]
    var delay: Duration = .zero
}

/// An in-process HTTP server on an ephemeral loopback port answering canned Lago bodies, recording requests.
///
/// Used to test the client's decoding and classification against the exact bodies of the Lago facts.
final class CannedLagoServer: Sendable {
    private let routes = Mutex<[String: CannedResponse]>([:])
    private let received = Mutex<[ReceivedRequest]>([])

    /// Answers `method path` (path below `/api/v1`, without query) with `response`.
    func on(_ method: String, _ path: String, _ response: CannedResponse) {
        routes.withLock { $0["\(method) /api/v1\(path)"] = response }
    }

    var requests: [ReceivedRequest] { received.withLock { $0 } }

    func respond(_ request: Request) async throws -> Response {
        var body = try await request.body.collect(upTo: 16 * 1024 * 1024)
        let text = body.readString(length: body.readableBytes) ?? ""
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
        let path = request.uri.path
        received.withLock {
            $0.append(
                ReceivedRequest(
                    method: request.method.rawValue, path: path, query: request.uri.query ?? "", headers: headers,
                    body: text))
        }
        guard let canned = routes.withLock({ $0["\(request.method.rawValue) \(path)"] }) else {
            return Self.response(
                CannedResponse(status: 404, body: #"{"status":404,"error":"Not Found","code":"resource_not_found"}"#))
        }
        if canned.delay > .zero { try await Task.sleep(for: canned.delay) }
        return Self.response(canned)
    }

    private static func response(_ canned: CannedResponse) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json; charset=utf-8"
        for (name, value) in canned.headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        return Response(
            status: .init(code: canned.status), headers: fields,
            body: .init(byteBuffer: ByteBuffer(string: canned.body)))
    }

    /// Runs the server on an ephemeral port for the duration of `body`, passing the `http://127.0.0.1:PORT` origin.
    func withRunning<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: CallbackResponder { request, _ in try await self.respond(request) },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: { var logger = Logger(label: "canned-lago"); logger.logLevel = .critical; return logger }()
        ) as Application<CallbackResponder<BasicRequestContext>>
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = portStream.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else {
                group.cancelAll()
                throw CancellationError()
            }
            do {
                let result = try await body("http://127.0.0.1:\(port)")
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}

/// A loopback port with nothing listening on it (bound then closed).
/// A loopback port that refuses connections for as long as this value lives: the socket is bound but never
/// listens, so no other test can take the port meanwhile (a port merely closed could be reused by a parallel test's
/// server, which would then answer).
final class RefusingLoopbackPort: Sendable {
    let port: Int
    private let descriptor: Int32

    init() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        precondition(bound)
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}
