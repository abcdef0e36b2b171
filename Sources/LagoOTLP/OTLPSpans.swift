import Foundation
import OTLPProto
import SwiftProtobuf

/// An OTLP attribute value, as much of it as usage needs: scalars kept, arrays, key-value lists and bytes only named.
public enum OTLPValue: Sendable, Hashable {
    /// `stringValue`.
    case string(String)
    /// `intValue` (a JSON string or number of a 64-bit integer; protobuf `int64`).
    case int(Int64)
    /// `doubleValue`.
    case double(Double)
    /// `boolValue`.
    case bool(Bool)
    /// `arrayValue`, `kvlistValue`, `bytesValue` or an empty value: no usage field takes one.
    case other(kind: String)

    /// What the value is, in OTLP's words (`intValue`, `stringValue`, …), for an error message.
    public var kind: String {
        switch self {
        case .string: "stringValue"
        case .int: "intValue"
        case .double: "doubleValue"
        case .bool: "boolValue"
        case .other(let kind): kind
        }
    }
}

/// One span of an `ExportTraceServiceRequest`, read from OTLP JSON or protobuf: what the usage mapping reads.
public struct OTLPSpan: Sendable, Hashable {
    /// The trace id, lowercase hex (32 digits when well-formed).
    public var traceID: String
    /// The span id, lowercase hex (16 digits when well-formed).
    public var spanID: String
    /// The parent span id, lowercase hex; empty for a root span.
    public var parentSpanID: String
    /// The span's name (`chat gpt-4.1`, `execute_tool get_weather`).
    public var name: String
    /// The start, nanoseconds since the Unix epoch (0 when not sent).
    public var startTimeUnixNano: UInt64
    /// The end, nanoseconds since the Unix epoch (0 when not sent).
    public var endTimeUnixNano: UInt64
    /// The span's attributes by key (the last one wins when a key repeats).
    public var attributes: [String: OTLPValue]
    /// The attributes of the span's resource (`service.name`, …).
    public var resourceAttributes: [String: OTLPValue]

    /// Creates a span.
    public init(
        traceID: String, spanID: String, parentSpanID: String = "", name: String = "", startTimeUnixNano: UInt64 = 0,
        endTimeUnixNano: UInt64 = 0, attributes: [String: OTLPValue] = [:],
        resourceAttributes: [String: OTLPValue] = [:]
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.startTimeUnixNano = startTimeUnixNano
        self.endTimeUnixNano = endTimeUnixNano
        self.attributes = attributes
        self.resourceAttributes = resourceAttributes
    }
}

/// Why a body is not an `ExportTraceServiceRequest`: the whole request is refused (HTTP 400).
public struct OTLPDecodingError: Error, Sendable, CustomStringConvertible {
    /// What is wrong: the decoder's own report, or the id that is not hex.
    public var description: String
}

/// The two encodings of OTLP/HTTP.
public enum OTLPEncoding: Sendable, Hashable {
    /// `application/json`: the OTLP JSON mapping (lowerCamelCase keys, 64-bit integers as strings, ids as hex).
    case json
    /// `application/x-protobuf`: the binary `ExportTraceServiceRequest`.
    case protobuf

    /// The encoding a `Content-Type` names, or `nil` for any other type (HTTP 415).
    public init?(contentType: String?) {
        guard let contentType else { return nil }
        let media = contentType.split(separator: ";", maxSplits: 1)[0].trimmingCharacters(in: .whitespaces)
            .lowercased()
        switch media {
        case "application/json": self = .json
        case "application/x-protobuf": self = .protobuf
        default: return nil
        }
    }

    /// The `Content-Type` of an answer in this encoding.
    public var contentType: String {
        switch self {
        case .json: "application/json"
        case .protobuf: "application/x-protobuf"
        }
    }
}

/// Reads `ExportTraceServiceRequest` bodies into ``OTLPSpan``s.
public enum OTLPTraceDecoder {
    /// The spans of a request body in `encoding`, in the order they were sent.
    /// - Throws: ``OTLPDecodingError`` when the body is not an `ExportTraceServiceRequest` in that encoding.
    public static func spans(in body: [UInt8], encoding: OTLPEncoding) throws -> [OTLPSpan] {
        switch encoding {
        case .json: try spans(protobufJSON: body)
        case .protobuf: try spans(protobuf: body)
        }
    }

