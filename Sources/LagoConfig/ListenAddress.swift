import LagoAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `HOST:PORT` listen address as written in `relay.listen`: `127.0.0.1:8787`, `[::1]:8787`, `localhost:8787`.
public struct ListenAddress: Sendable, Equatable {
    /// The host without IPv6 brackets.
    public var host: String
    public var port: Int

    /// Parses `HOST:PORT` (IPv6 hosts in brackets; port 0...65535); `nil` when malformed.
    public init?(_ text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }),
            !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portText), (0...65_535).contains(port)
        else { return nil }
        self.host = String(host)
        self.port = port
    }

    /// What is wrong with `text` as a listen address, for an operator (`nil` when it is one): a port out of range
    /// is named with the range.
    public static func problem(_ text: String, example: String) -> String? {
        guard ListenAddress(text) == nil else { return nil }
        if let colon = text.lastIndex(of: ":") {
            let port = text[text.index(after: colon)...]
            if !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }), (Int(port) ?? .max) > 65_535 {
                return "port \(port) is out of range: give 1 to 65535 (0 picks a free port), for example \(example)"
            }
        }
        return "must be HOST:PORT, for example \(example)"
    }

    /// Whether the host is a loopback host.
    public var isLoopback: Bool { Self.isLoopbackHost(self.host) }

    /// Whether `host` is a loopback host (the rule the API client applies to plain-http URLs).
    static func isLoopbackHost(_ host: String) -> Bool { LagoBaseURL.isLoopback(host) }
}
