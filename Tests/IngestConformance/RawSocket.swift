import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Raw TCP for connection-level faults (moved here from LagoSandboxTests; `RawConnection` is new). Every blocking
// call runs on a GCD thread, never on Swift's cooperative pool, which serves the in-process servers under test.

/// What a raw TCP exchange saw: the bytes received until the peer closed, and how it closed.
public struct RawExchange: Sendable {
    public var bytes: [UInt8]
    /// The peer closed (FIN or RST) rather than the read timing out.
    public var closedByPeer: Bool

    public init(bytes: [UInt8], closedByPeer: Bool) {
        self.bytes = bytes
        self.closedByPeer = closedByPeer
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The value of a response header in the received head, if any.
    public func header(_ name: String) -> String? {
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        for line in text[..<headEnd.lowerBound].split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The status code of the response, if a status line arrived.
    public var status: Int? {
        guard text.hasPrefix("HTTP/1.1 "), text.count >= 12 else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }

    /// A head and as many body bytes as its `Content-Length` says have arrived.
    public var isCompleteResponse: Bool {
        guard text.range(of: "\r\n\r\n") != nil else { return false }
        guard let length = header("content-length").flatMap({ Int($0) }) else { return false }
        return bodyBytes.count >= length
    }

    /// Bytes after the head.
    public var bodyBytes: [UInt8] {
        guard let headEnd = text.range(of: "\r\n\r\n") else { return [] }
        return Array(text[headEnd.upperBound...].utf8)
    }
}

/// Sends raw bytes to 127.0.0.1:port and reads until the peer closes (or 10 s pass).
public func rawExchange(port: Int, request: String) async throws -> RawExchange {
    let connection = try await RawConnection.open(port: port)
    defer { connection.close() }
    _ = try await connection.send(Array(request.utf8))
    return try await connection.receiveUntilClosed(timeout: .seconds(10))
}

public struct RawSocketError: Error, CustomStringConvertible {
    public var description: String
}

/// One TCP connection to 127.0.0.1, driven byte by byte: for partial bodies, trickles and stalls.
///
/// Closed by ``close()`` or when released. Safe to share: the descriptor is immutable and every call runs its
/// blocking system call on a GCD thread.
public final class RawConnection: Sendable {
    private let descriptor: Int32
    private let closed = Mutex(false)

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        close()
    }

    /// Connects to 127.0.0.1:port.
    /// - Throws: ``RawSocketError`` when the connection is refused.
    public static func open(port: Int) async throws -> RawConnection {
        try await offPool {
            #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard fd >= 0 else { throw RawSocketError(description: "socket() failed: \(errno)") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                let error = errno
                _ = posixClose(fd)
                throw RawSocketError(description: "connect() failed: \(error)")
            }
            return RawConnection(descriptor: fd)
        }
    }

    /// Sends bytes; returns false when the peer has closed the connection (nothing more can be sent).
    @discardableResult
    public func send(_ bytes: [UInt8]) async throws -> Bool {
        let fd = descriptor
        return await Self.offPool {
            var sent = 0
            while sent < bytes.count {
                let result = bytes[sent...].withUnsafeBytes { posixSend(fd, $0.baseAddress, $0.count) }
                if result <= 0 { return false }  // EPIPE / ECONNRESET: the peer closed
                sent += result
            }
            return true
        }
    }

    /// Sends text as UTF-8; returns false when the peer has closed the connection.
    @discardableResult
    public func send(_ text: String) async throws -> Bool {
        try await send(Array(text.utf8))
    }

    /// Reads until the peer closes the connection or `timeout` passes without it closing.
    public func receiveUntilClosed(timeout: Duration) async throws -> RawExchange {
        await receive(timeout: timeout) { _ in false }
    }

    /// Reads one HTTP response: its head and `Content-Length` bytes of body. Returns what arrived when the peer
    /// closes or `timeout` passes first (then ``RawExchange/isCompleteResponse`` is false).
    public func receiveResponse(timeout: Duration) async throws -> RawExchange {
        await receive(timeout: timeout) { RawExchange(bytes: $0, closedByPeer: false).isCompleteResponse }
    }

    /// Reads until `done` holds for what arrived, the peer closes, or `timeout` passes (off the concurrency pool).
    private func receive(timeout: Duration, until done: @escaping @Sendable ([UInt8]) -> Bool) async -> RawExchange {
        let fd = descriptor
        let deadline = ContinuousClock.now + timeout
        return await Self.offPool {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                if done(received) { return RawExchange(bytes: received, closedByPeer: false) }
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { return RawExchange(bytes: received, closedByPeer: false) }
                let microseconds = max(1000, Int64(remaining / .microseconds(1)))
                var wait = timeval(tv_sec: Int(microseconds / 1_000_000), tv_usec: Int(microseconds % 1_000_000))
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    received.append(contentsOf: buffer[0..<count])
                } else if count == 0 || errno == ECONNRESET {
                    return RawExchange(bytes: received, closedByPeer: true)
                } else if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK {
                    continue  // the deadline check above ends the loop
                } else {
                    return RawExchange(bytes: received, closedByPeer: false)
                }
            }
        }
    }

    /// Closes the socket (idempotent).
    public func close() {
        let wasClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        if !wasClosed {
            // Wakes a receive blocked on another thread (close(2) alone does not), then releases the descriptor.
            _ = shutdown(descriptor, Int32(SHUT_RDWR))
            _ = posixClose(descriptor)
        }
    }

    // A thread of its own per blocking call: GCD's global queues grow slowly past one thread per core when their
    // threads block in recv(2), so tests with many connections waiting at once saw answers seconds late.
    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}

private func posixClose(_ fd: Int32) -> Int32 {
    close(fd)
}

/// `send(2)` without SIGPIPE when the peer has closed.
private func posixSend(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    send(fd, bytes, count, Int32(MSG_NOSIGNAL))
    #else
    send(fd, bytes, count, 0)
    #endif
}

/// A minimal HTTP/1.1 request text.
public func rawRequest(_ method: String, _ path: String, body: String? = nil, apiKey: String = testAPIKey) -> String {
    var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(apiKey)\r\n"
    if let body {
        text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
    }
    text += "Connection: close\r\n\r\n"
    return text + (body ?? "")
}
