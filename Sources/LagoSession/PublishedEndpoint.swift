public import LagoControl
public import Logging
import Synchronization

/// The discovery file `serve` wrote, kept so that a change of the Lago URL or key it delivers with is written
/// there too (the URL and the masked key; never the key itself).
public final class PublishedEndpoint: Sendable {
    private let spoolPath: String
    private let logger: Logger
    private let state = Mutex<(endpoint: ControlEndpoint?, lago: (apiRoot: String, maskedKey: String)?)>((nil, nil))

    /// Writes the discovery file of the serve on `spoolPath`; problems are logged to `logger`.
    public init(spoolPath: String, logger: Logger) {
        self.spoolPath = spoolPath
        self.logger = logger
    }

    /// Writes the discovery file (with the Lago in use now, if it changed since `endpoint` was made).
    /// - Throws: ``ControlError/discovery(_:)`` when it cannot be written.
    public func publish(_ endpoint: ControlEndpoint) throws {
        try state.withLock { state in
            var endpoint = endpoint
            if let lago = state.lago {
                endpoint.lagoURL = lago.apiRoot
                endpoint.maskedKey = lago.maskedKey
            }
            try endpoint.write(forSpool: spoolPath)
            state.endpoint = endpoint
        }
    }

    /// Writes the discovery file again with the Lago serve now delivers to.
    public func lagoChanged(apiRoot: String, maskedKey: String) {
        state.withLock { state in
            state.lago = (apiRoot, maskedKey)
            guard var endpoint = state.endpoint else { return }
            endpoint.lagoURL = apiRoot
            endpoint.maskedKey = maskedKey
            do {
                try endpoint.write(forSpool: spoolPath)
                state.endpoint = endpoint
            } catch {
                logger.warning("the discovery file still names the previous Lago", metadata: ["error": "\(error)"])
            }
        }
    }
}
