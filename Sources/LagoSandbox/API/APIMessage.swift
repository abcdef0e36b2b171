import Foundation
import LagoIngest

/// A request as the Lago routes see it: method, raw and decoded path, decoded query, selected headers and body.
struct APIRequest: Sendable {
    var method: String
    /// The path as sent (percent-encoded).
    var path: String
    /// Path segments, percent-decoded.
    var segments: [String]
    /// Query parameters in order, percent-decoded (`+` is a space).
    var query: [(name: String, value: String)]
    var authorization: String?
    var contentType: String?
    var body: [UInt8]
    /// The peer is on the loopback interface.
    var fromLoopback: Bool

    init(
        method: String,
        rawPath: String,
        rawQuery: String?,
        authorization: String?,
        contentType: String?,
        body: [UInt8],
        fromLoopback: Bool
    ) {
        self.method = method
        self.path = rawPath
        var segments = rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            Self.percentDecode(Substring($0), plusIsSpace: false)
        }
        if segments.last == "" { segments.removeLast() }  // Rails ignores one trailing slash
        self.segments = segments
        self.query =
            rawQuery.map { raw in
                raw.split(separator: "&").compactMap { pair -> (name: String, value: String)? in
                    guard !pair.isEmpty else { return nil }
                    let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    let name = Self.percentDecode(parts[0], plusIsSpace: true)
                    let value = parts.count > 1 ? Self.percentDecode(parts[1], plusIsSpace: true) : ""
                    return (name, value)
                }
            } ?? []
        self.authorization = authorization
        self.contentType = contentType
        self.body = body
        self.fromLoopback = fromLoopback
    }

    /// The last value of a query parameter (Rails keeps the last), or nil.
    func queryValue(_ name: String) -> String? {
        query.last { $0.name == name }?.value
    }

    /// Every value of an array parameter (`status[]=a&status[]=b`), or the plain value (`status=a`).
    func queryValues(_ name: String) -> [String]? {
        let values = query.filter { $0.name == name + "[]" }.map(\.value)
        if !values.isEmpty { return values }
        return queryValue(name).map { [$0] }
    }

    static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String {
        guard text.contains("%") || (plusIsSpace && text.contains("+")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let high = hexValue(iterator[iterator.startIndex]),
                let low = hexValue(iterator[iterator.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                iterator.removeFirst(2)
            } else if plusIsSpace, byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Rails parses the body as JSON only for `application/json` (and its registered synonyms).
    var hasJSONContentType: Bool { LagoEventIngress.isJSONContentType(contentType) }
}
