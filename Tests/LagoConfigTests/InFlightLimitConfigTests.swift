import Foundation
import LagoUsage
import Testing

@testable import LagoConfig

@Suite("engine.max_in_flight: auto or a number")
struct InFlightLimitConfigTests {
    @Test("auto is the default; a number fixes the limit; both survive a save and a reload")
    func autoOrNumber() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(store.configuration.engine.maxInFlight == .auto)
            #expect(store.configuration.engine.minInFlight == 1)
            #expect(store.configuration.engine.maxInFlightLimit == 64)
            try store.set("engine.max_in_flight", to: "12")
            #expect(store.configuration.engine.maxInFlight == .fixed(12))
            #expect(try String(contentsOfFile: path, encoding: .utf8).contains("max_in_flight = 12"))
            try store.set("engine.max_in_flight", to: "auto")
            try store.set("engine.max_in_flight_limit", to: "32")
            try store.set("engine.min_in_flight", to: "2")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("max_in_flight = 'auto'"))
            let reloaded = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(reloaded.configuration.engine.maxInFlight == .auto)
            #expect(reloaded.configuration.engine.maxInFlightLimit == 32)
            #expect(reloaded.configuration.engine.minInFlight == 2)
            #expect(ConfigKey.engineMaxInFlight.defaultValue == .string("auto"))
        }
    }

    @Test("Anything else is refused with the key and what it must be")
    func refused() async throws {
        try await withTemporaryDirectory { folder in
            let store = try ConfigStore(path: "\(folder)/config.toml", environment: isolatedEnvironment(home: folder))
            for (text, kind) in [
                ("automatic", ConfigError.Kind.typeMismatch), ("0", .invalidValue), ("65", .invalidValue),
            ] {
                let error = try #require(throws: ConfigError.self) { try store.set("engine.max_in_flight", to: text) }
                #expect(error.kind == kind)
                #expect(error.key == "engine.max_in_flight")
                #expect(error.reason.contains(#""auto""#))
            }
            #expect(throws: ConfigError.self) { try store.set("engine.max_in_flight_limit", to: "auto") }
            #expect(store.configuration.engine.maxInFlight == .auto)
        }
    }
}
