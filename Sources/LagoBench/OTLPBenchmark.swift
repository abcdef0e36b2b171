import Foundation
import LagoAPI
import LagoEngine
import LagoOTLP
import LagoRelay
import LagoSandbox
import Logging
import NIOCore

/// Settings of ``OTLPBenchmark/run(_:)``.
public struct OTLPBenchmarkOptions: Sendable, Codable, Hashable {
    /// GenAI spans exported to the relay (each with input and output tokens: two events).
    public var spans: Int = 50_000
    /// Spans per `POST /v1/traces` (OTLP JSON).
    public var spansPerRequest: Int = 100
    /// Concurrent HTTP/1.1 exporters, each on one keep-alive connection.
    public var clients: Int = 4
    /// Events for the relay event-ingest run measured beside it (the ratio's denominator).
    public var relayEvents: Int = 100_000

    /// Creates the default options: 50k spans, 100 per request, 4 clients, against 100k relay events.
    public init() {}
}

/// What ``OTLPBenchmark/run(_:)`` measured.
public struct OTLPBenchmarkResult: Sendable, Codable, Hashable {
    public var spans: Int
    public var spansPerRequest: Int
    public var clients: Int
    /// Export requests sent.
    public var requests: Int
    /// Answers other than 200 (0 in a healthy run).
    public var refusedRequests: Int
    /// The first refusal, `"<status> <body>"`, when there was one.
    public var firstRefusal: String?
    /// From the first export until every one was answered 200, i.e. its usage durably spooled.
    public var ingestSeconds: Double
    /// `spans / ingestSeconds`.
    public var ingestSpansPerSecond: Double
    /// Lago events per span (input and output: 2).
    public var eventsPerSpan: Int
    /// Per-request round trip, microseconds.
    public var requestLatency: LatencyFigures
    /// Distinct transaction ids at the sandbox after both runs' flushes (the delivering run and the spool-only run);
    /// `2 × spans × eventsPerSpan` when nothing was lost.
    public var delivered: Int
    public var lost: Int
    public var duplicated: Int
    /// The relay's event ingest (`POST /api/v1/events/batch`, batches of 100) in the same run, events/s.
    public var relayEventIngestPerSecond: Double
    /// `ingestSpansPerSecond / relayEventIngestPerSecond`: spans against events, one run.
    public var spansToRelayEventsRatio: Double
    /// Reading the JSON bodies into spans and mapping them to usage records, alone (no HTTP, no spool), µs per span.
    public var decodeAndMapMicrosecondsPerSpan: Double
    /// Reading the JSON bodies into spans alone, CPU µs per span (the measuring thread's CPU time).
    public var decodeMicrosecondsPerSpan: Double
    /// Mapping the spans to usage records alone, CPU µs per span.
    public var mapMicrosecondsPerSpan: Double
    /// Turning the usage records into Lago events (the engine's coding, before the JSON of each event), CPU µs per
    /// span.
    public var codeEventsMicrosecondsPerSpan: Double
    /// The CPU time of the whole bench process (exporters, relay, spool, delivery, in-process sandbox) from the
    /// first export until the last answer, µs per span: what a span costs the machine, whatever else runs on it.
    public var ingestCPUMicrosecondsPerSpan: Double
    /// As ``ingestSpansPerSecond``, for as many other spans sent to a second engine whose delivery is paused
    /// until the last answer: the relay and the durable spool alone, without the delivery and the in-process
    /// sandbox taking the same cores (as with a Lago elsewhere that is slow to take events, or not reachable).
    public var spoolOnlyIngestSpansPerSecond: Double
    /// The whole process's CPU time during that ingest, µs per span.
    public var spoolOnlyIngestCPUMicrosecondsPerSpan: Double
    /// Events the sandbox received while that engine's delivery was paused: 0, or the figure above is not the
    /// spool's alone.
    public var deliveredDuringSpoolOnlyIngest: Int
}

