import Tracing

/// Reads propagated trace context (W3C `traceparent` / `tracestate`, or whatever keys the bootstrapped
/// instrument asks for) from an MCP request's `params._meta`.
struct MetaExtractor: Extractor {
    func extract(key: String, from carrier: [String: Value]) -> String? { carrier[key]?.stringValue }
}

extension MCPServer {
    /// How an observed request ended, for its metrics and its span.
    struct ObservedOutcome {
        /// The JSON-RPC error code it was answered with; nil for a result.
        var errorCode: Int?
        /// The error's message, for the span status.
        var errorMessage: String?
        /// A `tools/call` result with `isError: true`.
        var isToolError: Bool

        /// The outcome of a JSON-RPC answer.
        init(_ result: Result<Value, MCPError>) {
            switch result {
            case .success(let value):
                errorCode = nil
                errorMessage = nil
                isToolError = value["isError"]?.boolValue == true
            case .failure(let error):
                errorCode = error.code
                errorMessage = error.message
                isToolError = false
            }
        }

        /// An error outcome.
        init(errorCode: Int, message: String) {
            self.errorCode = errorCode
            self.errorMessage = message
            self.isToolError = false
        }
    }

    /// The longest method name or request id copied into a span attribute (UTF-8 bytes).
    static let maxSpanAttributeBytes = 256

    /// Runs `body`, the answer to one JSON-RPC request, inside its span and records its metrics.
    ///
    /// The span is named after the method (`other` for methods the server does not know) or
    /// `tools/call <tool>` for a registered tool; its parent is the current context (the HTTP request's
    /// span) unless `params._meta` carries a `traceparent`, whose context is then extracted through the
    /// bootstrapped instrument.
    /// - Parameters:
    ///   - request: the request.
    ///   - outcome: how `body`'s answer ended.
    ///   - body: the answer.
    /// - Returns: `body`'s answer.
    func observed<T>(
        _ request: JSONRPCRequest, outcome: (T) -> ObservedOutcome, _ body: () async -> T
    ) async -> T {
        let method = ServerMetrics.methodLabel(request.method)
        let isToolCall = method == "tools/call"
        var tool: String? = nil
        if isToolCall, let name = request.params?["name"]?.stringValue,
            tools.withLock({ $0.entry(named: name) != nil })
        {
            tool = name
        }
        var parent = ServiceContext.current ?? .topLevel
        if case .object(let meta)? = request.params?["_meta"], meta["traceparent"]?.stringValue != nil {
            InstrumentationSystem.instrument.extract(meta, into: &parent, using: MetaExtractor())
        }
        let start = ContinuousClock.now
        return await withSpan(tool.map { "tools/call \($0)" } ?? method, context: parent, ofKind: .server) { span in
            if span.isRecording {
                span.updateAttributes { attributes in
                    attributes["mcp.method.name"] = Self.clipped(request.method)
                    attributes["jsonrpc.request.id"] = Self.clipped(request.id.description)
                    if let tool { attributes["gen_ai.tool.name"] = tool }
                }
            }
            let answer = await body()
            let observed = outcome(answer)
            metrics.recordRequest(method: method, errorCode: observed.errorCode)
            if isToolCall {
                let toolOutcome: ServerMetrics.ToolOutcome =
                    switch observed.errorCode {
                    case nil: observed.isToolError ? .toolError : .success
                    case MCPError.Code.requestCancelled?: .cancelled
                    default: .protocolError
                    }
                metrics.recordToolCall(
                    tool: tool ?? "unknown", outcome: toolOutcome,
                    nanoseconds: (ContinuousClock.now - start).wholeNanoseconds)
            }
            if span.isRecording {
                if let code = observed.errorCode {
                    span.attributes["error.type"] = String(code)
                    span.setStatus(SpanStatus(code: .error, message: observed.errorMessage.map(Self.clipped)))
                } else if observed.isToolError {
                    span.attributes["error.type"] = "tool_error"
                    span.setStatus(SpanStatus(code: .error, message: "the tool's result has isError: true"))
                }
            }
            return answer
        }
    }

    /// `text`, cut to ``maxSpanAttributeBytes`` UTF-8 bytes (a client chooses it).
    static func clipped(_ text: String) -> String {
        guard text.utf8.count > maxSpanAttributeBytes else { return text }
        return String(decoding: text.utf8.prefix(maxSpanAttributeBytes), as: UTF8.self)
    }
}
