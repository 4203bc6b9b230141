// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "MCPFCGI",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MCPHandlers", targets: ["MCPHandlers"]),
        .library(name: "MCPHTTP", targets: ["MCPHTTP"]),
        .library(name: "MCPOAuth", targets: ["MCPOAuth"]),
        .library(name: "MCPStreamableHTTP", targets: ["MCPStreamableHTTP"]),
        .library(name: "MCPFCGI", targets: ["MCPFCGI"]),
        .library(name: "MCPPostgres", targets: ["MCPPostgres"]),
        .library(name: "MCPFCGITesting", targets: ["MCPFCGITesting"]),
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
        // base64url for the protocol core and OAuth; already in the graph through jwt-kit, no dependencies.
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // The OTLP exporter of the demo (traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set): HTTP only, no gRPC stack.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // State shared by deployments (STORE=postgres): OAuth storage, sessions, revocations by LISTEN/NOTIFY.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        // `swift package generate-documentation` (scripts/docs.sh): the DocC site of the public API and its articles.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
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
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The HTTP vocabulary: requests, responses, responders, middleware, the router, policies (CORS, host,
        // origin, security headers, rate limits), response streams and peers. No transport.
        .target(
            name: "MCPHTTP",
            dependencies: [
                "MCPHandlers",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // OAuth 2.1: the built-in authorization server, the resource server, external verification. On the HTTP
        // vocabulary only.
        .target(
            name: "MCPOAuth",
            dependencies: [
                "CCurl",
                "MCPHandlers",
                "MCPHTTP",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // MCP's Streamable HTTP transport, transport-neutral: the application, endpoints, stream and replay
        // bookkeeping, health, management, metrics, the session sweeper. Builds and tests without libfcgi.
        .target(
            name: "MCPStreamableHTTP",
            dependencies: [
                "MCPHandlers",
                "MCPHTTP",
                "MCPOAuth",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The FastCGI front (Linux): libfcgi accept threads, the stream hub, the FastCGI peer client. Re-exports the
        // layers above, so `import MCPFCGI` is all an executable needs.
        .target(
            name: "MCPFCGI",
            dependencies: [
                "CFCGI",
                "MCPHandlers",
                "MCPHTTP",
                "MCPOAuth",
                "MCPStreamableHTTP",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                // FastCGIServer is a Service (run in a ServiceGroup) and takes SIGTERM/SIGINT through UnixSignals.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // PostgreSQL storage (STORE=postgres): the OAuth storage and the schema migrations, on postgres-nio. No libfcgi.
        .target(
            name: "MCPPostgres",
            dependencies: [
                "MCPHandlers",
                "MCPHTTP",
                "MCPOAuth",
                "MCPStreamableHTTP",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // In-process testing of servers built on the framework: request builders, an MCP test client, a sink for
        // streamed answers. No libfcgi.
        .target(
            name: "MCPFCGITesting",
            dependencies: [
                "MCPHandlers",
                "MCPHTTP",
                "MCPStreamableHTTP",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .executableTarget(
            name: "mcp-fcgi-demo",
            dependencies: [
                "MCPFCGI",
                "MCPHandlers",
                "MCPPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                // Only with the OTLPTracing trait (default; scripts/test.sh builds with it, and
                // --disable-default-traits leaves swift-otel's HTTP client, NIO and BoringSSL out of a quick build).
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
        .testTarget(
            name: "DemoTests",
            dependencies: ["mcp-fcgi-demo", "MCPHandlers", "MCPStreamableHTTP", "MCPFCGITesting"]),
        // The HTTP vocabulary, OAuth and the Streamable HTTP transport, in process: no libfcgi.
        .testTarget(
            name: "MCPStreamableHTTPTests",
            dependencies: [
                "MCPHandlers", "MCPHTTP", "MCPOAuth", "MCPStreamableHTTP", "MCPFCGITesting",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // PostgreSQL storage against a real server: a private cluster (initdb, pg_ctl) per test run.
        .testTarget(
            name: "MCPPostgresTests",
            dependencies: [
                "MCPPostgres", "MCPOAuth", "MCPHandlers", "MCPHTTP", "MCPStreamableHTTP", "MCPFCGITesting",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // README's and the DocC articles' Swift fragments (scripts/readme_snippets.py), compiled with the tests so the
        // documentation cannot drift from the library; nothing in it runs.
        .testTarget(
            name: "ReadmeSnippets",
            dependencies: [
                "MCPFCGI", "MCPPostgres", "MCPFCGITesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The FastCGI front against the real libfcgi: accept threads, CGI codecs, the stream hub, the peer client.
        .testTarget(
            name: "MCPFCGITests",
            dependencies: [
                "MCPFCGI", "MCPFCGITesting", "CFCGI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
