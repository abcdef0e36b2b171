import ArgumentParser
import Foundation
import LagoConfig
import LagoControl

/// `lago-console config …`: inspect and edit the config store.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show, check and edit the configuration.",
        subcommands: [Path.self, Show.self, SetValue.self, Check.self]
    )

    // Declared here as well as in each subcommand so that `config --config PATH show` works too: a subcommand's
    // `@OptionGroup` of the same type reuses the value parsed here.
    @OptionGroup var global: GlobalOptions
}

extension ConfigCommand {
    /// `config path`: the resolved config file path.
    struct Path: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the path of the config file.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            print(ConfigPaths.configFilePath(explicitPath: self.global.config))
        }
    }

    /// `config show`: every key's effective value, secrets masked, environment overrides marked.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the effective configuration (the API key masked).",
            discussion: """
                Shows every key with its effective value: the file's value, the default when the file does not \
                set it, or the value of LAGO_API_KEY / LAGO_API_URL when set. Secrets are always masked.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        func run() async throws {
            let snapshot = try loadSnapshot(self.global)
            if self.json {
                print(try Self.json(snapshot))
            } else {
                print(Self.text(snapshot))
            }
        }

        static func text(_ snapshot: ConfigStore.Snapshot) -> String {
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

        static func json(_ snapshot: ConfigStore.Snapshot) throws -> String {
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
    }

    /// `config set KEY VALUE`: validate and save one key.
    struct SetValue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set one key, validated, and save the file atomically.",
            discussion: """
                KEY is a dotted name such as metric_codes.input or engine.max_in_flight (see `config show`). \
                The file is created (mode 0600) if it does not exist. On any error the file is left unchanged, and \
                a file that does not parse or validate is never rewritten. Comments in the file are not kept by a \
                save. For a secret (lago.api_key, relay.token), a VALUE of - reads the value from standard input \
                (one line; typed without echo at a terminal), so that it never appears on a command line: \
                `lago-console config set lago.api_key - < key.txt`. A lago-console serve running on this \
                configuration's spool reads the file again at once and says whether it uses the new value now \
                (metric codes, the default subscription, the Lago URL and key) or when it restarts.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The dotted key, such as metric_codes.input.")
        var key: String

        @Argument(
            help: """
                The new value; an empty string unsets lago.api_url and lago.default_subscription_id; - reads a \
                secret (lago.api_key, relay.token) from standard input.
                """)
        var value: String

        func run() async throws {
            do {
                // The file is checked before anything is read from standard input.
                let store = try ConfigStore(path: self.global.config)
                var value = self.value
                if value == "-", let configKey = ConfigKey(name: self.key), configKey.isSecret {
                    value = try SecretInput.readLine(for: configKey.name, prompt: "\(configKey.name) (not echoed): ")
                }
                try store.set(self.key, to: value)
                let snapshot = store.snapshot
                guard let configKey = ConfigKey(name: self.key) else { return }
                let shown = snapshot.fileConfiguration.displayValue(for: configKey)
                print("\(configKey.name) = \(shown)  # saved to \(store.filePath)")
                if case .environment(let variable) = snapshot.source(of: configKey) {
                    printToStandardError(
                        "note: \(variable) is set and overrides \(configKey.name) in the effective configuration"
                    )
                }
                await ConfigCommand.tellRunningServe(about: configKey, store: store)
            } catch {
                printToStandardError("error: \(error)")
                throw ExitCode.failure
            }
        }
    }

    /// Asks a `lago-console serve` running on this configuration's spool to read its config file again, and says
    /// whether it uses the new value of `key` now, when it restarts, or not at all (it reads another file, or its
    /// environment overrides the key). The key's value never travels: serve reads the file itself.
    static func tellRunningServe(about key: ConfigKey, store: ConfigStore) async {
        let configuration = store.configuration
        let spoolPath = ConsoleRuntime.spoolPath(configuration, isSandbox: configuration.lago.apiURL == nil)
        guard let remote = await RemoteEngine.connect(forSpool: spoolPath) else { return }
        let pid = remote.endpoint.pid
        do {
            let report = try await remote.reloadConfiguration()
            let line = serveLine(about: key, report: report, pid: pid, configFile: store.filePath)
            if line.isWarning { printToStandardError(line.text) } else { print(line.text) }
        } catch {
            printToStandardError(
                "warning: the running lago-console serve (pid \(pid)) did not read the change: \(error); "
                    + "restart it to apply \(key.name)")
        }
        await remote.shutdown()
    }

    /// What `config set` says about a running serve after it read its config file again.
    static func serveLine(
        about key: ConfigKey, report: ConfigReload, pid: Int32, configFile: String
    ) -> (text: String, isWarning: Bool) {
        let serve = "the running lago-console serve (pid \(pid))"
        let lagoKeys = [ConfigKey.lagoAPIKey, .lagoAPIURL, .lagoAllowInsecureHTTP].map(\.name)
        let sameFile =
            URL(fileURLWithPath: report.configFile).resolvingSymlinksInPath()
            == URL(fileURLWithPath: configFile).resolvingSymlinksInPath()
        if !sameFile {
            return (
                "warning: \(serve) reads \(report.configFile), not \(configFile), so it does not see this change; set "
                    + "\(key.name) with --config \(report.configFile), or restart serve with --config \(configFile)",
                true
            )
        }
        if let variable = report.environmentOverrides[key.name] {
            return (
                "note: \(serve) takes \(key.name) from \(variable) in its environment, which overrides the file; "
                    + "change \(variable) where serve is started, then restart it",
                true
            )
        }
        if report.sandbox && lagoKeys.contains(key.name) {
            return (
                "\(serve) delivers to its embedded sandbox; \(key.name) applies when serve runs against a Lago", false
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

    /// `config check`: validate the file.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the config file; exit non-zero naming the file, key and line of the first problem."
        )

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let snapshot = try loadSnapshot(self.global)
            for unknown in snapshot.unknownKeys {
                printToStandardError("warning: \(snapshot.filePath): \(unknown): not used by this version")
            }
            print("\(snapshot.filePath): \(snapshot.fileExists ? "ok" : "not found; the defaults apply")")
        }
    }
}

/// Loads the store for a read-only command, turning a config error into a message on stderr and exit status 1.
private func loadSnapshot(_ global: GlobalOptions) throws -> ConfigStore.Snapshot {
    do {
        return try ConfigStore(path: global.config).snapshot
    } catch {
        printToStandardError("error: \(error)")
        throw ExitCode.failure
    }
}

private func printToStandardError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
