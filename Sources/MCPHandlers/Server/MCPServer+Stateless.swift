import Foundation
import Synchronization

extension MCPServer {
    /// The methods whose results may be `input_required` (2026-07-28 multi round-trip requests).
    static let inputRequiredMethods: Set<String> = ["tools/call", "prompts/get", "resources/read"]

    /// Whether the answer to `method` is a long-lived stream (`subscriptions/listen`): the transport must
    /// answer it with SSE (`text/event-stream`) from the start, even in JSON-response mode.
    /// - Parameter method: a stateless request's method.
    public static func statelessMethodNeedsStream(_ method: String) -> Bool { method == "subscriptions/listen" }

    /// Answers one stateless (2026-07-28) request: no session, everything the server needs is in the request.
    ///
    /// In order: reads `params._meta` (missing protocol version or client capabilities → -32602); checks the
    /// mirrored headers when given (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` → -32020); checks the
    /// version against ``Configuration/statelessVersions`` (→ -32022 with `supported`); then answers
    /// `server/discover`, `subscriptions/listen` (a long-lived stream, see below), `tools/*`, `resources/list`,
    /// `resources/templates/list`, `resources/read`, `prompts/*` and `completion/complete`. Any other method —
    /// including the session-era `initialize`, `ping`, `logging/setLevel` and `resources/subscribe` — is
    /// -32601 (``StatelessDisposition/unknownMethod``).
    ///
    /// Results get `resultType`, `_meta["io.modelcontextprotocol/serverInfo"]`, and for cacheable methods
    /// `ttlMs`/`cacheScope` (``Configuration/cacheHints``). A tool, prompt or resource handler that asks for
    /// input (``RequestContext/elicit(_:key:)->Value``, ``RequestContext/requestInputs(_:)``, …) not answered by the
    /// request's `inputResponses` ends the request with an `input_required` result carrying `inputRequests`
    /// and an HMAC-protected `requestState`; the client's retry re-runs the handler from the start with the
    /// answers. A tampered, expired or foreign `requestState` is -32602.
    ///
    /// `subscriptions/listen` sends `notifications/subscriptions/acknowledged` through `outbound` first, then
    /// every change notification its filter admits (each stamped with the subscription id), and returns only
    /// when the stream ends: cancelling the calling task (the client went away) returns a cancelled outcome,
    /// ``SubscriptionHub/closeAll()`` (shutdown) returns the final result.
    ///
    /// ```swift
    /// let outcome = await server.handleStateless(
    ///     request, headers: StatelessHeaders(protocolVersion: h["mcp-protocol-version"],
    ///                                        method: h["mcp-method"], name: h["mcp-name"]),
    ///     outbound: stream, user: token?.subject)
    /// if !outcome.isCancelled { respond(status: myStatus(for: outcome.disposition), body: outcome.body) }
    /// ```
    /// - Parameters:
    ///   - request: the JSON-RPC request.
    ///   - headers: the mirrored HTTP headers; nil for transports without headers (nothing is checked).
    ///   - outbound: where request-scoped notifications (progress, log messages) and listen-stream
    ///     notifications go. It cannot carry requests to the client in this era.
    ///   - user: the authenticated user; a `requestState` is bound to it.
    ///
    /// Observed as ``handle(_:context:)`` is: a span per request, `mcpfcgi_jsonrpc_requests_total` (and the
    /// tool metrics for `tools/call`); an `input_required` result counts as a result (a tool's `success`).
    /// - Returns: the response and how the request ended (``StatelessOutcome/disposition``).
    public func handleStateless(
        _ request: JSONRPCRequest, headers: StatelessHeaders?, outbound: any ServerOutbound = DiscardingOutbound(),
        user: String?
    ) async -> StatelessOutcome {
        await observed(request, outcome: { ObservedOutcome($0.result) }) {
            await answerStateless(request, headers: headers, outbound: outbound, user: user)
        }
    }

