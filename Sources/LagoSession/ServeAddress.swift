import LagoConfig

/// A `host:port` option of `serve` (`--listen`, `--control-listen`), by the rules of `relay.listen`.
public enum ServeAddress {
    /// `text` as host and port, or `fallback` when the option is not given.
    /// - Throws: ``InvalidServeAddress`` naming `option` when `text` is not `HOST:PORT`.
    public static func parse(
        _ text: String?, option: String, default fallback: (String, Int)
    ) throws(InvalidServeAddress) -> (host: String, port: Int) {
        guard let text else { return fallback }
        guard let address = ListenAddress(text) else {
            throw InvalidServeAddress(
                description: "\(option) \(text): "
                    + (ListenAddress.problem(text, example: "127.0.0.1:8787 or [::1]:8787") ?? "not HOST:PORT"))
        }
        return (address.host, address.port)
    }
}

/// A `host:port` option that is not one.
public struct InvalidServeAddress: Error, CustomStringConvertible {
    /// The option, what it takes and what it got.
    public let description: String
}
