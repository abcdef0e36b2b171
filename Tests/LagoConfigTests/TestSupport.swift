import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh folder under the system temp folder, removed when `body` returns.
func withTemporaryDirectory<Result>(
    _ body: (String) async throws -> Result
) async throws -> Result {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("lago-config-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Writes `text` to `path` (creating or replacing it).
func writeFile(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// The bytes of the file at `path`.
func fileBytes(_ path: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: path))
}

/// The text of the file at `path`.
func fileText(_ path: String) throws -> String {
    String(decoding: try fileBytes(path), as: UTF8.self)
}

/// The permission bits of `path`.
func permissions(_ path: String) throws -> Int {
    var status = stat()
    try #require(stat(path, &status) == 0, "stat \(path) failed")
    return Int(status.st_mode & 0o777)
}

/// An environment with no overrides, whose home is `home`, so nothing reads the real user's files.
func isolatedEnvironment(home: String, _ extra: [String: String] = [:]) -> [String: String] {
    ["HOME": home].merging(extra) { $1 }
}