    /// ``handleStateless(_:headers:outbound:user:)`` without its span and metrics.
    private func answerStateless(
        _ request: JSONRPCRequest, headers: StatelessHeaders?, outbound: any ServerOutbound, user: String?
    ) async -> StatelessOutcome {
        let id = request.id
        let meta: StatelessRequestMeta
        do {
            meta = try StatelessRequestMeta(params: request.params)
        } catch {
            return StatelessOutcome(id: id, result: .failure(error))
        }
        if let headers,
            let problem = Self.headerMismatch(request, meta: meta, headers: headers) ?? paramHeaderMismatch(
                request, headers: headers)
        {
            return StatelessOutcome(id: id, result: .failure(.headerMismatch(problem)))
        }
        guard let version = configuration.statelessVersions.first(where: { $0.rawValue == meta.protocolVersion })
        else {
            return StatelessOutcome(
                id: id,
                result: .failure(
                    .unsupportedProtocolVersion(
                        requested: meta.protocolVersion, supported: configuration.statelessVersions)))
        }
        if request.method == "subscriptions/listen" {
            return await listen(request, outbound: outbound)
        }
        let round: InputRound
        do {
            round = try openInputRound(request, user: user)
        } catch {
            return StatelessOutcome(id: id, result: .failure(error))
        }
        let context = RequestContext(
            requestID: id, user: user, protocolVersion: version, meta: meta, logger: configuration.logger,
            outbound: outbound, inputRound: round)
        let result = await runStateless(request, context: context)
        if case .failure(let error) = result, error.code == MCPError.Code.requestCancelled {
            return StatelessOutcome(id: id, result: result)
        }
        let (raised, pending) = round.inputRequired
        if raised {
            guard Self.inputRequiredMethods.contains(request.method), !pending.isEmpty else {
                return StatelessOutcome(
                    id: id,
                    result: .failure(
                        .internalError("Input requests are possible only in tools/call, prompts/get and resources/read")
                    ))
            }
            return StatelessOutcome(
                id: id, result: .success(inputRequiredResult(request, user: user, round: round, pending: pending)))
        }
        switch result {
        case .success(let value):
            return StatelessOutcome(id: id, result: .success(completeResult(value, method: request.method)))
        case .failure(let error) where error.code == MCPError.Code.resourceNotFound:
            // 2026-07-28 answers an unknown resource with -32602 (was -32002).
            return StatelessOutcome(
                id: id, result: .failure(MCPError(code: MCPError.Code.invalidParams, message: error.message, data: error.data)))
        case .failure:
            return StatelessOutcome(id: id, result: result)
        }
    }

    /// The `server/discover` result (before `resultType`, `_meta` and cache hints are added).
    public var discoverResult: Value {
        // Tasks are not in 2026-07-28's core (an extension this server does not offer).
        var result: [String: Value] = [
            "supportedVersions": .array(configuration.statelessVersions.map { .string($0.rawValue) }),
            "capabilities": Self.withoutTasks(capabilities),
            "serverInfo": configuration.serverInfo.value,
        ]
        if let instructions = configuration.instructions { result["instructions"] = .string(instructions) }
        return .object(result)
    }

    // MARK: Dispatch

    private static let statelessCounter = Atomic<UInt64>(0)

    /// Runs the request as a child task registered in flight (so draining waits for it); cancelling the
    /// calling task cancels it.
    ///
    /// A structured child (`async let`, as ``handle(_:context:)`` does), not `Task {}`: it inherits the caller's
    /// executor preference (no hop off the FastCGI accept thread) and its cancellation; cancelling the entry in
    /// flight cancels the child alone, through the handle it registers while it runs.
    private func runStateless(_ request: JSONRPCRequest, context: RequestContext) async -> Result<Value, MCPError> {
        let serial = Self.statelessCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let key = InFlightRequests.Key(sessionID: "~stateless-\(serial)", requestID: request.id)
        let canceller = ChildTaskCanceller()
        let token = inFlight.begin(key) { canceller.cancel() }
        async let work = canceller.run { await self.statelessDispatch(request, context: context) }
        let result = await work
        let outcome = inFlight.end(key, token: token)
        if outcome.cancelled || Task.isCancelled { return .failure(.requestCancelled(outcome.reason)) }
        return result
    }

    private func statelessDispatch(
        _ request: JSONRPCRequest, context: RequestContext
    ) async -> Result<Value, MCPError> {
        switch request.method {
        case "server/discover":
            return .success(discoverResult)
        case "tools/list", "tools/call", "resources/list", "resources/templates/list", "resources/read",
            "prompts/list", "prompts/get", "completion/complete":
            return await dispatch(request, context: context)
        default:
            return .failure(.methodNotFound(request.method))
        }
    }

    /// Adds `resultType: "complete"`, the cache hint of cacheable methods and the serverInfo `_meta` stamp.
    func completeResult(_ value: Value, method: String) -> Value {
        guard case .object(var object) = value else { return value }
        if object["resultType"] == nil { object["resultType"] = "complete" }
        stampServerInfo(&object)
        let result = Value.object(object)
        return configuration.cacheHints.hint(for: method)?.apply(to: result) ?? result
    }

