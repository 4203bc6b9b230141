// swift-tools-version: 6.1
// libFuzzer targets for the parsers that read untrusted input; one executable per target. Not part of the main
// build: see README.md and scripts/fuzz.sh (built with `-Xswiftc -sanitize=fuzzer,address`).
//
// Each executable defines `LLVMFuzzerTestOneInput` and `<Target>_main`, which runs libFuzzer's driver: on Linux
// SwiftPM links an executable with `main` aliased to `<Target>_main` (the entry point it renames so that tests can
// link executables), so libFuzzer's own `main` is not used.
import PackageDescription

let handlers: Target.Dependency = .product(name: "MCPHandlers", package: "MCPFCGI")
let fcgi: Target.Dependency = .product(name: "MCPFCGI", package: "MCPFCGI")
let http: Target.Dependency = .product(name: "MCPHTTP", package: "MCPFCGI")
let oauth: Target.Dependency = .product(name: "MCPOAuth", package: "MCPFCGI")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["CFuzzerDriver"] + dependencies)
}

let package = Package(
    name: "MCPFCGIFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "MCPFCGI", path: ".."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
    ],
    targets: [
        .target(name: "CFuzzerDriver"),
        fuzzTarget("FuzzJSON", [handlers]),
        fuzzTarget("FuzzJSONRPC", [handlers]),
        fuzzTarget("FuzzURITemplate", [handlers]),
        fuzzTarget("FuzzRequestState", [handlers]),
        fuzzTarget("FuzzCGI", [fcgi, http, handlers]),
        fuzzTarget("FuzzOAuthForm", [fcgi, oauth, http, handlers]),
        fuzzTarget("FuzzOAuthJSON", [oauth, http, handlers, logging]),
    ],
    swiftLanguageModes: [.v6]
)
