import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a raw TCP exchange saw: the bytes received until the peer closed, and how it closed.
struct RawExchange: Sendable {
    var bytes: [UInt8]
    /// The peer closed (FIN or RST) rather than the read timing out.
    var closedByPeer: Bool

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The value of a response header in the received head, if any.
    func header(_ name: String) -> String? {
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        for line in text[..<headEnd.lowerBound].split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// Bytes after the head.
    var bodyBytes: [UInt8] {
        guard let headEnd = text.range(of: "\r\n\r\n") else { return [] }
        return Array(text[headEnd.upperBound...].utf8)
    }
}

/// Sends raw bytes to 127.0.0.1:port and reads until the peer closes (or 10 s pass), on a GCD thread so the
/// blocking calls never occupy Swift's cooperative pool. Used only for connection-level faults.
func rawExchange(port: Int, request: String) async throws -> RawExchange {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try blockingExchange(port: port, request: request) })
        }
    }
}

struct RawSocketError: Error, CustomStringConvertible {
    var description: String
}

private func blockingExchange(port: Int, request: String) throws -> RawExchange {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw RawSocketError(description: "socket() failed: \(errno)") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { throw RawSocketError(description: "connect() failed: \(errno)") }
    let bytes = Array(request.utf8)
    var sent = 0
    while sent < bytes.count {
        let result = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        if result <= 0 { break }  // the peer may already have closed (refused connection)
        sent += result
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            received.append(contentsOf: buffer[0..<count])
        } else if count == 0 {
            return RawExchange(bytes: received, closedByPeer: true)
        } else if errno == ECONNRESET {
            return RawExchange(bytes: received, closedByPeer: true)
        } else {
            return RawExchange(bytes: received, closedByPeer: false)
        }
    }
}

/// A minimal HTTP/1.1 request text.
func rawRequest(_ method: String, _ path: String, body: String? = nil, apiKey: String = testAPIKey) -> String {
    var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(apiKey)\r\n"
    if let body {
        text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
    }
    text += "Connection: close\r\n\r\n"
    return text + (body ?? "")
}
