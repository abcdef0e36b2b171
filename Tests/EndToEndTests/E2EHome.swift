import Foundation
import LagoSandbox
import Testing

/// A temporary home for one end-to-end test of the real binary: a folder of its own (removed by ``remove()``), the
/// environment that points the binary's default paths into it, and a config file for a sandbox.
struct E2EHome: Sendable {
    /// The folder.
    let url: URL

    /// Creates a new empty folder named `prefix-<uuid>` in the temporary directory.
    init(_ prefix: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Removes the folder and all in it.
    func remove() { try? FileManager.default.removeItem(at: url) }

    /// The path of `name` in the folder.
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// The config file ``writeConfig(for:defaultSubscription:engine:relay:more:)`` writes.
    var config: String { path("config.toml") }
    /// The spool the config names.
    var spool: String { path("spool.sqlite") }

    /// `HOME` and the XDG folders, so that nothing the binary writes by default lands outside the folder.
    var environment: [String: String] {
        ["HOME": url.path, "XDG_CONFIG_HOME": path("config"), "XDG_STATE_HOME": path("state")]
    }

    /// Writes ``config`` for `sandbox`: its URL and key, `defaultSubscription`, the spool here, and the relay and
    /// the control API on free ports. `engine` and `relay` are more lines of those tables (a `listen` in `relay`
    /// replaces the free port); `more` is TOML appended (other tables). Returns the file's path.
    @discardableResult
    func writeConfig(
        for sandbox: Sandbox, defaultSubscription: String? = "sub_sandbox", engine: [String] = [],
        relay: [String] = [], more: String = ""
    ) throws -> String {
        try writeConfig(
            apiURL: sandbox.rootURL.absoluteString, apiKey: sandbox.apiKey, defaultSubscription: defaultSubscription,
            engine: engine, relay: relay, more: more)
    }

    /// ``writeConfig(for:defaultSubscription:engine:relay:more:)`` for any Lago URL and key (a wrong one, say).
    @discardableResult
    func writeConfig(
        apiURL: String, apiKey: String, defaultSubscription: String? = "sub_sandbox", engine: [String] = [],
        relay: [String] = [], more: String = ""
    ) throws -> String {
        var lines = ["[lago]", "api_url = \"\(apiURL)\"", "api_key = \"\(apiKey)\""]
        if let defaultSubscription { lines.append("default_subscription_id = \"\(defaultSubscription)\"") }
        lines += ["[engine]", "spool_path = \"\(spool)\""] + engine
        lines.append("[relay]")
        if !relay.contains(where: { $0.hasPrefix("listen") }) { lines.append("listen = \"127.0.0.1:0\"") }
        lines += ["control_listen = \"127.0.0.1:0\""] + relay
        try (lines.joined(separator: "\n") + "\n" + more).write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    /// The discovery file a `serve` (or a console holding the spool) writes next to ``spool``, once it is there.
    /// - Throws: when none appears within `timeout`.
    func discovery(timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        let file = spool + ".control.json"
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: file),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            {
                return object
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try #require(nil as [String: Any]?, "no discovery file \(file) within \(timeout)")
    }
}
