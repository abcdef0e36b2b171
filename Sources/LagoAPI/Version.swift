/// The version of lago-console, sent in the `User-Agent` header and printed by `--version`.
public enum LagoConsoleVersion {
    /// The semantic version of this build.
    public static let current = "0.1.0"
}
