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
    dependencies: [
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
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
            ]
        ),
        .executableTarget(
            name: "mcp-fcgi-demo",
            dependencies: [
                "MCPFCGI",
                "MCPHandlers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "MCPHandlersTests", dependencies: ["MCPHandlers"]),
        .testTarget(name: "DemoTests", dependencies: ["mcp-fcgi-demo", "MCPHandlers"]),
        .testTarget(
            name: "MCPFCGITests",
            dependencies: [
                "MCPFCGI", "MCPHandlers", "CFCGI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
