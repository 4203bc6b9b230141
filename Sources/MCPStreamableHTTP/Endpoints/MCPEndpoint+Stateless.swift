import HTTPTypes
import MCPHandlers
import MCPHTTP

/// The 2026-07-28 (stateless) revision on the same endpoint: no session, every request carries its
/// protocol version, client info and capabilities, so any worker process can answer it.
extension MCPEndpoint {
    /// Whether a POST belongs to the stateless revision: its `MCP-Protocol-Version` header names a version
    /// that is not a session-era one, or (without header and session) its `_meta` carries a protocol version.
    func isStateless(_ request: HTTPServerRequest, message: Value) -> Bool {
        let fields = request.head.headerFields
        if let version = fields.value(.mcpProtocolVersion) {
            return !ProtocolVersion.sessionEra.contains(ProtocolVersion(rawValue: version))
        }
        guard fields.value(.mcpSessionID) == nil, case .object(let object) = message else { return false }
        if object["method"] == "initialize" { return false }
        return StatelessRequestMeta.isPresent(in: object["params"])
    }

    /// Answers a stateless POST: JSON, or SSE when the handler sends progress or logs first (and always for
    /// `subscriptions/listen`). The JSON answer's status follows the outcome's
    /// ``MCPHandlers/StatelessDisposition`` (``MCPHandlers/StatelessDisposition/httpStatus``).
    /// - Throws: ``TransportError/invalidMessage(_:)``, ``TransportError/listenNeedsEventStream``.
    func postStateless(
        _ parsed: Value, request: HTTPServerRequest, accepted: (json: Bool, sse: Bool), user: String?
    ) async throws(TransportRefusal) -> HTTPServerResponse {
        let fields = request.head.headerFields
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(parsed)
        } catch {
            throw TransportError.invalidMessage(error.error.message).answering(error.id)
        }
        guard case .request(let rpc) = message else {
            // Notifications and responses have no session to act on in this revision.
            return self.accepted()
        }
        var params: [String: String] = [:]
        for field in fields where field.name.canonicalName.hasPrefix("mcp-param-") {
            params[String(field.name.rawName.dropFirst("mcp-param-".count))] = field.value
        }
        let headers = StatelessHeaders(
            protocolVersion: fields.value(.mcpProtocolVersion), method: fields.value(.mcpMethod),
            name: fields.value(.mcpName), params: params)
        let sse = accepted.sse
        let needsStream = MCPServer.statelessMethodNeedsStream(rpc.method)
        if needsStream, !sse { throw TransportError.listenNeedsEventStream.answering(nil) }
        let canStream = sse && (configuration.responseMode.streams || needsStream)
        let exchange = PostExchange(
            requestID: rpc.id, stream: canStream ? streams.statelessStreamOptions() : nil, server: server,
            sessionID: nil)
        let server = self.server
        let task = Task(executorPreference: RequestExecutor.current) {
            let outcome = await server.handleStateless(rpc, headers: headers, outbound: exchange, user: user)
            exchange.complete(outcome.result)
        }
        exchange.setHandler(task)  // cancelled when the client leaves (a stateless stream cannot be resumed)
        // subscriptions/listen switches to SSE with its acknowledgement; an invalid one is answered as JSON.
        if !needsStream, canStream, !exchange.isDecided { deadlines?.watch(exchange) }
        return await httpAnswer(exchange, id: rpc.id, stateless: true)
    }
}
