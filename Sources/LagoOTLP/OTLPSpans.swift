import Foundation
import LagoAPI
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
    /// What is wrong, naming the JSON path or the protobuf failure.
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
        case .json: try spans(json: body)
        case .protobuf: try spans(protobuf: body)
        }
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

    static func attributes(_ list: [Opentelemetry_Proto_Common_V1_KeyValue]) -> [String: OTLPValue] {
        var values: [String: OTLPValue] = [:]
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

    // MARK: JSON

    /// The spans of an OTLP JSON `ExportTraceServiceRequest` (keys in lowerCamelCase, or the proto's snake_case
    /// names, which the protobuf JSON mapping accepts too; unknown keys ignored, as OTLP requires).
    public static func spans(json body: [UInt8]) throws -> [OTLPSpan] {
        let root: JSONValue
        do {
            root = try JSONValue.parse(Data(body))
        } catch {
            throw OTLPDecodingError(description: "the body is not JSON")
        }
        guard let request = root.objectValue else {
            throw OTLPDecodingError(description: "the body must be a JSON object (an ExportTraceServiceRequest)")
        }
        var spans: [OTLPSpan] = []
        for (r, resourceSpans) in try list(request, "resourceSpans", "resource_spans", at: "").enumerated() {
            let path = "resourceSpans[\(r)]"
            guard let resourceSpans = resourceSpans.objectValue else {
                throw OTLPDecodingError(description: "\(path) must be an object")
            }
            var resource: [String: OTLPValue] = [:]
            if let value = field(resourceSpans, "resource", "resource"), value != .null {
                guard let object = value.objectValue else {
                    throw OTLPDecodingError(description: "\(path).resource must be an object")
                }
                resource = try attributes(object, at: "\(path).resource")
            }
            for (s, scopeSpans) in try list(resourceSpans, "scopeSpans", "scope_spans", at: path).enumerated() {
                let scopePath = "\(path).scopeSpans[\(s)]"
                guard let scopeSpans = scopeSpans.objectValue else {
                    throw OTLPDecodingError(description: "\(scopePath) must be an object")
                }
                for (index, span) in try list(scopeSpans, "spans", "spans", at: scopePath).enumerated() {
                    let spanPath = "\(scopePath).spans[\(index)]"
                    guard let span = span.objectValue else {
                        throw OTLPDecodingError(description: "\(spanPath) must be an object")
                    }
                    spans.append(
                        OTLPSpan(
                            traceID: try id(span, "traceId", "trace_id", at: spanPath),
                            spanID: try id(span, "spanId", "span_id", at: spanPath),
                            parentSpanID: try id(span, "parentSpanId", "parent_span_id", at: spanPath),
                            name: try string(span, "name", "name", at: spanPath),
                            startTimeUnixNano: try nanos(
                                span, "startTimeUnixNano", "start_time_unix_nano", at: spanPath),
                            endTimeUnixNano: try nanos(span, "endTimeUnixNano", "end_time_unix_nano", at: spanPath),
                            attributes: try attributes(span, at: spanPath), resourceAttributes: resource))
                }
            }
        }
        return spans
    }

    static func field(_ object: [String: JSONValue], _ camel: String, _ snake: String) -> JSONValue? {
        object[camel] ?? object[snake]
    }

    static func list(
        _ object: [String: JSONValue], _ camel: String, _ snake: String, at path: String
    ) throws
        -> [JSONValue]
    {
        switch field(object, camel, snake) {
        case nil, .null?: return []
        case .array(let values)?: return values
        default: throw OTLPDecodingError(description: "\(path.isEmpty ? "" : path + ".")\(camel) must be an array")
        }
    }

    static func string(
        _ object: [String: JSONValue], _ camel: String, _ snake: String, at path: String
    ) throws
        -> String
    {
        switch field(object, camel, snake) {
        case nil, .null?: return ""
        case .string(let text)?: return text
        default: throw OTLPDecodingError(description: "\(path).\(camel) must be a string")
        }
    }

    /// A trace or span id: hex digits (OTLP JSON does not use base64 for them), kept lowercase.
    static func id(_ object: [String: JSONValue], _ camel: String, _ snake: String, at path: String) throws -> String {
        let text = try string(object, camel, snake, at: path)
        guard text.utf8.count % 2 == 0, text.utf8.allSatisfy({ $0.isHexDigit }) else {
            throw OTLPDecodingError(description: "\(path).\(camel) must be hex digits (OTLP JSON ids are hex)")
        }
        return text.lowercased()
    }

    /// A `fixed64` of nanoseconds: a decimal string (the OTLP JSON form) or a JSON integer.
    static func nanos(
        _ object: [String: JSONValue], _ camel: String, _ snake: String, at path: String
    ) throws
        -> UInt64
    {
        switch field(object, camel, snake) {
        case nil, .null?: return 0
        case .string(let text)?:
            if let value = UInt64(text) { return value }
        case .integer(let value)? where value >= 0: return UInt64(value)
        case .bigInteger(let digits)?:
            if let value = UInt64(digits) { return value }
        default: break
        }
        throw OTLPDecodingError(description: "\(path).\(camel) must be Unix nanoseconds (a string of digits)")
    }

    static func attributes(_ object: [String: JSONValue], at path: String) throws -> [String: OTLPValue] {
        var values: [String: OTLPValue] = [:]
        for (index, entry) in try list(object, "attributes", "attributes", at: path).enumerated() {
            let entryPath = "\(path).attributes[\(index)]"
            guard let entry = entry.objectValue else {
                throw OTLPDecodingError(description: "\(entryPath) must be an object with key and value")
            }
            let key = try string(entry, "key", "key", at: entryPath)
            values[key] = try value(field(entry, "value", "value"), at: "\(entryPath).value")
        }
        return values
    }

    /// An `AnyValue`: exactly one of its fields. A value of the wrong JSON type is undecodable, as the protobuf JSON
    /// mapping would have it.
    static func value(_ json: JSONValue?, at path: String) throws -> OTLPValue {
        guard let json, json != .null else { return .other(kind: "an empty value") }
        guard let object = json.objectValue else { throw OTLPDecodingError(description: "\(path) must be an object") }
        if let text = field(object, "stringValue", "string_value") {
            guard case .string(let text) = text else {
                throw OTLPDecodingError(description: "\(path).stringValue must be a string")
            }
            return .string(text)
        }
        if let number = field(object, "intValue", "int_value") {
            switch number {
            case .integer(let value): return .int(value)
            case .string(let text):
                if let value = Int64(text) { return .int(value) }
            default: break
            }
            throw OTLPDecodingError(description: "\(path).intValue must be a 64-bit integer (a string of digits)")
        }
        if let number = field(object, "doubleValue", "double_value") {
            switch number {
            case .number(let value): return .double(value)
            case .integer(let value): return .double(Double(value))
            case .string(let text):
                switch text {
                case "NaN": return .double(.nan)
                case "Infinity": return .double(.infinity)
                case "-Infinity": return .double(-.infinity)
                default: if let value = Double(text) { return .double(value) }
                }
            default: break
            }
            throw OTLPDecodingError(description: "\(path).doubleValue must be a number")
        }
        if let flag = field(object, "boolValue", "bool_value") {
            guard case .bool(let flag) = flag else {
                throw OTLPDecodingError(description: "\(path).boolValue must be true or false")
            }
            return .bool(flag)
        }
        if field(object, "arrayValue", "array_value") != nil { return .other(kind: "arrayValue") }
        if field(object, "kvlistValue", "kvlist_value") != nil { return .other(kind: "kvlistValue") }
        if field(object, "bytesValue", "bytes_value") != nil { return .other(kind: "bytesValue") }
        return .other(kind: "an empty value")
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