    /// The spans of an OTLP JSON `ExportTraceServiceRequest`, read by SwiftProtobuf's JSON decoder (unknown keys
    /// ignored, as OTLP requires; both lowerCamelCase and the proto's names). OTLP JSON writes trace and span ids as
    /// hex where the protobuf JSON mapping expects base64: hex digits are base64 characters, so the decoder reads
    /// them as base64 and encoding its bytes back gives the very text sent (exactly for the 32 and 16 digits of
    /// well-formed ids), which must be hex.
    public static func spans(protobufJSON body: [UInt8]) throws -> [OTLPSpan] {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        let request: Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
        do {
            request = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(
                jsonUTF8Bytes: body, options: options)
        } catch {
            throw OTLPDecodingError(description: "the body is not an OTLP JSON ExportTraceServiceRequest (\(error))")
        }
        func id(_ bytes: Data, _ field: String, at index: Int) throws -> String {
            guard !bytes.isEmpty else { return "" }
            let encoded = bytes.base64EncodedString()
            // Well-formed lowercase ids (no padding): the very text sent.
            if encoded.utf8.allSatisfy({ $0.isLowercaseHexDigit }) { return encoded }
            var text = Array(encoded.utf8)
            while text.last == UInt8(ascii: "=") { text.removeLast() }
            for position in text.indices {
                let digit = text[position]
                guard digit.isHexDigit else {
                    throw OTLPDecodingError(
                        description: "span \(index): \(field) must be hex digits (OTLP JSON ids are hex)")
                }
                if digit >= UInt8(ascii: "A"), digit <= UInt8(ascii: "F") { text[position] = digit + 32 }
            }
            return String(decoding: text, as: UTF8.self)
        }
        var spans: [OTLPSpan] = []
        spans.reserveCapacity(spanCount(request))
        for resourceSpans in request.resourceSpans {
            let resource = attributes(resourceSpans.resource.attributes)
            for scopeSpans in resourceSpans.scopeSpans {
                for span in scopeSpans.spans {
                    let index = spans.count
                    spans.append(
                        OTLPSpan(
                            traceID: try id(span.traceID, "traceId", at: index),
                            spanID: try id(span.spanID, "spanId", at: index),
                            parentSpanID: try id(span.parentSpanID, "parentSpanId", at: index), name: span.name,
                            startTimeUnixNano: span.startTimeUnixNano, endTimeUnixNano: span.endTimeUnixNano,
                            attributes: attributes(span.attributes), resourceAttributes: resource))
                }
            }
        }
        return spans
    }

    // MARK: protobuf

    /// The spans of a binary `ExportTraceServiceRequest`.
    public static func spans(protobuf body: [UInt8]) throws -> [OTLPSpan] {
        let request: Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
        do {
            request = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(serializedBytes: body)
        } catch {
            throw OTLPDecodingError(description: "the body is not a protobuf ExportTraceServiceRequest (\(error))")
        }
        var spans: [OTLPSpan] = []
        spans.reserveCapacity(spanCount(request))
        for resourceSpans in request.resourceSpans {
            let resource = attributes(resourceSpans.resource.attributes)
            for scopeSpans in resourceSpans.scopeSpans {
                for span in scopeSpans.spans {
                    spans.append(
                        OTLPSpan(
                            traceID: hex(span.traceID), spanID: hex(span.spanID), parentSpanID: hex(span.parentSpanID),
                            name: span.name, startTimeUnixNano: span.startTimeUnixNano,
                            endTimeUnixNano: span.endTimeUnixNano, attributes: attributes(span.attributes),
                            resourceAttributes: resource))
                }
            }
        }
        return spans
    }

    /// How many spans a request holds.
    static func spanCount(_ request: Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest) -> Int {
        request.resourceSpans.reduce(0) { total, resource in
            resource.scopeSpans.reduce(total) { $0 + $1.spans.count }
        }
    }

    static func attributes(_ list: [Opentelemetry_Proto_Common_V1_KeyValue]) -> [String: OTLPValue] {
        var values: [String: OTLPValue] = [:]
        values.reserveCapacity(list.count)
        for entry in list {
            values[entry.key] =
                switch entry.value.value {
                case .stringValue(let text): .string(text)
                case .intValue(let number): .int(number)
                case .doubleValue(let number): .double(number)
                case .boolValue(let flag): .bool(flag)
                case .arrayValue: .other(kind: "arrayValue")
                case .kvlistValue: .other(kind: "kvlistValue")
                case .bytesValue: .other(kind: "bytesValue")
                case nil: .other(kind: "an empty value")
                }
        }
        return values
    }

    static func hex(_ bytes: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension UInt8 {
    fileprivate var isLowercaseHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
    }

    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
