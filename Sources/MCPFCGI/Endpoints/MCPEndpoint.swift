import HTTPTypes
import Logging
import MCPHandlers

/// The Streamable HTTP endpoint (`/mcp`): turns HTTP requests into JSON-RPC messages for an
/// ``MCPHandlers/MCPServer`` and its answers back into HTTP responses, enforcing the transport's
/// session, header and origin rules.
public struct MCPEndpoint: Sendable {
    /// Transport settings of the endpoint.
    public struct Configuration: Sendable {
        /// Which `Origin` headers are accepted. Default: loopback only (the application adds its public origin).
        public var originPolicy: OriginPolicy
        /// `Retry-After` seconds sent with 503 when the session store is full. Default 5.
        public var retryAfterWhenFull: Int

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(originPolicy: OriginPolicy = OriginPolicy(), retryAfterWhenFull: Int = 5) {
            self.originPolicy = originPolicy
            self.retryAfterWhenFull = retryAfterWhenFull
        }
    }

    /// The MCP server behind the endpoint.
    public let server: MCPServer
    /// The endpoint's settings.
    public let configuration: Configuration
    let logger: Logger

    /// Creates the endpoint.
    /// - Parameters:
    ///   - server: the MCP server.
    ///   - configuration: transport settings.
    ///   - logger: where transport events are logged.
    public init(server: MCPServer, configuration: Configuration = Configuration(), logger: Logger) {
        self.server = server
        self.configuration = configuration
        self.logger = logger
    }

    /// The number of live sessions.
    public var activeSessionCount: Int { server.sessions.count }

