import ArgumentParser
import Foundation
import LagoAPI
import LagoConfig
import LagoSession

/// Options every `lago-console` command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The config file to use instead of $XDG_CONFIG_HOME/lago-console/config.toml.",
            valueName: "path"
        )
    )
    var config: String?
}

extension GlobalOptions {
    /// The config store at `--config` (or the default path), with `LAGO_API_KEY`/`LAGO_API_URL` applied.
    /// - Throws: ``ConsoleFailure`` naming the file, key and line when the file does not parse or validate.
    func loadConfigStore() throws -> ConfigStore {
        if let problem = missingExplicitConfig() { throw ConsoleFailure(description: problem) }
        do {
            return try ConfigStore(path: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ConsoleFailure(description: "\(error)")
        }
    }
}

extension GlobalOptions {
    /// The problem with an explicit `--config PATH` that does not exist (a typo would otherwise run on the
    /// defaults, or `config set` would create a file nobody reads), `nil` when the path exists or none was given.
    func missingExplicitConfig() -> String? {
        guard let config else { return nil }
        let path = ConfigPaths.configFilePath(explicitPath: config)
        guard !FileManager.default.fileExists(atPath: path) else { return nil }
        return "--config \(config): no such file (\(path)). Check the path, leave --config out for the default "
            + "file, or create this one with `lago-console --config \(config) config set --create KEY VALUE`"
    }
}

/// The configured Lago's API root, for commands that need a real Lago (``LagoTarget/configuredBaseURL(_:purpose:)``).
/// - Throws: ``ConsoleFailure`` when no Lago is configured (`purpose` says why one is needed) or the URL is refused.
func configuredLago(_ configuration: LagoConsoleConfiguration, purpose: String) throws -> LagoBaseURL {
    do {
        return try LagoTarget.configuredBaseURL(configuration, purpose: purpose)
    } catch {
        throw ConsoleFailure(description: "\(error)")
    }
}
