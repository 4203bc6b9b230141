import HTTPTypes
import MCPHTTP
import MCPHandlers

/// An MCP client for in-process tests: it sends Streamable HTTP requests straight to a responder (an
/// ``MCPApplication`` or any ``HTTPResponder``), with no socket, nginx or FastCGI in between, and reads JSON and
/// Server-Sent Events answers alike.
///
/// ```swift
/// let app = MCPApplication(server: server, logger: logger)
/// let client = MCPTestClient(app)
/// let session = try await client.initialize()
/// let result = try await client.callTool("echo", arguments: ["text": "hi"], session: session)
/// #expect(result["content"]?[0]?["text"] == "hi")
/// ```
public struct MCPTestClient: Sendable {
    /// Why a call gave no result.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// The answer had an unexpected HTTP status; the body is kept for the message.
        case status(Int, body: String)
        /// The server answered with a JSON-RPC error.
        case rpcError(code: Int, message: String)
        /// The answer was not what the protocol says (no session id, no JSON-RPC response in it).
        case malformed(String)

        /// What went wrong, for test failures.
        public var description: String {
            switch self {
            case .status(let status, let body): "HTTP \(status): \(body.prefix(300))"
            case .rpcError(let code, let message): "JSON-RPC error \(code): \(message)"
            case .malformed(let what): "malformed answer: \(what)"
            }
        }
    }

    /// The responder under test.
    public let responder: any HTTPResponder
    /// The MCP endpoint's path. Default `/mcp`.
    public let path: String
    /// Header fields sent with every request (an `Authorization`, an `Origin`). Default none.
    public var headers: [(String, String)]

    /// Creates a client.
    /// - Parameters:
    ///   - responder: the application under test.
    ///   - path: the MCP endpoint's path. Default `/mcp`.
    ///   - headers: header fields sent with every request. Default none.
    public init(_ responder: any HTTPResponder, path: String = "/mcp", headers: [(String, String)] = []) {
        self.responder = responder
        self.path = path
        self.headers = headers
    }

    /// The `Content-Type` and `Accept` of a Streamable HTTP POST.
    public static let postHeaders = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]

    /// Sends one request and returns the answer as it is (a streamed body is not read).
    /// - Parameter request: the request.
    /// - Returns: the response.
    public func send(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        await responder.respond(to: request)
    }

    /// POSTs a JSON-RPC message (or batch) to the endpoint.
    /// - Parameters:
    ///   - body: the message, as JSON text.
    ///   - session: the `Mcp-Session-Id`, or nil.
    ///   - accept: the `Accept` header. Default `application/json, text/event-stream`.
    ///   - extra: more header fields.
    /// - Returns: the response (a streamed body is not read; see ``message(of:)``).
    public func post(
        _ body: String, session: String? = nil, accept: String = "application/json, text/event-stream",
        extra: [(String, String)] = []
    ) async -> HTTPServerResponse {
        var fields = headers + [("Content-Type", "application/json"), ("Accept", accept)] + extra
        if let session { fields.append(("Mcp-Session-Id", session)) }
        return await send(.test(.post, path, headers: fields, body: body))
    }

    /// Initializes a session.
    /// - Parameters:
    ///   - version: the protocol version asked for. Default `2025-11-25`.
    ///   - capabilities: the client capabilities, as JSON text. Default `{}`.
    /// - Returns: the `Mcp-Session-Id` the server assigned.
    /// - Throws: ``Failure`` when the server did not create a session.
    public func initialize(version: String = "2025-11-25", capabilities: String = "{}") async throws(Failure) -> String {
        let body =
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" + version
            + "\",\"capabilities\":" + capabilities + ",\"clientInfo\":{\"name\":\"mcp-test-client\",\"version\":\"1\"}}}"
        let response = await post(body)
        guard response.head.status == .ok else {
            throw .status(response.head.status.code, body: String(decoding: response.body, as: UTF8.self))
        }
        guard let id = response.head.headerFields[HTTPField.Name("Mcp-Session-Id")!] else {
            throw .malformed("no Mcp-Session-Id on the initialize answer")
        }
        return id
    }

    /// Sends a request and returns its result.
    /// - Parameters:
    ///   - method: the JSON-RPC method.
    ///   - params: its parameters. Default none.
    ///   - session: the session, or nil (the stateless era or a stateless server).
    ///   - id: the request id. Default 2.
    /// - Returns: the `result`.
    /// - Throws: ``Failure`` for an HTTP error, a JSON-RPC error or an answer without a response.
    public func request(_ method: String, params: Value? = nil, session: String?, id: Int = 2) async throws(Failure)
        -> Value
    {
        var message: [String: Value] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { message["params"] = params }
        let response = await post(String(decoding: JSONWriter.encode(.object(message)), as: UTF8.self), session: session)
        let answer = try await Self.message(of: response, id: id)
        if let error = answer["error"] {
            throw .rpcError(code: error["code"]?.intValue ?? 0, message: error["message"]?.stringValue ?? "")
        }
        guard let result = answer["result"] else { throw .malformed("a response without result or error") }
        return result
    }

    /// Calls a tool and returns its `CallToolResult` (an `isError` result is returned, not thrown).
    /// - Parameters:
    ///   - name: the tool.
    ///   - arguments: its arguments. Default none.
    ///   - session: the session.
    /// - Returns: the result.
    /// - Throws: ``Failure`` as ``request(_:params:session:id:)``.
    public func callTool(_ name: String, arguments: [String: Value] = [:], session: String?) async throws(Failure)
        -> Value
    {
        try await request("tools/call", params: ["name": .string(name), "arguments": .object(arguments)], session: session)
    }

    /// Ends a session (`DELETE`).
    /// - Parameter session: the session.
    /// - Returns: the response (204 when it ended).
    public func delete(session: String) async -> HTTPServerResponse {
        await send(.test(.delete, path, headers: headers + [("Mcp-Session-Id", session)]))
    }

    /// The JSON-RPC response with `id` in an answer: the JSON body, or the matching event of a streamed body (read
    /// until the stream ends, at most `timeout`).
    /// - Parameters:
    ///   - response: the answer of a POST.
    ///   - id: the request id looked for; nil takes the first message.
    ///   - timeout: how long a streamed answer may take. Default 30 s.
    /// - Returns: the JSON-RPC response object.
    /// - Throws: ``Failure`` when the status is not 200 or no such response is in the answer.
    public static func message(of response: HTTPServerResponse, id: Int? = nil, timeout: Duration = .seconds(30))
        async throws(Failure) -> Value
    {
        guard response.head.status == .ok else {
            throw .status(response.head.status.code, body: String(decoding: response.body, as: UTF8.self))
        }
        let wanted = id.map { Value.int($0) }
        if let stream = response.stream {
            let sink = CollectingSink()
            stream.attach(sink)
            await sink.waitForFinish(timeout: timeout)
            for event in sink.events {
                guard let data = event.data else { continue }
                if wanted == nil || data["id"] == wanted { return data }
            }
            throw .malformed("no response with id \(id.map(String.init) ?? "any") in the stream")
        }
        guard let body = try? JSONParser().parse(response.body) else {
            throw .malformed("a body that is not JSON")
        }
        return body
    }
}