    /// Answers `POST /mcp`: one JSON-RPC message.
    public func post(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        if let refusal = checkOrigin(request) { return refusal }
        let fields = request.head.headerFields
        guard Self.isJSONContentType(fields[.contentType]) else {
            return transportError(.unsupportedMediaType, "Content-Type must be application/json")
        }
        guard Self.acceptsJSON(fields[.accept]) else {
            return transportError(.notAcceptable, "Accept must allow application/json or text/event-stream")
        }
        let parsed: Value
        do {
            parsed = try JSONParser().parse(request.body)
        } catch {
            return rpcError(.badRequest, id: nil, .parseError("Parse error: \(error)"))
        }
        if case .array = parsed {
            return rpcError(.badRequest, id: nil, .invalidRequest("JSON-RPC batches are not supported"))
        }
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(parsed)
        } catch {
            return rpcError(.badRequest, id: error.id, error.error)
        }
        if case .request(let r) = message, r.method == "initialize" {
            return initialize(r, request: request)
        }
        guard let sessionID = fields[.mcpSessionID] else {
            return rpcError(
                .badRequest, id: message.requestID,
                MCPError(code: MCPError.Code.connectionClosed, message: "Bad Request: Mcp-Session-Id header is required"))
        }
        guard let session = server.sessions.session(id: sessionID) else {
            return rpcError(
                .notFound, id: message.requestID,
                MCPError(code: MCPError.Code.connectionClosed, message: "Session not found"))
        }
        if let version = fields[.mcpProtocolVersion],
            !server.configuration.supportedVersions.contains(ProtocolVersion(rawValue: version))
        {
            return rpcError(
                .badRequest, id: message.requestID,
                MCPError(code: MCPError.Code.connectionClosed, message: "Unsupported MCP-Protocol-Version: \(version)"))
        }
        switch message {
        case .notification(let notification):
            server.handle(notification, session: session)
            return accepted()
        case .response, .errorResponse:
            return accepted()
        case .request(let rpc):
            session.beginActivity()
            let context = RequestContext(
                requestID: rpc.id, session: session, user: session.owner, protocolVersion: session.protocolVersion,
                clientCapabilities: session.clientCapabilities,
                progressToken: rpc.params?["_meta"]?["progressToken"], logger: logger,
                outbound: DiscardingOutbound())
            let outcome = await server.handle(rpc, context: context)
            session.endActivity(now: server.configuration.now())
            switch outcome {
            case .success(let result):
                return .jsonBytes(.ok, JSONRPCResponse.success(id: rpc.id, result: result), headerFields: noStore)
            case .failure(let error):
                return .jsonBytes(.ok, JSONRPCResponse.failure(id: rpc.id, error: error), headerFields: noStore)
            }
        }
    }

    /// Answers `DELETE /mcp`: ends the session named by `Mcp-Session-Id`.
    public func delete(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        if let refusal = checkOrigin(request) { return refusal }
        guard let sessionID = request.head.headerFields[.mcpSessionID] else {
            return rpcError(
                .badRequest, id: nil,
                MCPError(code: MCPError.Code.connectionClosed, message: "Bad Request: Mcp-Session-Id header is required"))
        }
        guard server.sessions.remove(id: sessionID) != nil else {
            return rpcError(
                .notFound, id: nil, MCPError(code: MCPError.Code.connectionClosed, message: "Session not found"))
        }
        logger.debug("session ended by client", metadata: ["mcp.session.id": "\(sessionID)"])
        return HTTPServerResponse(status: .ok, headerFields: noStore)
    }

    private func initialize(_ rpc: JSONRPCRequest, request: HTTPServerRequest) -> HTTPServerResponse {
        do {
            let (result, session) = try server.initialize(rpc, owner: nil)
            var fields = noStore
            fields[.mcpSessionID] = session.id
            logger.debug(
                "session created",
                metadata: ["mcp.session.id": "\(session.id)", "http.request.id": "\(request.requestID)"])
            return .jsonBytes(.ok, JSONRPCResponse.success(id: rpc.id, result: result), headerFields: fields)
        } catch {
            var response = rpcError(
                .serviceUnavailable, id: rpc.id, .internalError("Too many live sessions; try again later"))
            response.head.headerFields[.retryAfter] = String(configuration.retryAfterWhenFull)
            logger.warning("session store full; initialize refused", metadata: ["http.request.id": "\(request.requestID)"])
            return response
        }
    }

    private var noStore: HTTPFields { [.cacheControl: "no-store"] }

    private func accepted() -> HTTPServerResponse {
        HTTPServerResponse(status: .accepted, headerFields: noStore)
    }

    private func checkOrigin(_ request: HTTPServerRequest) -> HTTPServerResponse? {
        let origin = request.head.headerFields[.origin]
        guard configuration.originPolicy.allows(origin) else {
            logger.notice("request from a foreign origin refused", metadata: ["origin": "\(origin ?? "")"])
            return rpcError(
                .forbidden, id: nil, MCPError(code: MCPError.Code.connectionClosed, message: "Forbidden: origin not allowed"))
        }
        return nil
    }

    private func transportError(_ status: HTTPResponse.Status, _ message: String) -> HTTPServerResponse {
        rpcError(status, id: nil, MCPError(code: MCPError.Code.connectionClosed, message: message))
    }

    private func rpcError(_ status: HTTPResponse.Status, id: RequestID?, _ error: MCPError) -> HTTPServerResponse {
        .jsonBytes(status, JSONRPCResponse.failure(id: id, error: error), headerFields: noStore)
    }

    static func isJSONContentType(_ value: String?) -> Bool {
        guard let value else { return false }
        let mediaType = value.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: " \t").lowercased()
        }
        return mediaType == "application/json"
    }

    /// Lenient Accept check: absent, `*/*`, `application/*`, `application/json` or `text/event-stream`.
    static func acceptsJSON(_ value: String?) -> Bool {
        guard let value else { return true }
        for part in value.split(separator: ",") {
            let type = part.split(separator: ";", maxSplits: 1)[0].trimmingCharacters(in: " \t").lowercased()
            if type == "*/*" || type == "application/*" || type == "application/json" || type == "text/event-stream"
                || type == "text/*"
            {
                return true
            }
        }
        return false
    }
}

extension JSONRPCMessage {
    /// The id of a request, for error responses.
    var requestID: RequestID? {
        if case .request(let r) = self { return r.id }
        return nil
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
