public import Foundation

/// Where the console keeps its files by default, following the XDG Base Directory specification.
///
/// Every function takes the environment as a dictionary so that tests can pass their own; it defaults to the
/// process environment.
public enum ConfigPaths {
    /// The name of the folder under the XDG config and state homes.
    public static let folderName = "lago-console"

    /// The config file to use: `explicitPath` (from `--config`, made absolute against the current directory) if
    /// given, else ``defaultConfigFilePath(environment:)``.
    public static func configFilePath(
        explicitPath: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let explicitPath, !explicitPath.isEmpty {
            return URL(fileURLWithPath: self.expandingTilde(in: explicitPath, environment: environment))
                .standardizedFileURL.path
        }
        return self.defaultConfigFilePath(environment: environment)
    }

    /// `$XDG_CONFIG_HOME/lago-console/config.toml`, or `~/.config/lago-console/config.toml` when `XDG_CONFIG_HOME`
    /// is unset, empty or not absolute.
    public static func defaultConfigFilePath(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        let base = self.xdgDirectory("XDG_CONFIG_HOME", fallback: ".config", environment: environment)
        return "\(base)/\(self.folderName)/config.toml"
    }

    /// `$XDG_STATE_HOME/lago-console/spool.sqlite`, or `~/.local/state/lago-console/spool.sqlite` when
    /// `XDG_STATE_HOME` is unset, empty or not absolute.
    public static func defaultSpoolPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base = self.xdgDirectory("XDG_STATE_HOME", fallback: ".local/state", environment: environment)
        return "\(base)/\(self.folderName)/spool.sqlite"
    }

    /// `engine.spool_path` made usable: empty becomes the default, a leading `~/` becomes the home folder.
    static func resolvedSpoolPath(
        _ configured: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        configured.isEmpty
            ? self.defaultSpoolPath(environment: environment)
            : self.expandingTilde(in: configured, environment: environment)
    }

    /// The home folder: `$HOME` if set, else the user database's.
    static func homeDirectory(environment: [String: String]) -> String {
        if let home = environment["HOME"], !home.isEmpty {
            return home
        }
        return NSHomeDirectory()
    }

    private static func xdgDirectory(_ variable: String, fallback: String, environment: [String: String]) -> String {
        // The XDG specification says relative paths in these variables are invalid and must be ignored.
        if let value = environment[variable], value.hasPrefix("/") {
            return value.hasSuffix("/") && value.count > 1 ? String(value.dropLast()) : value
        }
        return "\(self.homeDirectory(environment: environment))/\(fallback)"
    }

    private static func expandingTilde(in path: String, environment: [String: String]) -> String {
        if path == "~" {
            return self.homeDirectory(environment: environment)
        }
        if path.hasPrefix("~/") {
            return self.homeDirectory(environment: environment) + path.dropFirst()
        }
        return path
    }
}
