// swift-tools-version: 6.1
// The examples a user copies, as a package of their own that depends on the library by path, exactly as a user's
// package depends on it by URL. Built and tested by scripts/test.sh (swift build/test --package-path Examples);
// tests/integration/test_examples.py serves each behind deploy/run.sh (WORKER_BIN) and drives it with the official
// MCP client through nginx.
import PackageDescription

let mcpfcgi: Target.Dependency = .product(name: "MCPFCGI", package: "MCPFCGI")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

let package = Package(
    name: "MCPFCGIExamples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "MCPFCGI", path: ".."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
    ],
    targets: [
        // README's server: one typed tool.
        .executableTarget(name: "typed-tools-example", dependencies: [mcpfcgi, logging], path: "TypedTools"),
        // Resources, a resource template, prompts and completions.
        .executableTarget(name: "catalog-example", dependencies: [mcpfcgi, logging], path: "Catalog"),
        // Elicitation (a typed form and URL mode), sampling and roots.
        .executableTarget(name: "interactive-example", dependencies: [mcpfcgi, logging], path: "Interactive"),
        // Two tenants, each its own OAuth-protected resource, with the built-in authorization server.
        .executableTarget(name: "tenants-example", dependencies: [mcpfcgi, logging], path: "Tenants"),
        // README's "Test your tool": the catalog's tools, resources and prompts tested in process.
        .testTarget(
            name: "CatalogTests",
            dependencies: [
                "catalog-example", mcpfcgi, logging, .product(name: "MCPFCGITesting", package: "MCPFCGI"),
            ],
            path: "Tests/CatalogTests"),
    ],
    swiftLanguageModes: [.v6]
)