    private func stampServerInfo(_ object: inout [String: Value]) {
        var meta = object["_meta"]?.objectValue ?? [:]
        if meta[StatelessRequestMeta.serverInfoKey] == nil {
            meta[StatelessRequestMeta.serverInfoKey] = configuration.serverInfo.value
        }
        object["_meta"] = .object(meta)
    }

    // MARK: Headers

    /// Why the mirrored headers do not match the body, or nil when they do.
    static func headerMismatch(
        _ request: JSONRPCRequest, meta: StatelessRequestMeta, headers: StatelessHeaders
    ) -> String? {
        guard let version = headers.protocolVersion else { return "the MCP-Protocol-Version header is missing" }
        guard version == meta.protocolVersion else {
            return "MCP-Protocol-Version header value '\(version)' does not match body value '\(meta.protocolVersion)'"
        }
        guard let method = headers.method else { return "the Mcp-Method header is missing" }
        guard method == request.method else {
            return "Mcp-Method header value '\(method)' does not match body value '\(request.method)'"
        }
        let nameKey: String? =
            switch request.method {
            case "tools/call", "prompts/get": "name"
            case "resources/read": "uri"
            default: nil
            }
        if let nameKey, let bodyName = request.params?[nameKey]?.stringValue {
            guard let raw = headers.name else { return "the Mcp-Name header is missing" }
            guard let name = decodeHeaderValue(raw) else { return "the Mcp-Name header has a malformed base64 value" }
            guard name == bodyName else {
                return "Mcp-Name header value '\(name)' does not match body value '\(bodyName)'"
            }
        }
        return nil
    }

    /// Why the `Mcp-Param-*` headers of a `tools/call` do not match its arguments, or nil when they do: every
    /// argument whose schema property carries `x-mcp-header` (reached through `properties` only) must come with
    /// its header, equal to the argument after decoding; an absent or null argument must come without.
    func paramHeaderMismatch(_ request: JSONRPCRequest, headers: StatelessHeaders) -> String? {
        guard request.method == "tools/call", let name = request.params?["name"]?.stringValue,
            let schema = tools.withLock({ $0.entry(named: name)?.tool.inputSchema })
        else { return nil }
        let arguments = request.params?["arguments"] ?? [:]
        for (path, token, type) in Self.headerAnnotations(schema) {
            var value: Value? = arguments
            for key in path { value = value?[key] }
            let raw = headers.params[token.lowercased()]
            let header = "Mcp-Param-\(token)"
            guard let value, !value.isNull else {
                if raw != nil { return "\(header) header is present but the argument is absent" }
                continue
            }
            guard let raw else { return "\(header) header is missing" }
            guard let decoded = Self.decodeHeaderValue(raw) else { return "\(header) header has a malformed value" }
            let matches: Bool
            switch value {
            case .string(let s): matches = decoded == s
            case .bool(let b): matches = decoded == (b ? "true" : "false")
            case .int, .double:
                if type == "integer", let expected = value.intValue, let got = Double(decoded), got.rounded() == got {
                    matches = Int(exactly: got) == expected
                } else {
                    matches = decoded == value.description
                }
            default: matches = false
            }
            if !matches { return "\(header) header value '\(decoded)' does not match the argument" }
        }
        return nil
    }

    /// The `x-mcp-header` annotations of a schema: the argument path, the header token and the property type.
    static func headerAnnotations(_ schema: Value, path: [String] = []) -> [([String], String, String?)] {
        guard let properties = schema["properties"]?.objectValue else { return [] }
        var found: [([String], String, String?)] = []
        for key in properties.keys.sorted() {
            guard let property = properties[key] else { continue }
            if let token = property["x-mcp-header"]?.stringValue {
                found.append((path + [key], token, property["type"]?.stringValue))
            }
            found += headerAnnotations(property, path: path + [key])
        }
        return found
    }

    /// A header value, decoded when it uses the `=?base64?…?=` form; nil when that form is malformed.
    static func decodeHeaderValue(_ raw: String) -> String? {
        guard raw.hasPrefix("=?base64?"), raw.hasSuffix("?="), raw.count >= 11 else { return raw }
        let payload = String(raw.dropFirst(9).dropLast(2))
        guard let data = Data(base64Encoded: payload), data.base64EncodedString() == payload else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