/// OTLP ingest: GenAI spans exported as OTLP JSON to the relay's `/v1/traces` over loopback, each read, mapped to a
/// usage record and spooled durably (two events per span) before the 200, then delivered to the in-process sandbox;
/// with the relay's event ingest measured in the same run for the ratio.
public enum OTLPBenchmark {
    /// Runs the benchmark.
    /// - Throws: when the sandbox, the spool or the relay cannot start, or a request fails at the transport level.
    public static func run(_ options: OTLPBenchmarkOptions = OTLPBenchmarkOptions()) async throws -> OTLPBenchmarkResult
    {
        precondition(options.spans > 0 && options.spansPerRequest > 0 && options.clients > 0, "nothing to measure")
        var relayOptions = RelayBenchmarkOptions()
        relayOptions.events = options.relayEvents
        relayOptions.clients = options.clients
        let relay = try await RelayBenchmark.run(relayOptions)

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lago-otlp-bench-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Encoded before the clock starts; the spool-only run sends the next `spans` spans (other ids).
        func exportBodies(from first: Int) -> [ByteBuffer] {
            stride(from: first, to: first + options.spans, by: options.spansPerRequest).map { start in
                ByteBuffer(
                    bytes: Array(
                        exportRequest(spans: start..<min(first + options.spans, start + options.spansPerRequest)).utf8))
            }
        }
        let bodies = exportBodies(from: 0)
        let spoolOnlyBodies = exportBodies(from: options.spans)
        let eventsPerSpan = 2
        // Each stage alone (CPU time of this thread: other processes' load does not count), then the two together
        // as the relay runs them (wall clock).
        let rawBodies = bodies.map { Array($0.readableBytesView) }
        func cpuMicrosecondsPerSpan(since start: Double) -> Double {
            (threadCPUMicroseconds() - start) / Double(options.spans)
        }
        var cpuStart = threadCPUMicroseconds()
        let decoded = try rawBodies.map { try OTLPTraceDecoder.spans(in: $0, encoding: .json) }
        let decodeOnly = cpuMicrosecondsPerSpan(since: cpuStart)
        cpuStart = threadCPUMicroseconds()
        let readings = decoded.map {
            OTLPUsageMapping.read(
                $0, options: OTLPUsageOptions(), customerSubscription: nil, defaultSubscription: "sub")
        }
        let mapOnly = cpuMicrosecondsPerSpan(since: cpuStart)
        precondition(readings.reduce(0) { $0 + $1.usage.count } == options.spans, "every bench span has usage")
        cpuStart = threadCPUMicroseconds()
        var coded = 0
        for reading in readings {
            for usage in reading.usage {
                coded += try usage.record.codedEvents(metricCodes: [:], defaultSubscription: "sub").count
            }
        }
        let codeOnly = cpuMicrosecondsPerSpan(since: cpuStart)
        precondition(coded == options.spans * eventsPerSpan, "every bench span is two events")
        func microsecondsPerSpan(since start: ContinuousClock.Instant) -> Double {
            (ContinuousClock.now - start) / .microseconds(1) / Double(options.spans)
        }
        let start = ContinuousClock.now
        var mapped = 0
        for body in rawBodies {
            let spans = try OTLPTraceDecoder.spans(in: body, encoding: .json)
            mapped +=
                OTLPUsageMapping.read(
                    spans, options: OTLPUsageOptions(), customerSubscription: nil, defaultSubscription: "sub"
                ).usage.count
        }
        precondition(mapped == options.spans, "every bench span has usage")
        let decodeMicroseconds = microsecondsPerSpan(since: start)
        return try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let logger = Logger(label: "lago.bench.otlp") { _ in SwiftLogNoOpLogHandler() }
            /// Exports `bodies` to a relay on an engine of its own (delivering, or paused until the last answer),
            /// then flushes it: the run, and the process's CPU µs during the exports.
            func ingest(
                _ bodies: [ByteBuffer], spool: String, paused: Bool
            ) async throws -> (
                run: RelayBenchmark.IngestRun, cpu: Double, deliveredMeanwhile: Int
            ) {
                var configuration = EngineBenchmark.configuration(spoolPath: root + "/" + spool)
                configuration.spoolLimit = max(configuration.spoolLimit, options.spans * eventsPerSpan + 1)
                let engine = try EngineBenchmark.engine(configuration, sandbox: sandbox)
                if paused { engine.pause() }
                engine.start()
                do {
                    let token = RelayBenchmark.benchToken()
                    let storedBefore = sandbox.stats().eventsStored
                    let (run, cpu) = try await LagoRelay.withRunning(
                        engine: engine, options: RelayOptions(host: "127.0.0.1", port: 0, token: token),
                        logger: logger
                    ) { relayURL in
                        let base = String(relayURL.absoluteString.dropLast("/api/v1".count))
                        let cpuStart = processCPUMicroseconds()
                        let run = try await RelayBenchmark.post(
                            bodies, to: base + "/v1/traces", clients: options.clients, token: token)
                        return (run, processCPUMicroseconds() - cpuStart)
                    }
                    let deliveredMeanwhile = sandbox.stats().eventsStored - storedBefore
                    if paused { engine.resume() }
                    _ = await engine.flush(deadline: .seconds(600))
                    await engine.shutdown()
                    return (run, cpu, deliveredMeanwhile)
                } catch {
                    await engine.shutdown()
                    throw error
                }
            }
            let delivering = try await ingest(bodies, spool: "otlp-spool.sqlite", paused: false)
            let spoolOnly = try await ingest(spoolOnlyBodies, spool: "otlp-spool-only.sqlite", paused: true)
            let ingest = delivering.run
            let cpuDuringIngest = delivering.cpu
            let stats = sandbox.stats()
            let expected = 2 * options.spans * eventsPerSpan
            let spansPerSecond = Double(options.spans) / ingest.seconds
            return OTLPBenchmarkResult(
                spans: options.spans, spansPerRequest: options.spansPerRequest, clients: options.clients,
                requests: bodies.count, refusedRequests: ingest.refused + spoolOnly.run.refused,
                firstRefusal: ingest.firstRefusal ?? spoolOnly.run.firstRefusal,
                ingestSeconds: ingest.seconds, ingestSpansPerSecond: spansPerSecond, eventsPerSpan: eventsPerSpan,
                requestLatency: EngineBenchmark.latencyFigures(ingest.latencies),
                delivered: stats.uniqueTransactionIDs,
                lost: max(0, expected - stats.uniqueTransactionIDs),
                duplicated: max(0, stats.eventsStored - stats.uniqueTransactionIDs),
                relayEventIngestPerSecond: relay.ingestEventsPerSecond,
                spansToRelayEventsRatio: spansPerSecond / relay.ingestEventsPerSecond,
                decodeAndMapMicrosecondsPerSpan: decodeMicroseconds, decodeMicrosecondsPerSpan: decodeOnly,
                mapMicrosecondsPerSpan: mapOnly, codeEventsMicrosecondsPerSpan: codeOnly,
                ingestCPUMicrosecondsPerSpan: cpuDuringIngest / Double(options.spans),
                spoolOnlyIngestSpansPerSecond: Double(options.spans) / spoolOnly.run.seconds,
                spoolOnlyIngestCPUMicrosecondsPerSpan: spoolOnly.cpu / Double(options.spans),
                deliveredDuringSpoolOnlyIngest: spoolOnly.deliveredMeanwhile)
        }
    }

    /// An OTLP JSON `ExportTraceServiceRequest` of chat spans as an OpenAI instrumentation writes them.
    static func exportRequest(spans: Range<Int>) -> String {
        var text =
            #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"bench"}}]},"#
            + #""scopeSpans":[{"scope":{"name":"bench"},"spans":["#
        for (position, index) in spans.enumerated() {
            if position > 0 { text += "," }
            let end = 1_720_000_000_000_000_000 + UInt64(index) * 1_000_000
            text +=
                #"{"traceId":"\#(hex(index, digits: 32))","spanId":"\#(hex(index + 1, digits: 16))","#
                + #""name":"chat gpt-4.1","kind":3,"startTimeUnixNano":"\#(end - 500_000_000)","#
                + #""endTimeUnixNano":"\#(end)","attributes":["#
                + #"{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},"#
                + #"{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},"#
                + #"{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4.1"}},"#
                + #"{"key":"gen_ai.response.id","value":{"stringValue":"chatcmpl-bench-\#(index)"}},"#
                + #"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"\#(index % 4000 + 1)"}},"#
                + #"{"key":"gen_ai.usage.output_tokens","value":{"intValue":"\#(index % 700 + 1)"}}]}"#
        }
        return text + "]}]}]}"
    }

    /// The CPU time of the whole process (every thread, user and system), µs.
    static func processCPUMicroseconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func microseconds(_ time: timeval) -> Double { Double(time.tv_sec) * 1_000_000 + Double(time.tv_usec) }
        return microseconds(usage.ru_utime) + microseconds(usage.ru_stime)
    }

    /// The calling thread's CPU time, µs.
    static func threadCPUMicroseconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) * 1_000_000 + Double(time.tv_nsec) / 1_000
    }

    static func hex(_ value: Int, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
