// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "MCPFCGI",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MCPHandlers", targets: ["MCPHandlers"]),
        .library(name: "MCPFCGI", targets: ["MCPFCGI"]),
        .executable(name: "mcp-fcgi-demo", targets: ["mcp-fcgi-demo"]),
    ],
    traits: [
        .trait(
            name: "OTLPTracing",
            description: "The demo exports traces over OTLP/HTTP with swift-otel when OTEL_EXPORTER_OTLP_ENDPOINT is set"),
        .default(enabledTraits: ["OTLPTracing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // The OTLP exporter of the demo (traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set): HTTP only, no gRPC stack.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CFCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "MCPHandlers",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .target(
            name: "MCPFCGI",
            dependencies: [
                "CFCGI",
                "CCurl",
                "MCPHandlers",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .executableTarget(
            name: "mcp-fcgi-demo",
            dependencies: [
                "MCPFCGI",
                "MCPHandlers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                // Only with the OTLPTracing trait (default): the in-process test run builds without it, leaving
                // swift-otel's HTTP client, NIO and BoringSSL out of its debug build.
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTLPTracing"])),
                .product(
                    name: "ServiceLifecycle", package: "swift-service-lifecycle", condition: .when(traits: ["OTLPTracing"])),
            ]
        ),
        .testTarget(
            name: "MCPHandlersTests",
            dependencies: [
                "MCPHandlers",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(name: "DemoTests", dependencies: ["mcp-fcgi-demo", "MCPHandlers"]),
        .testTarget(
            name: "MCPFCGITests",
            dependencies: [
                "MCPFCGI", "MCPHandlers", "CFCGI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
