import Foundation
import Logging
import MCPHandlers
import MCPStreamableHTTP

/// What `deploy/run.sh` (and the systemd units) tell each worker through its environment, read for a server of
/// your own: with it, `WORKER_BIN=/path/to/your-server deploy/run.sh` serves your executable as it serves the demo
/// (the listening socket from spawn-fcgi, the node id nginx routes sessions by, the public URL, the accept threads,
/// the drain deadline, the key shared by every worker for 2026-07-28 request state).
///
/// ```swift
/// let deployment = try DeploymentEnvironment()
/// try FastCGIServer.run(configuration: deployment.fastCGI, logger: logger) {
///     let server = MCPServer(configuration: deployment.server(.init(serverInfo: .init(name: "weather", version: "1"))))
///     …
///     return MCPApplication(server: server, configuration: deployment.application(), logger: logger)
/// }
/// ```
///
/// Variables (each optional; unset: the component's default): `MCPFCGI_NODE_ID`, `MCPFCGI_PUBLIC_URL`,
/// `MCPFCGI_THREADS`, `MCPFCGI_DRAIN_TIMEOUT` (seconds), `MCPFCGI_EXCLUSIVE_SOCKET` (`1`: run.sh gives each
/// worker a socket of its own), `MCPFCGI_REQUEST_STATE_KEY_FILE` (at least 32 random bytes), `MCPFCGI_LOG_LEVEL`.
public struct DeploymentEnvironment: Sendable {
    /// The worker's node id: the prefix of its session ids, by which nginx routes a session to its worker.
    public var nodeID: String?
    /// The deployment's public URL (`https://host`), as clients reach it through nginx.
    public var publicURL: String?
    /// Accept threads.
    public var threads: Int?
    /// How long a drain waits for requests in flight.
    public var drainTimeout: Duration?
    /// Whether the inherited socket is this worker's alone.
    public var exclusiveSocket: Bool
    /// The key every worker shares for 2026-07-28 request state.
    public var requestStateKey: [UInt8]?
    /// The log level.
    public var logLevel: Logger.Level?

    /// The shortest request-state key accepted (the HMAC-SHA256 key must not be weaker than the hash). 32 bytes.
    public static let minimumRequestStateKeyBytes = 32

    /// Reads the settings.
    /// - Parameter environment: the variables. Default: the process's environment.
    /// - Throws: ``DeploymentEnvironmentError`` naming the variable that is set but unusable, and what to do.
    public init(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(DeploymentEnvironmentError) {
        func value(_ name: String) -> String? {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        func number(_ name: String, minimum: Int) throws(DeploymentEnvironmentError) -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text), number >= minimum else {
                throw DeploymentEnvironmentError(variable: name, message: "\(text) is not a whole number ≥ \(minimum)")
            }
            return number
        }
        nodeID = value("MCPFCGI_NODE_ID")
        publicURL = value("MCPFCGI_PUBLIC_URL")
        threads = try number("MCPFCGI_THREADS", minimum: 1)
        drainTimeout = try number("MCPFCGI_DRAIN_TIMEOUT", minimum: 0).map { .seconds($0) }
        exclusiveSocket = value("MCPFCGI_EXCLUSIVE_SOCKET") == "1"
        if let level = value("MCPFCGI_LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw DeploymentEnvironmentError(
                    variable: "MCPFCGI_LOG_LEVEL", message: "\(level) is not one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = parsed
        }
        requestStateKey = try value("MCPFCGI_REQUEST_STATE_KEY_FILE").map(Self.requestStateKey(at:))
    }

    /// The request-state key in `path`, refused when the file cannot be read or holds fewer than
    /// ``minimumRequestStateKeyBytes`` bytes (a silent fallback would leave each worker with its own key).
    /// - Throws: ``DeploymentEnvironmentError`` naming the file and what to do.
    public static func requestStateKey(at path: String) throws(DeploymentEnvironmentError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DeploymentEnvironmentError(
                variable: "MCPFCGI_REQUEST_STATE_KEY_FILE", message: "cannot read the request-state key file \(path)")
        }
        guard data.count >= minimumRequestStateKeyBytes else {
            throw DeploymentEnvironmentError(
                variable: "MCPFCGI_REQUEST_STATE_KEY_FILE",
                message:
                    "the request-state key file \(path) holds \(data.count) bytes; it needs at least \(minimumRequestStateKeyBytes) random bytes (head -c 32 /dev/urandom > \(path))")
        }
        return Array(data)
    }

    /// The FastCGI front's configuration: the socket inherited from spawn-fcgi (no path), and the threads, drain
    /// deadline and socket exclusivity given.
    public var fastCGI: FastCGIServer.Configuration {
        var configuration = FastCGIServer.Configuration()
        if let threads { configuration.threads = threads }
        if let drainTimeout { configuration.drainTimeout = drainTimeout }
        configuration.exclusiveInheritedSocket = exclusiveSocket
        return configuration
    }

    /// `configuration` with the deployment's public URL and node id.
    public func application(_ configuration: MCPApplication.Configuration = .init()) -> MCPApplication.Configuration {
        var configuration = configuration
        if let publicURL { configuration.publicURL = publicURL }
        if let nodeID { configuration.nodeID = nodeID }
        return configuration
    }

    /// `configuration` with the deployment's request-state key.
    public func server(_ configuration: MCPServer.Configuration) -> MCPServer.Configuration {
        var configuration = configuration
        if let requestStateKey { configuration.requestStateKey = requestStateKey }
        return configuration
    }
}

/// A deployment variable that is set but unusable.
public struct DeploymentEnvironmentError: Error, Sendable, CustomStringConvertible {
    /// The variable.
    public var variable: String
    /// What is wrong, and what to do.
    public var message: String

    /// Creates an error.
    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }

    /// One sentence.
    public var description: String { "\(variable): \(message)" }
}
