public import Foundation

// Helpers several test targets share: where the package and its built binary are, finding programs on PATH, and
// running a program without blocking Swift's concurrency pool.

/// The package's root folder, found from this file's path (`Tests/TestSupport/TestSupport.swift`).
public let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // TestSupport
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()

/// Why a helper here could not do its work.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
}

/// The `lago-console` executable built beside the test bundle (`lago-consolePackageTests.xctest` on Linux, beside
/// the `.xctest` folder on macOS: up to four folders up), else the package's `.build/debug/lago-console`.
/// - Throws: ``TestSupportError`` naming every place looked at.
public func lagoConsoleBinary() throws -> String {
    var candidates: [URL] = []
    if let argument = CommandLine.arguments.first {
        var folder = URL(fileURLWithPath: argument).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(folder.appendingPathComponent("lago-console"))
            folder = folder.deletingLastPathComponent()
        }
    }
    candidates.append(packageRoot.appendingPathComponent(".build/debug/lago-console"))
    let found = candidates.first { url in
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: url.path)
    }
    guard let found else {
        throw TestSupportError(
            description: "lago-console was not found (looked at \(candidates.map(\.path))); run `swift build --build-tests` first")
    }
    return found.path
}

/// The tests run in CI (`CI` set, neither empty nor `false`): a helper that may be missing on a laptop (a Python
/// package, say) must be there, and a test that needs it fails instead of skipping.
public let isCI = ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "false" } ?? false

/// `python3 -c statement` succeeds here (a module imports, say); `false` without python3. It blocks until python
/// exits: for a test trait's condition or a static, never inside a test talking to an in-process server.
public func pythonCan(_ statement: String) -> Bool {
    guard let python = which("python3") else { return false }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", statement]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}

/// The path of an executable on `PATH`, if any.
public func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Runs a program to completion and returns its exit status and combined output; `environment` is added to this
/// process's own, and the program reads `standardInput` (nothing when `nil`).
///
/// Waits through `terminationHandler`, never `waitUntilExit()`: blocking a thread of the 2-thread concurrency pool
/// would starve an in-process sandbox the program talks to. Output goes to a temporary file, not a pipe, so a
/// chatty program never blocks on a full pipe; so does the input.
public func runProgram(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], standardInput: Data? = nil
) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("lago-console-\(UUID().uuidString).txt")
    _ = FileManager.default.createFile(atPath: output.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: output) }
    let handle = try FileHandle(forWritingTo: output)
    process.standardOutput = handle
    process.standardError = handle
    if let standardInput {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("lago-console-\(UUID().uuidString).in")
        try standardInput.write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        // The open handle keeps the data readable once the file is removed.
        process.standardInput = try FileHandle(forReadingFrom: input)
    } else {
        process.standardInput = FileHandle.nullDevice
    }
    let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    try handle.close()
    return (status, try String(contentsOf: output, encoding: .utf8))
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes, for a state with no event to await; returns
/// whether it held. Never use it to prove that something did not happen.
public func eventually(
    timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}
