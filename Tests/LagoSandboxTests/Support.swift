import AsyncHTTPClient
import Foundation
import IngestConformance
import LagoAPI
import LagoSandbox
import Logging
import NIOCore
import TestSupport
import Testing

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

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lago-sandbox-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
