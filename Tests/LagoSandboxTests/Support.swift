import AsyncHTTPClient
import Dispatch
import Foundation
import LagoAPI
import LagoSandbox
import Logging
import NIOCore
import Testing

/// 2026-01-15T10:00:00Z, the injected "now" of most tests.
let fixedNow = Date(timeIntervalSince1970: 1_768_471_200)
let testAPIKey = "test-key-0001"

/// Options for a test sandbox: ephemeral port, fixed clock, known key.
func testOptions(seed: Bool = true, dataPath: String? = nil, now: Date = fixedNow) -> SandboxOptions {
    SandboxOptions(port: 0, dataPath: dataPath, seed: seed, apiKeys: [testAPIKey], now: { now })
}

/// A logger that drops everything (tests inject it; nothing is bootstrapped globally).
let quietLogger = Logger(label: "lago.sandbox.tests") { _ in SwiftLogNoOpLogHandler() }

/// Runs `body` against a fresh in-process sandbox.
func withSandbox<T>(
    _ options: SandboxOptions = testOptions(),
    _ body: (Sandbox, TestClient) async throws -> T
) async throws -> T {
    try await Sandbox.withRunning(options, logger: quietLogger) { sandbox in
        try await body(sandbox, TestClient(root: sandbox.rootURL, apiKey: testAPIKey))
    }
}

/// An HTTP answer as a test sees it.
struct TestResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as JSON (`.null` when it is not JSON, which the assertions then show).
    var json: JSONValue {
        (try? JSONValue.parse(Data(body))) ?? .string("<not JSON: \(text)>")
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A small HTTP client over AsyncHTTPClient for the sandbox's routes.
struct TestClient: Sendable {
    let root: URL
    let apiKey: String

    enum Auth: Sendable {
        case key
        case none
        case header(String)
    }

    /// Sends a request; `raw` is sent as is, `json` is encoded with `JSONEncoder`.
    func send(
        _ method: String,
        _ path: String,
        raw: String? = nil,
        json: JSONValue? = nil,
        contentType: String? = "application/json",
        auth: Auth = .key
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: root.absoluteString + path)
        request.method = .init(rawValue: method)
        switch auth {
        case .key: request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        case .none: break
        case .header(let value): request.headers.add(name: "Authorization", value: value)
        }
        var bodyText = raw
        if let json {
            bodyText = String(decoding: try JSONEncoder().encode(json), as: UTF8.self)
        }
        if let bodyText {
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            request.body = .bytes(ByteBuffer(string: bodyText))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        return TestResponse(
            status: Int(response.status.code),
            headers: response.headers.map { ($0.name, $0.value) },
            body: Array(body.readableBytesView)
        )
    }

    func get(_ path: String, auth: Auth = .key) async throws -> TestResponse {
        try await send("GET", path, auth: auth)
    }

    func post(
        _ path: String,
        _ raw: String,
        contentType: String? = "application/json",
        auth: Auth = .key
    ) async throws
        -> TestResponse
    {
        try await send("POST", path, raw: raw, contentType: contentType, auth: auth)
    }

    func post(_ path: String, json: JSONValue, auth: Auth = .key) async throws -> TestResponse {
        try await send("POST", path, json: json, auth: auth)
    }
}

/// `{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":…}`
func validationErrors(_ details: JSONValue) -> JSONValue {
    ["status": 422, "error": "Unprocessable Entity", "code": "validation_errors", "error_details": details]
}

/// An event body as Lago returns it, with the sandbox-generated `lago_id` taken from the actual answer.
func expectedEvent(
    lagoID: JSONValue,
    transactionID: String,
    code: String,
    timestamp: String,
    subscription: JSONValue = "sub_sandbox",
    precise: JSONValue = nil,
    properties: JSONValue = [:],
    createdAt: String = "2026-01-15T10:00:00Z"
) -> JSONValue {
    [
        "lago_id": lagoID, "transaction_id": .string(transactionID), "lago_customer_id": nil, "code": .string(code),
        "timestamp": .string(timestamp), "precise_total_amount_cents": precise, "properties": properties,
        "lago_subscription_id": nil, "external_subscription_id": subscription, "created_at": .string(createdAt),
    ]
}

/// True for a lowercase UUID string.
func isUUID(_ value: JSONValue?) -> Bool {
    guard let text = value?.stringValue, UUID(uuidString: text) != nil else { return false }
    return text == text.lowercased()
}

/// The package root (tests locate `Tests/Interop` and `../shared` from here).
let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lago-sandbox-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Polls `condition` until it holds or `timeout` passes (no fixed sleeps to wait for state).
func eventually(
    timeout: Duration = .seconds(10),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Runs a process to completion and returns its exit status and combined output.
func runProcess(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String]? = nil
) throws
    -> (status: Int32, output: String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// `runProcess` on a GCD thread, so waiting for the child never occupies Swift's cooperative pool (which serves
/// the in-process sandbox the child talks to).
func runProcessOffPool(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try runProcess(executable, arguments) })
        }
    }
}

/// Finds an executable on PATH.
func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
