import Foundation
import HTTPTypes
import MCPHTTP
import MCPHandlers

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// An MCP client for tests of a server built on the framework. In process (``Transport/inProcess(_:)``) it sends
/// Streamable HTTP requests straight to a responder (an ``/MCPStreamableHTTP/MCPApplication`` or any ``/MCPHTTP/HTTPResponder``), with no
/// socket, nginx or FastCGI in between; live (``Transport/live(_:)``) it sends the same requests over HTTP to a
/// running deployment (nginx → FastCGI → workers). It reads JSON and Server-Sent Events answers alike.
///
/// ```swift
/// let app = MCPApplication(server: server, logger: logger)
/// let client = MCPTestClient(environmentOr: app)   // MCPFCGI_TEST_URL=http://127.0.0.1:8080 → through nginx
/// let session = try await client.initialize()
/// let result = try await client.callTool("echo", arguments: ["text": "hi"], session: session)
/// #expect(result["content"]?.arrayValue?.first?["text"] == "hi")
/// ```
public struct MCPTestClient: Sendable {
    /// Where the requests go.
    public enum Transport: Sendable {
        /// Straight to the responder, in this process.
        case inProcess(any HTTPResponder)
        /// Over HTTP to a running deployment at this base URL (`http://127.0.0.1:8080`): scheme, host and port; the
        /// request's path is appended.
        case live(URL)
    }

    /// The environment variable ``init(environmentOr:path:headers:)`` reads: a deployment's base URL.
    public static let liveURLVariable = "MCPFCGI_TEST_URL"

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

    /// Where the requests go.
    public let transport: Transport
    /// The MCP endpoint's path. Default `/mcp`.
    public let path: String
    /// Header fields sent with every request (an `Authorization`, an `Origin`). Default none.
    public var headers: [(String, String)]

    /// Creates a client.
    /// - Parameters:
    ///   - transport: where the requests go.
    ///   - path: the MCP endpoint's path. Default `/mcp`.
    ///   - headers: header fields sent with every request. Default none.
    public init(_ transport: Transport, path: String = "/mcp", headers: [(String, String)] = []) {
        self.transport = transport
        self.path = path
        self.headers = headers
    }

    /// Creates an in-process client of `responder`.
    /// - Parameters:
    ///   - responder: the application under test.
    ///   - path: the MCP endpoint's path. Default `/mcp`.
    ///   - headers: header fields sent with every request. Default none.
    public init(_ responder: any HTTPResponder, path: String = "/mcp", headers: [(String, String)] = []) {
        self.init(.inProcess(responder), path: path, headers: headers)
    }

    /// The live switch: a client of the deployment named by the `MCPFCGI_TEST_URL` environment variable when it is
    /// set (the same tests then run through nginx and the workers), else an in-process client of `responder`.
    /// - Parameters:
    ///   - responder: the application under test in process.
    ///   - path: the MCP endpoint's path. Default `/mcp`.
    ///   - headers: header fields sent with every request. Default none.
    public init(environmentOr responder: any HTTPResponder, path: String = "/mcp", headers: [(String, String)] = []) {
        let live = ProcessInfo.processInfo.environment[Self.liveURLVariable].flatMap { URL(string: $0) }
        self.init(live.map(Transport.live) ?? .inProcess(responder), path: path, headers: headers)
    }

    /// Whether requests go over HTTP to a running deployment.
    public var isLive: Bool {
        if case .live = transport { return true }
        return false
    }

    /// The `Content-Type` and `Accept` of a Streamable HTTP POST.
    public static let postHeaders = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]

    /// Sends one request and returns the answer: in process as the responder gave it (a streamed body is not read);
    /// live with the whole body read (a stream until the server ends it), or a 502 naming the transport error.
    /// - Parameter request: the request.
    /// - Returns: the response.
    public func send(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        switch transport {
        case .inProcess(let responder):
            return await responder.respond(to: request)
        case .live(let base):
            return await Self.sendLive(request, to: base)
        }
    }

    /// Sends `request` over HTTP to `base` + the request's path.
    private static func sendLive(_ request: HTTPServerRequest, to base: URL) async -> HTTPServerResponse {
        guard let url = URL(string: base.absoluteString.trimmingSuffix("/") + (request.head.path ?? "/")) else {
            return .error(.badGateway, code: "test_client", message: "not a URL: \(base)\(request.head.path ?? "")")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.head.method.rawValue
        for field in request.head.headerFields {
            urlRequest.addValue(field.value, forHTTPHeaderField: field.name.rawName)
        }
        if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }
        do {
            let (data, response) = try await URLSession.shared.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else {
                return .error(.badGateway, code: "test_client", message: "not an HTTP response")
            }
            var fields = HTTPFields()
            for (name, value) in http.allHeaderFields {
                guard let text = name as? String, let name = HTTPField.Name(text), let value = value as? String else {
                    continue
                }
                fields[name] = value
            }
            return HTTPServerResponse(
                status: HTTPResponse.Status(code: http.statusCode), headerFields: fields, body: [UInt8](data))
        } catch {
            return .error(.badGateway, code: "test_client", message: "\(url): \(error)")
        }
    }

    /// POSTs a JSON-RPC message (or batch) to the endpoint.
    /// - Parameters:
    ///   - body: the message, as JSON text.
    ///   - session: the `Mcp-Session-Id`, or nil.
    ///   - accept: the `Accept` header. Default `application/json, text/event-stream`.
    ///   - extra: more header fields.
    /// - Returns: the response (a streamed body is not read; see ``message(of:id:timeout:)``).
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
    /// - Returns: the response (200 when it ended, 404 when it was unknown).
    public func delete(session: String) async -> HTTPServerResponse {
        await send(.test(.delete, path, headers: headers + [("Mcp-Session-Id", session)]))
    }

    /// The JSON-RPC response with `id` in an answer: the JSON body, or the matching event of a streamed body (read
    /// until the stream ends, at most `timeout`; live, the body already holds the whole stream).
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
        let events: [(id: String?, data: Value?)]?
        if let stream = response.stream {
            let sink = CollectingSink()
            stream.attach(sink)
            await sink.waitForFinish(timeout: timeout)
            events = sink.events
        } else if response.head.headerFields[.contentType]?.hasPrefix("text/event-stream") == true {
            events = CollectingSink.events(in: String(decoding: response.body, as: UTF8.self))
        } else {
            events = nil
        }
        if let events {
            for event in events {
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

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
