import Foundation
import Logging
import MCPHTTP
import MCPHandlers
import MCPOAuth
import MCPStreamableHTTP

#if canImport(Glibc)
import Glibc
#endif

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
/// `MCPFCGI_THREADS`, `MCPFCGI_DRAIN_TIMEOUT` (seconds), `MCPFCGI_KEEP_CONNECTIONS` (`0`: close every FastCGI
/// connection after its request; N: keep the ones nginx asks to keep, at most N idle), `MCPFCGI_EXCLUSIVE_SOCKET` (`1`: run.sh gives each
/// worker a socket of its own), `MCPFCGI_REQUEST_STATE_KEY_FILE` (at least 32 random bytes), `MCPFCGI_LOG_LEVEL`,
/// `MCPFCGI_PEER_SOCKETS` (every worker's socket, comma-separated), and for `AUTH=builtin` (read by
/// ``builtInAuthorization(supportedScopes:requiredScopes:logger:)``) `MCPFCGI_AUTH`, `MCPFCGI_OAUTH_KEY_FILE`,
/// `MCPFCGI_OAUTH_CLIENTS_FILE`, `MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE`.
public struct DeploymentEnvironment: Sendable {
    /// The worker's node id: the prefix of its session ids, by which nginx routes a session to its worker.
    public var nodeID: String?
    /// The deployment's public URL (`https://host`), as clients reach it through nginx.
    public var publicURL: String?
    /// Accept threads.
    public var threads: Int?
    /// How long a drain waits for requests in flight.
    public var drainTimeout: Duration?
    /// What happens to a FastCGI connection after its request (`MCPFCGI_KEEP_CONNECTIONS`: `0` closes it, N keeps
    /// at most N idle ones).
    public var connectionReuse: FastCGIServer.ConnectionReuse?
    /// Whether the inherited socket is this worker's alone.
    public var exclusiveSocket: Bool
    /// The key every worker shares for 2026-07-28 request state.
    public var requestStateKey: [UInt8]?
    /// The log level.
    public var logLevel: Logger.Level?
    /// The other workers' sockets (this worker's own left out): where revocations and management requests go.
    public var peerSockets: [String]
    /// The authentication mode run.sh's `AUTH` chose: `anonymous` (also when unset) or `builtin`.
    public var auth: String
    /// The PEM file of the access-token signing key every worker shares (`AUTH=builtin`).
    public var oauthKeyFile: String?
    /// The JSON file of pre-provisioned OAuth clients (`AUTH=builtin`).
    public var oauthClientsFile: String?
    /// The file of the initial access token dynamic client registration requires (`AUTH=builtin`).
    public var oauthRegistrationTokenFile: String?

    /// The shortest request-state key accepted (the HMAC-SHA256 key must not be weaker than the hash). 32 bytes.
    public static let minimumRequestStateKeyBytes = 32

    /// Reads the settings.
    /// - Parameters:
    ///   - environment: the variables. Default: the process's environment.
    ///   - ownSocket: this worker's socket, left out of ``peerSockets``. Default: the one spawn-fcgi bound to
    ///     descriptor 0 (``inheritedSocketPath()``).
    /// - Throws: ``DeploymentEnvironmentError`` naming the variable that is set but unusable, and what to do.
    public init(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        ownSocket: String? = DeploymentEnvironment.inheritedSocketPath()
    ) throws(DeploymentEnvironmentError) {
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
        connectionReuse = try number("MCPFCGI_KEEP_CONNECTIONS", minimum: 0).map(FastCGIServer.ConnectionReuse.init(keepingAtMost:))
        exclusiveSocket = value("MCPFCGI_EXCLUSIVE_SOCKET") == "1"
        if let level = value("MCPFCGI_LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw DeploymentEnvironmentError(
                    variable: "MCPFCGI_LOG_LEVEL", message: "\(level) is not one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = parsed
        }
        requestStateKey = try value("MCPFCGI_REQUEST_STATE_KEY_FILE").map(Self.requestStateKey(at:))
        peerSockets = Self.peers(from: value("MCPFCGI_PEER_SOCKETS"), excluding: ownSocket)
        auth = value("MCPFCGI_AUTH") ?? "anonymous"
        guard auth == "anonymous" || auth == "builtin" else {
            throw DeploymentEnvironmentError(variable: "MCPFCGI_AUTH", message: "\(auth) is not anonymous or builtin")
        }
        oauthKeyFile = value("MCPFCGI_OAUTH_KEY_FILE")
        oauthClientsFile = value("MCPFCGI_OAUTH_CLIENTS_FILE")
        oauthRegistrationTokenFile = value("MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE")
    }

