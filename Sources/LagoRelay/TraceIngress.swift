import CompressNIO
import HTTPTypes
import Hummingbird
import LagoAPI
import LagoEngine
import LagoIngest
import LagoOTLP
import LagoUsage
import NIOCore

/// `POST /v1/traces`: OTLP/HTTP trace export (JSON or protobuf, optionally gzip), its GenAI spans read as usage
/// records (``LagoOTLP/OTLPUsageMapping``), coded with the engine's live mapping and spooled before the answer.
extension RelayResponder {
    /// Answers an OTLP export as an OTLP receiver does: 200 with `ExportTraceServiceResponse` in the request's
    /// encoding (`partial_success` for refused spans), 400 for a body that does not decode, 413 for one that inflates
    /// past ``RelayOptions/maxDecompressedBytes``, 415 for another content type or encoding, 503 when the spool
    /// cannot be written (the exporter retries).
    func respondToTraces(body: [UInt8], contentType: String?, contentEncoding: String?) async -> Response {
        guard let encoding = OTLPEncoding(contentType: contentType) else {
            return otlpRefusal(
                415,
                "Content-Type \(contentType.map { "'\($0)'" } ?? "missing"): send application/json or "
                    + "application/x-protobuf")
        }
        var bytes = body
        switch contentEncoding?.trimmingCharacters(in: .whitespaces).lowercased() {
        case nil, "", "identity": break
        case "gzip":
            switch Self.gunzip(body, limit: options.maxDecompressedBytes) {
            case .success(let inflated): bytes = inflated
            case .failure(.tooLarge):
                return otlpRefusal(
                    413,
                    "the gzip body inflates to more than \(options.maxDecompressedBytes) bytes: send smaller batches")
            case .failure(.corrupt):
                return otlpRefusal(400, "the body is not valid gzip")
            }
        case let other?:
            return otlpRefusal(415, "Content-Encoding '\(other)' is not supported: send gzip or no encoding")
        }
        let spans: [OTLPSpan]
        do {
            spans = try OTLPTraceDecoder.spans(in: bytes, encoding: encoding)
        } catch let error as OTLPDecodingError {
            return otlpRefusal(400, error.description)
        } catch {
            return otlpRefusal(400, "the body is not an ExportTraceServiceRequest")
        }
        let otlp = options.otlp()
        let reading = OTLPUsageMapping.read(
            spans, options: otlp, customerSubscription: options.customerSubscription,
            defaultSubscription: engine.defaultSubscription)
        let cost = options.otlpCostEvents()
        var rejected = reading.rejected
        var pending = reading.usage
        if cost.mode == .only {
            for span in pending where span.record.cost == nil {
                rejected.append(
                    OTLPRejectedSpan(
                        traceID: span.traceID, spanID: span.spanID, field: otlp.costAttribute,
                        reason: "is missing and usage.otel_cost_events is only: send the cost, or set also or off"))
            }
            pending.removeAll { $0.record.cost == nil }
        }
        var alreadyAccepted = 0
        // One enqueue per request; a span spooled before (same transaction ids) is accepted already and the others
        // are enqueued again without it, as is one Lago would not bill under policy `reject`.
        while !pending.isEmpty {
            do {
                switch try await engine.enqueueUsage(pending.map(\.record), cost: cost, source: .otlp) {
                case .queued(let ids):
                    metrics.eventsAccepted.increment(by: ids.reduce(0) { $0 + $1.count })
                    pending = []
                case .duplicates(let indices):
                    alreadyAccepted += indices.count
                    let seen = Set(indices)
                    pending = pending.enumerated().filter { !seen.contains($0.offset) }.map(\.element)
                }
            } catch let error as EngineError where error.kind == .unbillable {
                let refused = Dictionary(uniqueKeysWithValues: error.unbillable.map { ($0.index, $0.reasons) })
                for (index, span) in pending.enumerated() {
                    guard let reasons = refused[index] else { continue }
                    rejected.append(
                        OTLPRejectedSpan(
                            traceID: span.traceID, spanID: span.spanID, field: "usage",
                            reason: "would not be billed by Lago ("
                                + reasons.map { "\($0.field): \($0.rawValue)" }.joined(separator: ", ")
                                + "; engine.billing_policy is reject)"))
                }
                pending = pending.enumerated().filter { refused[$0.offset] == nil }.map(\.element)
            } catch let error as EngineError where error.kind == .invalidUsage || error.kind == .noSubscription {
                // The default subscription was unset since the spans were read: none of them is queued.
                rejected += pending.map {
                    OTLPRejectedSpan(traceID: $0.traceID, spanID: $0.spanID, field: "usage", reason: error.message)
                }
                pending = []
            } catch {
                logger.warning(
                    "relay could not spool OTLP usage; answered 503",
                    metadata: ["spans": "\(pending.count)", "cause": "\(SpoolWriteFailure.plainWords(error))"])
                return otlpRefusal(503, "the relay could not write its spool; retry later")
            }
        }
        if alreadyAccepted > 0 || !rejected.isEmpty || reading.ignored > 0 || reading.repeated > 0 {
            logger.debug(
                "relay read OTLP spans",
                metadata: [
                    "usage": "\(reading.usage.count)", "already_accepted": "\(alreadyAccepted)",
                    "same_response_id": "\(reading.repeated)",
                    "rejected": "\(rejected.count)", "without_usage": "\(reading.ignored)",
                ])
        }
        metrics.requests(status: 200).increment()
        return Self.otlpResponse(
            200, body: OTLPExportAnswer.exportResponse(rejected: rejected, encoding: encoding),
            contentType: encoding.contentType)
    }

    /// A refused export: `google.rpc.Status` JSON naming what is wrong.
    func otlpRefusal(_ status: Int, _ message: String) -> Response {
        metrics.requests(status: status).increment()
        return Self.otlpResponse(
            status, body: OTLPExportAnswer.status(httpStatus: status, message: message),
            contentType: "application/json")
    }

    static func otlpResponse(_ status: Int, body: [UInt8], contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(
            status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    enum GunzipFailure: Error {
        case tooLarge
        case corrupt
    }

    /// Inflates a gzip body, stopping as soon as it passes `limit` bytes (a gzip bomb never inflates in full).
    static func gunzip(_ body: [UInt8], limit: Int) -> Result<[UInt8], GunzipFailure> {
        guard !body.isEmpty else { return .failure(.corrupt) }
        var input = ByteBuffer(bytes: body)
        do {
            var inflated = try input.decompress(with: .gzip(), maxSize: limit)
            return .success(inflated.readBytes(length: inflated.readableBytes) ?? [])
        } catch let error as CompressNIOError where error == .bufferOverflow {
            return .failure(.tooLarge)
        } catch {
            return .failure(.corrupt)
        }
    }
}
