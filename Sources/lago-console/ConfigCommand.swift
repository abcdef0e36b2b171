import ArgumentParser
import Foundation
import LagoConfig
import LagoControl
import LagoSession
import Terminal

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
                print(try ConfigReports.json(snapshot))
            } else {
                print(ConfigReports.text(snapshot))
            }
        }
    }

    /// `config set KEY VALUE`: validate and save one key.
    struct SetValue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set one key, validated, and save the file atomically.",
            discussion: """
                KEY is a dotted name such as metric_codes.input or engine.max_in_flight (see `config show`). \
                The default file is created (mode 0600) if it does not exist; a --config PATH that does not exist \
                is created only with --create (so that a mistyped path is not silently a new file). On any error the file is left unchanged, and \
                a file that does not parse or validate is never rewritten. Comments in the file are not kept by a \
                save. For a secret (lago.api_key, relay.token), a VALUE of - reads the value from standard input \
                (one line; typed without echo at a terminal), so that it never appears on a command line: \
                `lago-console config set lago.api_key - < key.txt`. A lago-console serve (or console) running on \
                this configuration's spool reads the file again at once and says whether it uses the new value now \
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

        @Flag(help: "Create the --config file when it does not exist (mode 0600).")
        var create = false

        func run() async throws {
            if !create, let problem = global.missingExplicitConfig() {
                printToStandardError("error: \(problem)")
                throw ExitCode.failure
            }
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
        guard let line = await ConfigReports.tellRunningServe(about: key, store: store) else { return }
        if line.isWarning { printToStandardError(line.text) } else { print(line.text) }
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
    if let problem = global.missingExplicitConfig() {
        printToStandardError("error: \(problem)")
        throw ExitCode.failure
    }
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
