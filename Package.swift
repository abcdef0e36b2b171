// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "lago-console",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LagoAPI", targets: ["LagoAPI"]),
        .library(name: "LagoUsage", targets: ["LagoUsage"]),
        .library(name: "LagoConfig", targets: ["LagoConfig"]),
        .library(name: "LagoEngine", targets: ["LagoEngine"]),
        .library(name: "LagoBilling", targets: ["LagoBilling"]),
        .library(name: "LagoIngest", targets: ["LagoIngest"]),
        .library(name: "LagoSandbox", targets: ["LagoSandbox"]),
        .library(name: "LagoRelay", targets: ["LagoRelay"]),
        .library(name: "LagoOTLP", targets: ["LagoOTLP"]),
        .library(name: "LagoControl", targets: ["LagoControl"]),
        .library(name: "ConsoleUI", targets: ["ConsoleUI"]),
        .executable(name: "lago-console", targets: ["lago-console"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // 3.12.3 or later; 4.x is what async-http-client's and Hummingbird's own dependencies already resolve to.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Verifying (relay) and signing (sandbox) Lago's RS256 webhook signatures.
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        // The runtime of the generated OTLP messages (Sources/OTLPProto, scripts/generate-otlp.sh): no build plugin.
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "LagoAPI",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "LagoUsage", dependencies: ["LagoAPI"], swiftSettings: swiftSettings),
        .target(
            name: "LagoConfig",
            dependencies: [
                "LagoAPI",
                "LagoUsage",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LagoEngine",
            dependencies: [
                "LagoAPI",
                "LagoUsage",
                "LagoBilling",
                "CSpoolSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "LagoIngest", dependencies: ["LagoAPI"], swiftSettings: swiftSettings),
        .target(
            name: "LagoSandbox",
            dependencies: [
                "LagoAPI",
                "LagoIngest",
                "HTTPServing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LagoBench",
            dependencies: [
                "LagoEngine", "LagoSandbox", "LagoAPI", "LagoRelay", "LagoUsage", "LagoBilling", "ConsoleUI", "TmuxDriver",
                "LagoOTLP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The OTLP trace messages generated by scripts/generate-otlp.sh from opentelemetry-proto (committed).
        .target(
            name: "OTLPProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "LagoOTLP",
            dependencies: [
                "OTLPProto", "LagoUsage", "LagoAPI", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LagoRelay",
            dependencies: [
                "LagoAPI", "LagoUsage", "LagoEngine", "LagoIngest", "LagoBilling", "HTTPServing", "LagoOTLP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "LagoBilling", dependencies: ["LagoAPI"], swiftSettings: swiftSettings),
        .target(
            name: "LagoSession",
            dependencies: [
                "LagoAPI", "LagoUsage", "LagoConfig", "LagoEngine", "LagoControl", "LagoBilling",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ConsoleBridge",
            dependencies: [
                "ConsoleUI", "LagoEngine", "LagoAPI", "LagoUsage", "LagoConfig", "LagoControl", "Terminal",
                "LagoBilling", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HTTPServing",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LagoControl",
            dependencies: [
                "LagoAPI", "LagoEngine", "LagoUsage", "HTTPServing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ConsoleUI",
            dependencies: ["LagoAPI", "LagoUsage", "LagoBilling"],
            swiftSettings: swiftSettings
        ),
        .target(name: "CSpoolSQLite", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "CNCursesW",
            cSettings: [
                .define("NCURSES_WIDECHAR", to: "1"),
                .define("_XOPEN_SOURCE", to: "700"),
                .define("_DEFAULT_SOURCE"),
            ],
            linkerSettings: [.linkedLibrary("ncursesw"), .linkedLibrary("tinfo")]
        ),
        .target(
            name: "Terminal",
            dependencies: ["CNCursesW"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "lago-console",
            dependencies: [
                "LagoAPI", "LagoUsage", "LagoConfig", "LagoEngine", "LagoSandbox", "ConsoleUI", "ConsoleBridge",
                "Terminal", "LagoBench", "LagoRelay", "LagoControl", "LagoSession", "LagoBilling", "LagoOTLP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "IngestConformance",
            dependencies: [
                "LagoAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/IngestConformance",
            swiftSettings: swiftSettings
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: swiftSettings),
        // Drives tmux (a server per run, a control-mode client): the end-to-end tests and the console benchmark.
        .target(name: "TmuxDriver", path: "Tests/TmuxDriver", swiftSettings: swiftSettings),
        .testTarget(
            name: "LagoAPITests",
            dependencies: [
                "LagoAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConsoleUITests", dependencies: ["ConsoleUI", "LagoAPI", "LagoUsage", "LagoBilling"],
            exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(
            name: "EndToEndTests", dependencies: ["LagoSandbox", "LagoBench", "LagoBilling", "TestSupport", "TmuxDriver"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "LagoBenchTests", dependencies: ["LagoBench", "ConsoleUI"], swiftSettings: swiftSettings),
        .testTarget(
            name: "LagoRelayTests",
            dependencies: [
                "LagoRelay", "LagoEngine", "LagoSandbox", "LagoAPI", "LagoBilling", "LagoUsage", "IngestConformance", "LagoBench",
                "LagoOTLP", "OTLPProto", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LagoControlTests",
            dependencies: [
                "LagoControl", "LagoEngine", "LagoSandbox", "LagoAPI", "LagoUsage", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "TerminalTests", dependencies: ["Terminal"], swiftSettings: swiftSettings),
        .testTarget(
            name: "LagoBillingTests",
            dependencies: [
                "LagoBilling", "LagoAPI", "LagoSandbox", "TestSupport", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "LagoSessionTests",
            dependencies: [
                "LagoSession", "LagoEngine", "LagoControl", "LagoConfig", "LagoUsage", "LagoAPI", "LagoSandbox",
                "TestSupport", "LagoBilling",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConsoleBridgeTests",
            dependencies: [
                "ConsoleBridge", "ConsoleUI", "LagoEngine", "LagoAPI", "LagoUsage", "LagoConfig", "Terminal",
                "LagoSandbox", "LagoBilling",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "LagoConfigTests",
            dependencies: ["LagoConfig", "LagoAPI", "LagoUsage", "TestSupport", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LagoEngineTests",
            dependencies: [
                "LagoEngine", "LagoSandbox", "LagoAPI", "LagoUsage", "LagoBench", "LagoBilling", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LagoIngestTests", dependencies: ["LagoIngest", "LagoAPI"], swiftSettings: swiftSettings),
        .testTarget(
            name: "LagoSandboxTests",
            dependencies: [
                "LagoSandbox", "LagoAPI", "LagoBilling", "IngestConformance", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
