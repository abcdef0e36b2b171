import Foundation
import LagoAPI
public import LagoConfig
public import LagoControl
public import LagoEngine
public import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How `lago-console serve` (and a console with its own engine) follows its config file while it runs: whoever changes the file (`config set`, an
/// editor, a deploy script), serve reads it again and hands its engine what applies at once — metric codes, the
/// default subscription, and, unless it delivers to an embedded sandbox, the Lago URL and API key. What else
/// changed is reported as waiting for a restart.
///
/// Two things trigger a reload: `config set` asking over the control API (``reload()``, answered with what was
/// done, so the command can say the running serve uses the new value), and a change of the file's inode, size or
/// modification time seen by ``watch(every:)`` (for any other writer). Both go through ``reload()``, one at a time.
///
/// The key reaches the engine from serve's own reading of the file (with serve's environment overrides), so it
/// never travels over the control API, and the engine decides what a new key or URL means for delivery (a hold is
/// lifted; the same values change nothing). Nothing here logs a secret: keys are named, the API key masked.
public final class ServeConfigFollower: Sendable {
    private let store: ConfigStore
    private let engine: LagoEngine
    private let isSandbox: Bool
    /// The subscription usage gets on a sandbox when the file names none.
    private let sandboxSubscription: String?
    private let logger: Logger
    /// What serve started with: keys outside ``liveKeys`` keep these values until it restarts.
    private let started: LagoConsoleConfiguration
    /// Called with the Lago root and masked key in use after they changed (serve rewrites its discovery file).
    private let onLagoChange: @Sendable (_ apiRoot: String, _ maskedKey: String) -> Void
    private let state: Mutex<State>

    private struct State {
        /// The configuration whose live keys the engine uses.
        var applied: LagoConsoleConfiguration
        var lagoURL: String
        var maskedKey: String
        /// The file as ``watch(every:)`` last saw it.
        var stamp: FileStamp?
        /// The last reload problem logged, so a file left broken is reported once, not every second.
        var loggedProblem: String?
    }

    /// The keys serve applies while it runs.
    public let liveKeys: [ConfigKey]
    /// Who follows the file, in messages: `serve`, or `console` (a console with its own engine follows it too).
    private let holder: String

    /// Follows `store` for `engine`, which delivers to `lagoURL` with `apiKey` (an embedded sandbox when
    /// `isSandbox`: then the Lago keys wait for a restart, and `sandboxSubscription` stands in for a default
    /// subscription the file does not name). `onLagoChange` is called after the Lago URL or key changed.
    public init(
        store: ConfigStore, engine: LagoEngine, isSandbox: Bool, sandboxSubscription: String? = nil, lagoURL: String,
        apiKey: String, logger: Logger, holder: String = "serve",
        onLagoChange: @escaping @Sendable (_ apiRoot: String, _ maskedKey: String) -> Void
    ) {
        self.holder = holder
        self.store = store
        self.engine = engine
        self.isSandbox = isSandbox
        self.sandboxSubscription = sandboxSubscription
        self.logger = logger
        self.started = store.configuration
        self.onLagoChange = onLagoChange
        var live = ConfigKey.allCases.filter { $0.name.hasPrefix("metric_codes.") } + [.lagoDefaultSubscriptionID]
        if !isSandbox { live += [.lagoAPIKey, .lagoAPIURL, .lagoAllowInsecureHTTP] }
        self.liveKeys = live
        self.state = Mutex(
            State(
                applied: store.configuration, lagoURL: lagoURL, maskedKey: ConfigMasking.mask(apiKey),
                stamp: FileStamp(path: store.filePath)))
    }

    /// Reads the config file again, applies the live keys that changed, and says what it did.
    ///
    /// A file that does not load (mid-edit, invalid) changes nothing: serve keeps what it has and the answer's
    /// `problem` names the file, line and key. Blocks the calling thread for the file read.
    public func reload() -> ConfigReload {
        state.withLock { state in
            state.stamp = FileStamp(path: store.filePath)
            let snapshot: ConfigStore.Snapshot
            do {
                snapshot = try store.reload()
            } catch {
                let problem = "\(error); \(holder) keeps the settings it had"
                if state.loggedProblem != problem {
                    logger.warning("the config file did not load", metadata: ["problem": "\(problem)"])
                    state.loggedProblem = problem
                }
                return report(state, snapshot: store.snapshot, applied: [], problem: problem, loaded: false)
            }
            state.loggedProblem = nil
            let configuration = snapshot.configuration
            let changed = liveKeys.filter { state.applied.value(for: $0) != configuration.value(for: $0) }
            var applied: [ConfigKey] = []
            var problem: String?
            if changed.contains(where: { $0.name.hasPrefix("metric_codes.") }) {
                engine.updateMapping(configuration.metricCodes.byField)
                state.applied.metricCodes = configuration.metricCodes
                applied += changed.filter { $0.name.hasPrefix("metric_codes.") }
            }
            if changed.contains(.lagoDefaultSubscriptionID) {
                engine.updateDefaultSubscription(
                    configuration.lago.defaultSubscriptionID ?? (isSandbox ? sandboxSubscription : nil))
                state.applied.lago.defaultSubscriptionID = configuration.lago.defaultSubscriptionID
                applied.append(.lagoDefaultSubscriptionID)
            }
            let lagoKeys: [ConfigKey] = [.lagoAPIKey, .lagoAPIURL, .lagoAllowInsecureHTTP]
            if changed.contains(where: lagoKeys.contains) {
                switch lagoTarget(configuration, inUse: state.lagoURL) {
                case .use(let baseURL):
                    let apiKey = configuration.lago.apiKey
                    // The engine decides what the change means for delivery (it lifts a hold).
                    engine.updateLago(baseURL: baseURL, apiKey: apiKey)
                    state.applied.lago.apiURL = configuration.lago.apiURL
                    state.applied.lago.apiKey = apiKey
                    state.applied.lago.allowInsecureHTTP = configuration.lago.allowInsecureHTTP
                    state.lagoURL = baseURL.apiRoot
                    state.maskedKey = ConfigMasking.mask(apiKey)
                    applied += changed.filter(lagoKeys.contains)
                    onLagoChange(state.lagoURL, state.maskedKey)
                case .refuse(let reason):
                    problem = reason
                    logger.warning(
                        "a Lago setting in the config file was not applied", metadata: ["problem": "\(reason)"])
                }
            }
            if !applied.isEmpty {
                logger.info(
                    "applied a config change",
                    metadata: [
                        "keys": "\(applied.map(\.name).joined(separator: ", "))", "lago": "\(state.lagoURL)",
                        "key": "\(state.maskedKey)",
                    ])
            }
            return report(state, snapshot: snapshot, applied: applied, problem: problem, loaded: true)
        }
    }

    /// Reloads whenever the file changes (another inode after an atomic save, another size or modification
    /// time), checking every `interval`, until the task is cancelled.
    public func watch(every interval: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            let now = FileStamp(path: store.filePath)
            guard state.withLock({ $0.stamp != now }) else { continue }
            _ = reload()
        }
    }

    /// The Lago root a configuration names, or why it cannot be used now.
    private enum LagoTarget {
        case use(LagoBaseURL)
        case refuse(String)
    }

    /// The Lago root the configuration names, or why it cannot be used now.
    private func lagoTarget(_ configuration: LagoConsoleConfiguration, inUse: String) -> LagoTarget {
        guard let url = configuration.lago.apiURL else {
            return .refuse(
                "\(ConfigKey.lagoAPIURL.name) is not set in \(store.filePath): the running \(holder) keeps delivering "
                    + "to \(inUse); set it, or restart \(holder) to deliver to an embedded sandbox")
        }
        do {
            return .use(
                try LagoBaseURL(url.absoluteString, allowInsecureHTTP: configuration.lago.allowInsecureHTTP))
        } catch {
            return .refuse(
                "\(ConfigKey.lagoAPIURL.name) in \(store.filePath): \(error); \(holder) keeps the Lago it had")
        }
    }

    private func report(
        _ state: State, snapshot: ConfigStore.Snapshot, applied: [ConfigKey], problem: String?, loaded: Bool
    ) -> ConfigReload {
        let live = Set(liveKeys)
        let unapplied =
            loaded
            ? liveKeys.filter { state.applied.value(for: $0) != snapshot.configuration.value(for: $0) } : liveKeys
        let restartNeeded = ConfigKey.allCases.filter {
            !live.contains($0) && started.value(for: $0) != snapshot.configuration.value(for: $0)
        }
        var overrides: [String: String] = [:]
        for key in ConfigKey.allCases {
            if case .environment(let variable) = snapshot.source(of: key) { overrides[key.name] = variable }
        }
        return ConfigReload(
            configFile: store.filePath, liveKeys: liveKeys.map(\.name), applied: applied.map(\.name),
            unapplied: unapplied.map(\.name),
            restartNeeded: restartNeeded.map(\.name), environmentOverrides: overrides, lagoURL: state.lagoURL,
            maskedKey: state.maskedKey, sandbox: isSandbox, problem: problem)
    }
}

/// What tells one version of a file from another without reading it.
private struct FileStamp: Sendable, Equatable {
    var inode: UInt64
    var size: Int64
    var modifiedSeconds: Int
    var modifiedNanoseconds: Int

    /// `nil` when the file does not exist.
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        #if canImport(Darwin)
            modifiedSeconds = Int(info.st_mtimespec.tv_sec)
            modifiedNanoseconds = Int(info.st_mtimespec.tv_nsec)
        #else
            modifiedSeconds = Int(info.st_mtim.tv_sec)
            modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
        #endif
    }
}
