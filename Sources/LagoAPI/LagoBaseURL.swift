import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A validated Lago API root such as `https://api.getlago.com/api/v1`.
///
/// Accepts Lago Cloud URLs (`https://api.getlago.com/api/v1`, `https://api.eu.getlago.com/api/v1`) and self-hosted
/// origins with or without `/api/v1` (it is appended when missing). Plain `http://` is refused unless the host is
/// loopback or `allowInsecureHTTP` is set, so an API key never crosses a network in clear text by accident.
public struct LagoBaseURL: Sendable, Hashable, CustomStringConvertible {
    /// The API root, without a trailing slash, always ending in `/api/v1`.
    public let apiRoot: String
    /// The host name.
    public let host: String
    /// True for `https`.
    public let isSecure: Bool

    /// Parses and validates a base URL.
    /// - Throws: ``LagoAPIError`` of kind `.invalidURL` or `.insecureURL`.
    public init(_ text: String, allowInsecureHTTP: Bool = false) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https"
        else {
            throw LagoAPIError.url(.invalidURL, "'\(text)' is not an http(s) URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw LagoAPIError.url(.invalidURL, "'\(text)' has no host")
        }
        if components.query != nil || components.fragment != nil {
            throw LagoAPIError.url(.invalidURL, "'\(text)' must not have a query or fragment")
        }
        if scheme == "http" && !allowInsecureHTTP && !LagoBaseURL.isLoopback(host) {
            throw LagoAPIError.url(
                .insecureURL,
                "plain http to \(host) would send the API key in clear text; use https or allow insecure http")
        }
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        if !path.hasSuffix("/api/v1") { path += "/api/v1" }
        var root = "\(scheme)://"
        root += host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        if let port = components.port { root += ":\(port)" }
        self.apiRoot = root + path
        self.host = host
        self.isSecure = scheme == "https"
    }

    /// The full URL of an API path such as `/events/batch`.
    public func url(_ path: String) -> String { apiRoot + path }

    public var description: String { apiRoot }

    /// Whether `host` (a name or an IPv4/IPv6 literal, IPv6 with or without brackets) is a loopback host:
    /// `localhost` (and names under it), an address in `127.0.0.0/8`, or `::1` in any of its spellings.
    public static func isLoopback(_ host: String) -> Bool {
        var host = host
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        let name = host.lowercased()
        if name == "localhost" || name.hasSuffix(".localhost") {
            return true
        }
        var ipv4 = in_addr()
        if inet_pton(AF_INET, host, &ipv4) == 1 {
            return UInt32(bigEndian: ipv4.s_addr) >> 24 == 127
        }
        var ipv6 = in6_addr()
        if inet_pton(AF_INET6, host, &ipv6) == 1 {
            return withUnsafeBytes(of: &ipv6) { bytes in bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1 }
        }
        return false
    }
}

extension String {
    /// Percent-encodes everything but RFC 3986 unreserved characters, for one path segment.
    var lagoPathSegmentEncoded: String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        var ascii = CharacterSet()
        ascii.insert(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127))
        return addingPercentEncoding(withAllowedCharacters: allowed.intersection(ascii)) ?? self
    }
}
