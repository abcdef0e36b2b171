import Foundation
import LagoAPI
public import LagoConfig
public import LagoControl

/// What `lago-console config` prints: the effective configuration, and what a running serve did with a change.
public enum ConfigReports {
    /// `config show`: every key with its effective value (secrets masked), where it comes from, and the keys
    /// this version does not use.
    public static func text(_ snapshot: ConfigStore.Snapshot) -> String {
        var lines = ["# \(snapshot.filePath)\(snapshot.fileExists ? "" : " (not found: defaults)")"]
        let keys = ConfigKey.allCases
        let width = keys.map(\.name.count).max() ?? 0
        var section = ""
        for key in keys {
            if key.section != section {
                section = key.section
                lines.append("")
            }
            let name = key.name.padding(toLength: width, withPad: " ", startingAt: 0)
            var line = "\(name) = \(snapshot.configuration.displayValue(for: key))"
            switch snapshot.source(of: key) {
            case .environment(let variable): line += "  # from \(variable)"
            case .default: line += "  # default"
            case .file: break
            }
            lines.append(line)
        }
        if !snapshot.unknownKeys.isEmpty {
            lines.append("")
            lines.append(
                "# not used by this version (kept on save): \(snapshot.unknownKeys.joined(separator: ", "))"
            )
        }
        return lines.joined(separator: "\n")
    }

    private struct JSONOutput: Encodable {
        var path: String
        var fileExists: Bool
        var values: [String: [String: ConfigValue]]
        var environmentOverrides: [String: String]
        var unknownKeys: [String]

        enum CodingKeys: String, CodingKey {
            case path
            case fileExists = "file_exists"
            case values
            case environmentOverrides = "environment_overrides"
            case unknownKeys = "unknown_keys"
        }
    }

    /// `config show --json`: the same, as JSON (`path`, `file_exists`, `values` by section, `environment_overrides`,
    /// `unknown_keys`).
    /// - Throws: when encoding fails.
    public static func json(_ snapshot: ConfigStore.Snapshot) throws -> String {
        var output = JSONOutput(
            path: snapshot.filePath,
            fileExists: snapshot.fileExists,
            values: [:],
            environmentOverrides: [:],
            unknownKeys: snapshot.unknownKeys
        )
        for key in ConfigKey.allCases {
            var value = snapshot.configuration.value(for: key)
            if key.isSecret, case .string(let secret) = value {
                value = .string(ConfigMasking.mask(secret))
            }
            output.values[key.section, default: [:]][key.field] = value
            if case .environment(let variable) = snapshot.source(of: key) {
                output.environmentOverrides[key.name] = variable
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(output), as: UTF8.self)
    }

    /// Asks a `lago-console serve` running on this configuration's spool to read its config file again, and says
    /// whether it uses the new value of `key` now, when it restarts, or not at all (a warning when serve did not
    /// answer); `nil` when no serve runs. The value never travels: serve reads the file itself.
    public static func tellRunningServe(
        about key: ConfigKey, store: ConfigStore
    ) async -> (text: String, isWarning: Bool)? {
        let configuration = store.configuration
        let spoolPath = EngineSettings.spoolPath(configuration, isSandbox: configuration.lago.apiURL == nil)
        guard let remote = await RemoteEngine.connect(forSpool: spoolPath) else { return nil }
        let pid = remote.endpoint.pid
        let holder = remote.endpoint.holderName
        let line: (text: String, isWarning: Bool)
        do {
            let report = try await remote.reloadConfiguration()
            line = serveLine(about: key, report: report, pid: pid, holder: holder, configFile: store.filePath)
        } catch {
            line = (
                "warning: the running \(holderTitle(holder)) (pid \(pid)) did not read the change: \(error); "
                    + "restart it to apply \(key.name)", true
            )
        }
        await remote.shutdown()
        return line
    }

    /// What the process serving a control API is called in a sentence: `lago-console serve`, or `console` for a
    /// console with its own engine (``ControlEndpoint/holderName``).
    static func holderTitle(_ holder: String) -> String {
        holder == "serve" ? "lago-console serve" : holder
    }

    /// What `config set` says about a running serve (or console, `holder`) after it read its config file again.
    public static func serveLine(
        about key: ConfigKey, report: ConfigReload, pid: Int32, holder: String = "serve", configFile: String
    ) -> (text: String, isWarning: Bool) {
        let serve = "the running \(holderTitle(holder)) (pid \(pid))"
        let lagoKeys = [ConfigKey.lagoAPIKey, .lagoAPIURL, .lagoAllowInsecureHTTP].map(\.name)
        let sameFile =
            URL(fileURLWithPath: report.configFile).resolvingSymlinksInPath()
            == URL(fileURLWithPath: configFile).resolvingSymlinksInPath()
        if !sameFile {
            return (
                "warning: \(serve) reads \(report.configFile), not \(configFile), so it does not see this change; set "
                    + "\(key.name) with --config \(report.configFile), or restart it with --config \(configFile)",
                true
            )
        }
        if let variable = report.environmentOverrides[key.name] {
            return (
                "note: \(serve) takes \(key.name) from \(variable) in its environment, which overrides the file; "
                    + "change \(variable) where it is started, then restart it",
                true
            )
        }
        if report.sandbox && lagoKeys.contains(key.name) {
            return (
                "\(serve) delivers to its embedded sandbox; \(key.name) applies when it runs against a Lago", false
            )
        }
        if report.restartNeeded.contains(key.name) { return ("\(serve) uses it when it restarts", false) }
        guard report.liveKeys.contains(key.name) else { return ("\(serve) already uses this value", false) }
        if report.unapplied.contains(key.name) {
            return ("warning: \(serve) did not apply it: \(report.problem ?? "it kept the value it had")", true)
        }
        if lagoKeys.contains(key.name) {
            return ("\(serve) uses it now: delivering to \(report.lagoURL) with key \(report.maskedKey)", false)
        }
        return ("\(serve) uses it now", false)
    }
}
