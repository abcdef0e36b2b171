public import Foundation
public import Logging
import Synchronization

/// The console's configuration: loaded from `config.toml`, overlaid with the environment, changed one key at a
/// time and saved atomically, with a stream of changes for whoever needs to follow them.
///
/// The file is `--config PATH` if given, else `$XDG_CONFIG_HOME/lago-console/config.toml` (see ``ConfigPaths``). A
/// missing file means the built-in defaults; ``set(_:to:)-(String,String)`` creates it (mode 0600, folders 0700).
///
/// The *effective* configuration is the file's, with `LAGO_API_KEY` and `LAGO_API_URL` (when set and not empty)
/// in place of `lago.api_key` and `lago.api_url`, and `engine.spool_path` resolved to an absolute path. The
/// environment is never written to the file.
///
/// A save changes only the key being set: the file is parsed with TOMLKit, the key replaced, and the document
/// written back, so keys and tables this version does not know survive. Comments do not: TOMLKit cannot keep them,
/// so the first save drops the file's comments (and may reorder keys). A file that fails to parse or validate is
/// never overwritten.
///
/// The methods block the calling thread for file I/O (including `fsync`); call them off any thread that must stay
/// responsive. State lives in a `Mutex`, so the store can be shared freely.
public final class ConfigStore: Sendable {
    /// A consistent view of the store at one moment.
    public struct Snapshot: Sendable, Equatable {
        /// The config file's path.
        public var filePath: String
        /// Whether the file existed when it was last read or written.
        public var fileExists: Bool
        /// The effective configuration: the file's, environment overrides applied, spool path resolved.
        public var configuration: LagoConsoleConfiguration
        /// The configuration as the file alone gives it (defaults for missing keys, spool path as written).
        public var fileConfiguration: LagoConsoleConfiguration
        /// Where each key's effective value comes from.
        public var sources: [ConfigKey: ConfigValueSource]
        /// Dotted names of keys and tables in the file that this version does not use (they are kept on save).
        public var unknownKeys: [String]

        /// Where the effective value of `key` comes from.
        public func source(of key: ConfigKey) -> ConfigValueSource {
            self.sources[key] ?? .default
        }
    }

    private struct State {
        var snapshot: Snapshot
        var subscribers: [UInt64: AsyncStream<LagoConsoleConfiguration>.Continuation] = [:]
        var nextSubscriberID: UInt64 = 0
        var isFinished = false
    }

    /// The absolute path of the config file.
    public let filePath: String
    private let file: AtomicConfigFile
    private let environment: [String: String]
    private let logger: Logger
    private let state: Mutex<State>
    /// Held while reading-modifying-writing the file, so saves and reloads of this store apply, and notify, in order.
    private let saveLock = Mutex<Void>(())

