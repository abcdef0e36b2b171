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
        do {
            return try ConfigStore(path: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ConsoleFailure(description: "\(error)")
        }
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
