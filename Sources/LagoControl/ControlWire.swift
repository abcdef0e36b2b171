public import Foundation
import LagoAPI
import LagoEngine
import LagoUsage

/// Where a running `lago-console serve` (or a console with its own engine) answers its control API, and how to
/// authenticate.
///
/// `serve` (or the console) writes it as JSON next to its spool (`<spool>.control.json`, mode 0600) while it runs, so a console or
/// headless command that finds the spool locked attaches to that engine instead of failing. Only the spool's owner
/// can read the token.
public struct ControlEndpoint: Codable, Sendable, Hashable {
    /// Base URL of the control API, e.g. `http://127.0.0.1:8788`.
    public var url: String
    /// Bearer token every control route except `/metrics` requires.
    public var token: String
    /// The serving process.
    public var pid: Int32
    /// When it started.
    public var startedAt: Date
    /// The Lago it delivers to (base URL; the key is never written here).
    public var lagoURL: String
    /// Whether that Lago is an embedded sandbox.
    public var sandbox: Bool
    /// The relay's base URL, when the relay runs.
    public var relayURL: String?
    /// The masked API key (`••••1234`), for status lines.
    public var maskedKey: String
    /// The key of an embedded sandbox (a throwaway generated per run), so an attached console can query it; never
    /// set for a real Lago, whose key stays in the config file or the environment.
    public var sandboxAPIKey: String?
    /// The command holding the spool and serving this API: `serve`, or `console` (a console with its own engine
    /// serves it too, so headless commands and a second console attach to it). Absent: `serve`.
    public var holder: String?

    /// ``holder``, `serve` when absent.
    public var holderName: String { holder ?? "serve" }

    /// Creates an endpoint description.
    public init(
        url: String, token: String, pid: Int32, startedAt: Date, lagoURL: String, sandbox: Bool, relayURL: String?,
        maskedKey: String, sandboxAPIKey: String? = nil, holder: String? = nil
    ) {
        self.holder = holder
        self.url = url
        self.token = token
        self.pid = pid
        self.startedAt = startedAt
        self.lagoURL = lagoURL
        self.sandbox = sandbox
        self.relayURL = relayURL
        self.maskedKey = maskedKey
        self.sandboxAPIKey = sandboxAPIKey
    }

    /// The discovery file of a spool.
    public static func discoveryPath(forSpool spoolPath: String) -> String { spoolPath + ".control.json" }

    /// Reads the discovery file of a spool; `nil` when there is none or it cannot be decoded.
    public static func read(forSpool spoolPath: String) -> ControlEndpoint? {
        read(discoveryFile: discoveryPath(forSpool: spoolPath))
    }

    /// Reads a discovery file; `nil` when there is none or it cannot be decoded.
    static func read(discoveryFile path: String) -> ControlEndpoint? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? ControlCoding.decoder().decode(ControlEndpoint.self, from: data)
    }

    /// Writes the discovery file atomically with mode 0600.
    public func write(forSpool spoolPath: String) throws {
        let path = Self.discoveryPath(forSpool: spoolPath)
        let temporary = path + ".tmp-\(getpid())"
        let data = try ControlCoding.encoder().encode(self)
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else {
            throw ControlError.discovery("cannot write \(temporary)")
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ControlError.discovery("cannot write \(path): \(reason)")
        }
    }

    /// Removes the discovery file if it still describes this endpoint.
    public func remove(forSpool spoolPath: String) {
        if Self.read(forSpool: spoolPath)?.token == token { unlink(Self.discoveryPath(forSpool: spoolPath)) }
    }
}

/// What a running `lago-console serve` did when asked to read its config file again
/// (`POST /control/v1/config/reload`, which `lago-console config set` calls after saving).
///
/// It names keys and shows the API key masked; it never carries a secret.
public struct ConfigReload: Codable, Sendable, Hashable {
    /// The config file serve reads (absolute path).
    public var configFile: String
    /// The keys serve applies while it runs (metric codes, the default subscription and, unless it delivers to
    /// an embedded sandbox, `lago.api_key`, `lago.api_url` and `lago.allow_insecure_http`).
    public var liveKeys: [String]
    /// The live keys this reload changed, now in use.
    public var applied: [String]
    /// Live keys whose value in the file serve does not use (see ``problem``); all of them when the file did not
    /// load.
    public var unapplied: [String]
    /// Keys whose value in the file differs from the one serve started with; they take effect when it restarts.
    public var restartNeeded: [String]
    /// Keys serve takes from its environment instead of the file: key name → environment variable.
    public var environmentOverrides: [String: String]
    /// The Lago serve delivers to now (API root).
    public var lagoURL: String
    /// The key serve delivers with now, masked (`••••1234`).
    public var maskedKey: String
    /// Whether serve delivers to an embedded sandbox (its Lago settings do not apply while it runs).
    public var sandbox: Bool
    /// Why a change in the file was not applied (serve kept what it had), naming the key and the next step; `nil`
    /// when everything applied.
    public var problem: String?

    /// Creates a report.
    public init(
        configFile: String, liveKeys: [String], applied: [String], unapplied: [String] = [], restartNeeded: [String],
        environmentOverrides: [String: String], lagoURL: String, maskedKey: String, sandbox: Bool,
        problem: String? = nil
    ) {
        self.configFile = configFile
        self.liveKeys = liveKeys
        self.applied = applied
        self.unapplied = unapplied
        self.restartNeeded = restartNeeded
        self.environmentOverrides = environmentOverrides
        self.lagoURL = lagoURL
        self.maskedKey = maskedKey
        self.sandbox = sandbox
        self.problem = problem
    }
}

/// A failure talking to a control API.
public enum ControlError: Error, Sendable, CustomStringConvertible {
    /// The discovery file could not be written.
    case discovery(String)
    /// The control API could not be reached.
    case unreachable(String)
    /// The control API could not listen (its address and why).
    case cannotListen(String)
    /// The control API answered with an error it did not describe as an engine error.
    case refused(status: Int, message: String)

    public var description: String {
        switch self {
        case .discovery(let message): message
        case .unreachable(let message): "the running lago-console serve cannot be reached: \(message)"
        case .cannotListen(let message): message
        case .refused(let status, let message):
            "the running lago-console serve refused the request (HTTP \(status)): \(message)"
        }
    }
}

/// JSON coding shared by the control server and client: dates as Unix seconds; keys as the Swift properties name
/// them (a key strategy would rename the Lago wire keys of embedded events).
enum ControlCoding {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }
}

/// Request and response bodies of the control API.
enum ControlWire {
    struct Send: Codable, Sendable {
        var events: [EventInput]?
        var usage: UsageRecord?
        /// Beside `events`: the canonical field (or `cost`) whose mapping coded each, `null` for a sender's code.
        var mappedFields: [String?]?
    }

    struct TransactionIDs: Codable, Sendable {
        var transactionIDs: [String]
    }

    struct Flush: Codable, Sendable {
        var deadlineSeconds: Double
    }

    struct Mapping: Codable, Sendable {
        var metricCodes: [String: String]
    }

    struct Subscription: Codable, Sendable {
        var externalSubscriptionID: String?
    }

    struct Replay: Codable, Sendable {
        var edit: DeadLetterEdit?
    }

    struct Failure: Codable, Sendable {
        /// An ``EngineError`` kind name, or `control` for errors of the control API itself.
        var kind: String
        var message: String
        var path: String?
        /// For `unbillable`: the refused events' indices and reasons.
        var unbillable: [EngineError.UnbillableEvent]? = nil
    }

    struct Ok: Codable, Sendable {
        var ok = true
    }
}
