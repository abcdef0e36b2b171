import LagoAPI
import OTLPProto
import SwiftProtobuf

/// The bodies an OTLP/HTTP receiver answers with.
public enum OTLPExportAnswer {
    /// The most rejected spans named in `error_message` (the count covers all of them).
    static let namedRejections = 5

    /// `ExportTraceServiceResponse` in `encoding`: `partial_success` unset when no span was refused, else the number
    /// refused and an `error_message` naming the first few (span, field, reason).
    public static func exportResponse(rejected: [OTLPRejectedSpan], encoding: OTLPEncoding) -> [UInt8] {
        var message = ""
        if !rejected.isEmpty {
            message = rejected.prefix(namedRejections).map(\.description).joined(separator: "; ")
            if rejected.count > namedRejections { message += "; and \(rejected.count - namedRejections) more" }
        }
        switch encoding {
        case .json:
            // The OTLP JSON mapping: lowerCamelCase, int64 as a string; nothing for an unset partial_success.
            guard !rejected.isEmpty else { return Array("{}".utf8) }
            var out: [UInt8] = []
            out.append(contentsOf: #"{"partialSuccess":{"rejectedSpans":""#.utf8)
            out.append(contentsOf: String(rejected.count).utf8)
            out.append(contentsOf: #"","errorMessage":"#.utf8)
            JSONWriter.appendString(message, to: &out)
            out.append(contentsOf: "}}".utf8)
            return out
        case .protobuf:
            var response = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse()
            if !rejected.isEmpty {
                response.partialSuccess.rejectedSpans = Int64(rejected.count)
                response.partialSuccess.errorMessage = message
            }
            // Serializing a message built here cannot fail (no required fields, no unknown extensions).
            let bytes: [UInt8]? = try? response.serializedBytes()
            return bytes ?? []
        }
    }

    /// The body of a refused request (400, 413, 415): a `google.rpc.Status` in its JSON form
    /// (`{"code":N,"message":"…"}`, gRPC's code for the HTTP status), sent as `application/json` whatever the
    /// request's encoding (the OTLP protos do not include `google.rpc.Status`).
    public static func status(httpStatus: Int, message: String) -> [UInt8] {
        let code =
            switch httpStatus {
            case 400, 415: 3  // INVALID_ARGUMENT
            case 401: 16  // UNAUTHENTICATED
            case 413: 8  // RESOURCE_EXHAUSTED
            case 503: 14  // UNAVAILABLE
            default: 2  // UNKNOWN
            }
        var out: [UInt8] = Array(#"{"code":"#.utf8)
        out.append(contentsOf: String(code).utf8)
        out.append(contentsOf: #","message":"#.utf8)
        JSONWriter.appendString(message, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
