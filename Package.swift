// swift-tools-version: 6.0
import PackageDescription

/// Flywheel: the agent-harness improvement loop, kept in git.
/// Layout and rules: see README.md and the design notes it links.
let package = Package(
    name: "Flywheel",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "flywheel", targets: ["flywheel"]),
        .library(
            name: "Flywheel", targets: ["Flywheel", "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        // OTLP/HTTP protobuf: the runtime only; the opentelemetry-proto Swift code is generated once and committed
        // (Sources/FlywheelTraces/OTLP/Generated), so no build runs the protoc plugin.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // SHA-256 for content keys (FlywheelSupport/SHA256.swift).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // RFC 4180 CSV (FlywheelSupport/CSVRecords.swift).
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        // OrderedDictionary for JSON objects that keep member order (FlywheelSupport/JSONValue.swift); already in the build
        // graph through swift-sdk and swift-nio, so it adds no build time.
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // MARK: C shims (module map + shim header only)
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CCmark", pkgConfig: "libcmark-gfm",
            providers: [.apt(["libcmark-gfm-dev", "libcmark-gfm-extensions-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // MARK: C wrappers (the only modules that import a C module)
        .target(name: "GitStore", dependencies: ["CGit2"]),
        .target(name: "HTTP", dependencies: ["CCurl"]),
        .target(name: "Markdown", dependencies: ["CCmark"]),
        .target(name: "Inflate", dependencies: ["CZlib"]),
        // Three glibc calls behind _GNU_SOURCE (pipe2, posix_spawn's closefrom and chdir), for Spawn.
        .target(name: "CSpawn"),
        // The one child-process runner: agents, suite scripts, exec: providers, git credential helpers.
        .target(name: "Spawn", dependencies: ["CSpawn"]),
        // The inside of a JSON string crossed 64 bytes at a time with SSE2 (no Swift spelling for movemask), for
        // JSONScanner's string skip.
        .target(name: "CJSONScan"),

        // MARK: resources
        .target(name: "FlywheelTemplates", path: "Templates", resources: [.copy("pages")]),
        .target(name: "FlywheelSiteAssets", path: "Site", resources: [.copy("assets")]),

        // MARK: the library's own modules (each a public surface the loop uses; internals stay internal)
        // Generic infrastructure every stage shares: JSON, CSV, SHA-256, YAML limits, regex time limits.
        .target(
            name: "FlywheelSupport",
            dependencies: [
                "CJSONScan",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ]
        ),
        // HALO traces: spans, JSONL scan/validate/index, query tools, OTLP and agent-stream import, redaction.
        // Nothing here reads or writes the history (TraceStage, TraceStreamImport, TraceReceiver are the loop's).
        .target(
            name: "FlywheelTraces",
            dependencies: [
                "FlywheelSupport", "Inflate", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["OTLP/Generated/README.md"]
        ),

        // Chat models: the `ChatModel` protocol, the OpenAI-compatible client (libcurl), retries, pricing, cassettes,
        // the name resolver. No history, no configuration: the loop, the critics and the evals' graders all use it.
        .target(name: "FlywheelModels", dependencies: ["FlywheelSupport", "HTTP"]),
        // Promptfoo-compatible evals: suite loading, providers, assertions (model-graded through FlywheelModels),
        // results/JUnit files and the gate. Nothing here reads or writes the history (Loop/EvalStages does).
        .target(
            name: "FlywheelEvals",
            dependencies: [
                "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "HTTP", "Spawn", "Markdown",
                .product(name: "Yams", package: "Yams"),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ]
        ),

        // MARK: the loop
        .target(
            name: "Flywheel",
            dependencies: [
                "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals",
                "GitStore", "HTTP", "Markdown", "Spawn", "FlywheelTemplates", "FlywheelSiteAssets",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ]
        ),
        // The embedded diligence example: one user of the product (its agent, offline model, scaffold, rules file).
        .target(name: "FlywheelExample", dependencies: ["Flywheel", "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals"], resources: [.copy("Resources/example")]),
        .target(
            name: "FlywheelCLI",
            dependencies: [
                "Flywheel", "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals", "FlywheelExample",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "MCP", package: "swift-sdk"),
            ]
        ),
        .executableTarget(name: "flywheel", dependencies: ["FlywheelCLI"]),

        // MARK: benchmarks (release builds: `make bench`)
        .executableTarget(name: "bench-git", dependencies: ["GitStore", "TestSupport"], path: "Benchmarks/bench-git"),
        .executableTarget(name: "bench-traces", dependencies: ["Flywheel", "FlywheelSupport", "FlywheelTraces"], path: "Benchmarks/bench-traces"),
        .executableTarget(name: "bench-evals", dependencies: ["Flywheel", "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals"], path: "Benchmarks/bench-evals"),
        .executableTarget(name: "bench-site", dependencies: ["Flywheel", "FlywheelSupport", "FlywheelTraces", "GitStore"], path: "Benchmarks/bench-site"),
        .executableTarget(name: "bench-run", dependencies: ["Flywheel", "FlywheelSupport", "FlywheelTraces"], path: "Benchmarks/bench-run"),
        .executableTarget(name: "bench-redact", dependencies: ["Flywheel", "FlywheelSupport", "FlywheelTraces"], path: "Benchmarks/bench-redact"),

        // MARK: test tools (built by `swift build` / `swift test`; run by tests and Tests/scripts)
        .executableTarget(name: "gitstore-stress", dependencies: ["GitStore"], path: "Tests/Tools/gitstore-stress"),
        // Fuzz harness (Tests/fuzz/run.sh): a built-in mutation fuzzer, or libFuzzer with -D FLYWHEEL_LIBFUZZER.
        .executableTarget(name: "flywheel-fuzz", dependencies: ["Flywheel", "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals", "Markdown", "TestSupport"], path: "Tests/fuzz/flywheel-fuzz"),

        // MARK: tests
        .target(name: "TestSupport", dependencies: ["GitStore"], path: "Tests/TestSupport"),
        .testTarget(name: "GitStoreTests", dependencies: ["GitStore", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport"]),
        .testTarget(name: "MarkdownTests", dependencies: ["Markdown"]),
        .testTarget(name: "SpawnTests", dependencies: ["Spawn", "TestSupport"]),
        .testTarget(
            name: "FlywheelTests",
            dependencies: [
                "CJSONScan", "Flywheel", "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals", "GitStore", "Inflate", "TestSupport",
                .product(name: "Yams", package: "Yams"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            resources: [.copy("Fixtures"), .copy("Golden")]),
        .testTarget(
            name: "FlywheelExampleTests",
            dependencies: ["FlywheelExample", "Flywheel", "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals", "GitStore", "TestSupport"]),
        .testTarget(
            name: "FlywheelCLITests", dependencies: [
                "FlywheelCLI", "Flywheel", "FlywheelSupport", "FlywheelTraces", "FlywheelModels", "FlywheelEvals", "FlywheelExample", "GitStore", "TestSupport",
            ],
            exclude: ["Fixtures", "Golden"]),
    ],
    swiftLanguageModes: [.v6]
)