    /// Loads the configuration.
    ///
    /// - Parameters:
    ///   - path: the `--config` path; `nil` for the default location.
    ///   - environment: the environment to resolve paths and overrides from; pass a dictionary in tests.
    ///   - logger: where the store logs loads and saves (key names and paths only, never values).
    /// - Throws: ``ConfigError`` naming the file, key and line when the file cannot be read, is not valid TOML, or
    ///   holds a value of the wrong type or out of range; or naming the environment variable when an override is
    ///   invalid.
    public init(
        path: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "lago-console.config", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(ConfigError) {
        let filePath = ConfigPaths.configFilePath(explicitPath: path, environment: environment)
        self.filePath = filePath
        self.file = AtomicConfigFile(path: filePath)
        self.environment = environment
        self.logger = logger
        let snapshot = try Self.load(self.file, environment: environment)
        self.state = Mutex(State(snapshot: snapshot))
        logger.debug(
            "Loaded configuration",
            metadata: ["file": "\(filePath)", "file_exists": "\(snapshot.fileExists)"]
        )
    }

    deinit {
        self.finish()
    }

    /// The effective configuration.
    public var configuration: LagoConsoleConfiguration {
        self.state.withLock { $0.snapshot.configuration }
    }

    /// The effective configuration together with where each value comes from.
    public var snapshot: Snapshot {
        self.state.withLock { $0.snapshot }
    }

    /// Sets the key named `key` (such as `metric_codes.input`) from its text form, then saves.
    ///
    /// `value` is parsed to the key's type: `true`/`false`, an integer (`1_000` allowed), a number, or a string
    /// taken as is. An empty string unsets `lago.api_url` and `lago.default_subscription_id`.
    ///
    /// - Throws: ``ConfigError`` of kind ``ConfigError/Kind/unknownKey`` (listing the known keys),
    ///   ``ConfigError/Kind/typeMismatch`` or ``ConfigError/Kind/invalidValue`` naming the key; or any error
    ///   ``set(_:to:)-(ConfigKey,ConfigValue)`` throws. On error the file is untouched. No error repeats the value.
    public func set(_ key: String, to value: String) throws(ConfigError) {
        guard let configKey = ConfigKey(name: key) else {
            throw ConfigError(
                kind: .unknownKey,
                key: key,
                reason: "unknown key; known keys: " + ConfigKey.allCases.map(\.name).joined(separator: ", ")
            )
        }
        let typed: ConfigValue
        switch configKey.spec.parse(value) {
        case .success(let parsed): typed = parsed
        case .failure(let error): throw error
        }
        try self.set(configKey, to: typed)
    }

    /// Sets `key` to `value` in the file, atomically, and notifies ``changes()`` subscribers.
    ///
    /// The file is re-read under an exclusive lock, so changes made by other processes are kept. The whole
    /// resulting configuration, environment overrides included, must be valid before anything is written.
    ///
    /// - Throws: ``ConfigError``: the value is invalid for the key (no file or line), the existing file is invalid
    ///   (its file, key and line), or the file cannot be written. On error the file is untouched.
    public func set(_ key: ConfigKey, to value: ConfigValue) throws(ConfigError) {
        var value = value
        if case .double = key.spec.type, case .integer(let integer) = value {
            value = .double(Double(integer))
        }
        if let reason = key.spec.problem(with: value) {
            throw ConfigError(kind: .invalidValue, key: key.name, reason: reason)
        }
        try self.saveLock.withLock { (_: inout Void) throws(ConfigError) -> Void in
            let snapshot = try self.file.withExclusiveLock { (locked) throws(ConfigError) -> Snapshot in
                let document = try ConfigDocument(text: try self.file.readContents() ?? "", file: self.filePath)
                try document.set(key, to: value)
                let decoded = try document.decode(changedKey: key)
                let output = document.serialized()
                let written = try? ConfigDocument(text: output, file: nil).decode()
                guard written?.configuration == decoded.configuration, written?.keysInFile == decoded.keysInFile else {
                    throw ConfigError(
                        kind: .invalidValue,
                        file: self.filePath,
                        key: key.name,
                        reason: "the file could not be written back faithfully, so it was left unchanged"
                    )
                }
                let snapshot = try Self.snapshot(
                    of: decoded,
                    filePath: self.filePath,
                    fileExists: true,
                    environment: self.environment
                )
                try locked.replace(with: output)
                return snapshot
            }
            self.logger.info("Saved configuration", metadata: ["file": "\(self.filePath)", "key": "\(key.name)"])
            self.publish(snapshot, notify: true)
        }
    }

    /// Reads the file again (after another process changed it) and notifies subscribers if the effective
    /// configuration changed.
    ///
    /// - Throws: ``ConfigError`` as ``init(path:environment:logger:)``; the store then keeps its previous state.
    @discardableResult
    public func reload() throws(ConfigError) -> Snapshot {
        try self.saveLock.withLock { (_: inout Void) throws(ConfigError) -> Snapshot in
            let snapshot = try Self.load(self.file, environment: self.environment)
            let previous = self.configuration
            self.publish(snapshot, notify: snapshot.configuration != previous)
            return snapshot
        }
    }

    /// A stream of the effective configuration after every successful ``set(_:to:)-(String,String)`` (and every
    /// ``reload()`` that changed it).
    ///
    /// Each call returns a new stream; every stream gets every change from the moment it was made, in order, with
    /// no value dropped. The streams finish when ``finish()`` is called or the store is deinitialized.
    public func changes() -> AsyncStream<LagoConsoleConfiguration> {
        let (stream, continuation) = AsyncStream.makeStream(of: LagoConsoleConfiguration.self)
        let id: UInt64? = self.state.withLock { state in
            guard !state.isFinished else { return nil }
            let id = state.nextSubscriberID
            state.nextSubscriberID += 1
            state.subscribers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Finishes every stream from ``changes()``; later calls to ``changes()`` return finished streams.
    public func finish() {
        let subscribers = self.state.withLock { state in
            state.isFinished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers {
            subscriber.finish()
        }
    }

    private func publish(_ snapshot: Snapshot, notify: Bool) {
        let subscribers = self.state.withLock { state in
            state.snapshot = snapshot
            return notify ? Array(state.subscribers.values) : []
        }
        for subscriber in subscribers {
            subscriber.yield(snapshot.configuration)
        }
    }

    private static func load(_ file: AtomicConfigFile, environment: [String: String]) throws(ConfigError) -> Snapshot {
        let decoded: DecodedConfiguration
        let text = try file.readContents()
        if let text {
            decoded = try ConfigDocument(text: text, file: file.path).decode()
        } else {
            decoded = .empty
        }
        return try self.snapshot(
            of: decoded,
            filePath: file.path,
            fileExists: text != nil,
            environment: environment
        )
    }

    /// Applies the environment to what the file says.
    private static func snapshot(
        of decoded: DecodedConfiguration,
        filePath: String,
        fileExists: Bool,
        environment: [String: String]
    ) throws(ConfigError) -> Snapshot {
        var configuration = decoded.configuration
        var sources: [ConfigKey: ConfigValueSource] = [:]
        for key in ConfigKey.allCases {
            sources[key] = decoded.keysInFile.contains(key) ? .file : .default
            guard let variable = key.environmentVariable, let text = environment[variable], !text.isEmpty else {
                continue
            }
            let value: ConfigValue
            switch key.spec.parse(text) {
            case .success(let parsed): value = parsed
            case .failure(let error):
                throw ConfigError(kind: error.kind, key: key.name, environmentVariable: variable, reason: error.reason)
            }
            if let reason = key.spec.problem(with: value) {
                throw ConfigError(kind: .invalidValue, key: key.name, environmentVariable: variable, reason: reason)
            }
            key.spec.set(&configuration, value)
            sources[key] = .environment(variable: variable)
        }
        if let problem = configuration.problems().first {
            // The file alone was valid, so the problem comes from an override of the key at fault.
            let variable = problem.key.flatMap(ConfigKey.init(name:)).flatMap { key -> String? in
                guard case .environment(let variable) = sources[key] else { return nil }
                return variable
            }
            throw ConfigError(
                kind: problem.kind,
                key: problem.key,
                environmentVariable: variable,
                reason: problem.reason
            )
        }
        configuration.engine.spoolPath = ConfigPaths.resolvedSpoolPath(
            configuration.engine.spoolPath,
            environment: environment
        )
        return Snapshot(
            filePath: filePath,
            fileExists: fileExists,
            configuration: configuration,
            fileConfiguration: decoded.configuration,
            sources: sources,
            unknownKeys: decoded.unknownKeys
        )
    }
}