    /// The OAuth mode run.sh chose: `AuthConfiguration.anonymous`, or for `AUTH=builtin` the built-in
    /// authorization server with the shared signing key, the pre-provisioned clients and the registration token
    /// run.sh wrote, its state kept in this worker (a ``/MCPOAuth/PeerSyncedOAuthStorage``: nginx sends `/oauth/` to one worker,
    /// which pushes revocations to ``peerSockets``). Pass it to `MCPApplication(server:configuration:authorization:logger:)`.
    ///
    /// ```swift
    /// let authorization = try deployment.builtInAuthorization(supportedScopes: ["mcp:read"], requiredScopes: ["mcp:read"])
    /// let app = try MCPApplication(server: server, configuration: deployment.application(), authorization: authorization)
    /// ```
    /// - Parameters:
    ///   - supportedScopes: the scopes clients may ask for.
    ///   - requiredScopes: the scopes every MCP request needs.
    ///   - logger: where the storage reports undelivered revocations.
    /// - Returns: the configuration; anonymous unless `MCPFCGI_AUTH` is `builtin`.
    /// - Throws: ``DeploymentEnvironmentError`` naming the file that cannot be used, and what to do.
    public func builtInAuthorization(
        supportedScopes: [String] = ["mcp:read", "mcp:write"], requiredScopes: [String] = [],
        logger: Logger = Logger(label: "mcpfcgi.oauth")
    ) throws(DeploymentEnvironmentError) -> AuthConfiguration {
        guard auth == "builtin" else { return .anonymous }
        var clients: [OAuthClient] = []
        if let oauthClientsFile {
            do { clients = try PreregisteredClientsFile.load(path: oauthClientsFile) } catch {
                throw DeploymentEnvironmentError(variable: "MCPFCGI_OAUTH_CLIENTS_FILE", message: error.description)
            }
        }
        if oauthKeyFile == nil {
            logger.warning("no OAuth signing key file: a key is generated in memory (tokens die with this worker)")
        }
        return .builtIn(
            .init(
                storage: PeerSyncedOAuthStorage(logger: logger), supportedScopes: supportedScopes,
                preregisteredClients: clients,
                clientRegistration: ClientRegistrationPolicy(
                    initialAccessToken: try oauthRegistrationTokenFile.map(Self.registrationToken(at:))),
                signingKey: oauthKeyFile.map { .pemFile($0) } ?? .generated),
            requiredScopes: requiredScopes)
    }

    /// The shortest initial access token accepted.
    public static let minimumRegistrationTokenLength = 32

    /// The initial access token in `path` (surrounding whitespace dropped), refused when the file cannot be read or
    /// holds fewer than ``minimumRegistrationTokenLength`` characters.
    /// - Throws: ``DeploymentEnvironmentError`` naming the file and what to do.
    public static func registrationToken(at path: String) throws(DeploymentEnvironmentError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DeploymentEnvironmentError(
                variable: "MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE", message: "cannot read the OAuth registration token file \(path)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= minimumRegistrationTokenLength else {
            throw DeploymentEnvironmentError(
                variable: "MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE",
                message:
                    "the OAuth registration token in \(path) has \(token.count) characters; it needs at least \(minimumRegistrationTokenLength) (openssl rand -hex 24 > \(path))")
        }
        return token
    }

    /// The path of the unix socket spawn-fcgi bound to descriptor 0; nil when descriptor 0 is not one.
    public static func inheritedSocketPath() -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(0, $0, &length) }
        }
        guard named == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
        let path = withUnsafeBytes(of: address.sun_path) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return path.isEmpty ? nil : path
    }

    /// The comma-separated socket list without blanks, duplicates (after resolving symbolic links) and `own`.
    /// - Parameters:
    ///   - list: `MCPFCGI_PEER_SOCKETS`'s value.
    ///   - own: this worker's socket.
    public static func peers(from list: String?, excluding own: String?) -> [String] {
        let ownPath = own.map(canonicalPath)
        var seen = Set<String>()
        return (list ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty && canonicalPath($0) != ownPath && seen.insert(canonicalPath($0)).inserted
        }
    }

    /// The path with symbolic links resolved (as given when it cannot be resolved).
    static func canonicalPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
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
    /// deadline, connection reuse and socket exclusivity given.
    public var fastCGI: FastCGIServer.Configuration {
        var configuration = FastCGIServer.Configuration()
        if let threads { configuration.threads = threads }
        if let connectionReuse { configuration.connectionReuse = connectionReuse }
        if let drainTimeout { configuration.drainTimeout = drainTimeout }
        configuration.exclusiveInheritedSocket = exclusiveSocket
        return configuration
    }

    /// `configuration` with the deployment's public URL and node id, and ``peerSockets`` as its peers when it
    /// names none.
    public func application(_ configuration: MCPApplication.Configuration = .init()) -> MCPApplication.Configuration {
        var configuration = configuration
        if let publicURL { configuration.publicURL = publicURL }
        if let nodeID { configuration.nodeID = nodeID }
        if configuration.peers.isEmpty { configuration.peers = peerSockets.map { .fastCGI(socketPath: $0) } }
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
