// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "JobLedger",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "JobLedger", targets: ["JobLedger"]),
        .library(name: "JobLedgerSQLite", targets: ["JobLedgerSQLite"]),
        .library(name: "JobLedgerEngine", targets: ["JobLedgerEngine"]),
        .library(name: "JobLedgerProjections", targets: ["JobLedgerProjections"]),
        .library(name: "JobLedgerAnyCable", targets: ["JobLedgerAnyCable"]),
        .library(name: "JobLedgerUpstash", targets: ["JobLedgerUpstash"]),
        .library(name: "JobLedgerVercelBlob", targets: ["JobLedgerVercelBlob"]),
        .executable(name: "jobledger", targets: ["jobledger"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        // `jobledger serve`: the HTTP API, SSE, the dashboard and /metrics (JobLedgerServer).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // HTTP request parts as Hummingbird's pipeline carries them (the request deadline).
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // `swift package generate-documentation`: the DocC catalogs of the library products.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // The core: identifiers, events, the pure lifecycle state machine. No I/O.
        .target(name: "JobLedger"),
        // The append-only log on SQLite: schema, group commit, cursors, assets, hash chain.
        .target(
            name: "JobLedgerSQLite",
            dependencies: [
                "JobLedger",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // The runtime: handlers, workers, leases, retries, cancellation.
        .target(
            name: "JobLedgerEngine",
            dependencies: [
                "JobLedger",
                "JobLedgerSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The projections: the seam (state and effect projections), the runner, the built-in
        // jobs table, blob and broadcast projections, the in-process hub and the folder store.
        .target(
            name: "JobLedgerProjections",
            dependencies: [
                "JobLedger",
                "JobLedgerSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // What `jobledger bench` measures, against raw SQLite in the same run. Used by the CLI
        // only: no library product ships benchmark code.
        .target(
            name: "JobLedgerBenchmarks",
            dependencies: [
                "JobLedger", "JobLedgerSQLite", "JobLedgerEngine", "JobLedgerProjections", "JobLedgerAnyCable",
                "JobLedgerUpstash",
                "JobLedgerVercelBlob",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The cloud adapters' URLSession fetch: a capped body, no redirects followed.
        .target(name: "JobLedgerHTTP", path: "Sources/Plugins/HTTP"),
        // Broadcast adapter for AnyCable's HTTP broadcast API, signed stream names, client JWTs.
        .target(
            name: "JobLedgerAnyCable",
            dependencies: [
                "JobLedger", "JobLedgerHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Plugins/AnyCable"),
        // Upstash Redis over its REST API: the client, job intake from a stream consumer group,
        // the status-cache projection, and rate limiters that share keys with @upstash/ratelimit.
        .target(
            name: "JobLedgerUpstash",
            dependencies: [
                "JobLedger", "JobLedgerHTTP", "JobLedgerSQLite", "JobLedgerEngine", "JobLedgerProjections",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Plugins/Upstash"),
        // Blob store adapter for Vercel Blob's HTTP API: put (single and multipart), head, list,
        // delete, copy, with the official SDKs' headers and retry rules.
        .target(
            name: "JobLedgerVercelBlob",
            dependencies: [
                "JobLedger", "JobLedgerHTTP",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Plugins/VercelBlob"),
        // `jobledger serve`: the HTTP API on Hummingbird 2 (auth, rate limit, reading, SSE), the
        // server-rendered dashboard, /metrics, and the OpenAPI document.
        .target(
            name: "JobLedgerServer",
            dependencies: [
                "JobLedger", "JobLedgerSQLite", "JobLedgerEngine", "JobLedgerProjections",
                "JobLedgerAnyCable", "JobLedgerUpstash",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources")]),
        // The command-line tool.
        .executableTarget(
            name: "jobledger",
            dependencies: [
                "JobLedger",
                "JobLedgerSQLite",
                "JobLedgerEngine",
                "JobLedgerProjections",
                "JobLedgerAnyCable",
                "JobLedgerUpstash",
                "JobLedgerVercelBlob",
                "JobLedgerBenchmarks",
                "JobLedgerServer",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // What the test targets share: starting children safely from many tests at once, and a
        // port held by a listener.
        .target(name: "JobLedgerTestSupport", path: "Tests/JobLedgerTestSupport"),
        .testTarget(name: "JobLedgerTests", dependencies: ["JobLedger"]),
        .testTarget(
            name: "JobLedgerSQLiteTests",
            // The projections only where a storage test reads the jobs table through them.
            dependencies: ["JobLedgerTestSupport", "JobLedger", "JobLedgerSQLite", "JobLedgerProjections", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "JobLedgerEngineTests",
            dependencies: [
                "JobLedger", "JobLedgerSQLite", "JobLedgerEngine", "JobLedgerProjections",
                // GRDB only to write a log at an older schema (OlderSchemaShutdownTests).
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "JobLedgerProjectionsTests",
            dependencies: [
                "JobLedger", "JobLedgerSQLite", "JobLedgerProjections",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "JobLedgerAnyCableTests",
            dependencies: [
                "JobLedgerTestSupport", "JobLedger", "JobLedgerAnyCable", "JobLedgerSQLite", "JobLedgerEngine", "JobLedgerProjections",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "JobLedgerUpstashTests",
            dependencies: [
                "JobLedgerTestSupport", "JobLedger", "JobLedgerUpstash", "JobLedgerSQLite", "JobLedgerEngine", "JobLedgerProjections",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "JobLedgerVercelBlobTests",
            dependencies: [
                "JobLedgerTestSupport", "JobLedger", "JobLedgerVercelBlob", "JobLedgerSQLite", "JobLedgerEngine", "JobLedgerProjections",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The stand-ins' own contract suites (Fixtures/*/test_*.py, with the official SDKs).
        .testTarget(name: "StandInContractTests", dependencies: ["JobLedgerTestSupport"]),
        .testTarget(
            name: "JobLedgerBenchmarksTests",
            dependencies: ["JobLedger", "JobLedgerSQLite", "JobLedgerBenchmarks", .product(name: "GRDB", package: "GRDB.swift")]),
        // The docs, run as written: every console block of README.md and Docs/ (Docs/README.md).
        .testTarget(name: "DocsTests"),
        .testTarget(
            name: "JobLedgerServerTests",
            dependencies: [
                "JobLedgerTestSupport", "JobLedger", "JobLedgerSQLite", "JobLedgerEngine", "JobLedgerProjections", "JobLedgerServer",
                "JobLedgerUpstash", "JobLedgerAnyCable",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]),
        .testTarget(
            name: "CLITests",
            dependencies: ["JobLedgerTestSupport", "JobLedger", "JobLedgerSQLite", "JobLedgerProjections", .product(name: "GRDB", package: "GRDB.swift")]),
    ],
    swiftLanguageModes: [.v6]
)
