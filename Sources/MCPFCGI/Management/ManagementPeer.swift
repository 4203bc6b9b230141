import Foundation
import HTTPTypes

/// Another worker of the same deployment, asked for its part of a management operation
/// (`/management/cleanup`, `/management/sessions`).
///
/// The worker that receives a management request answers its own part and forwards the request to every
/// peer, marked ``HTTPServerRequest/isPeerRequest`` so the peer does its part only. Workers reach each
/// other over FastCGI on their unix sockets (``fastCGI(socketPath:name:timeout:)``); tests inject a closure.
public struct ManagementPeer: Sendable {
    /// How the peer is named in answers and logs when it does not answer (`w2`).
    public var name: String
    /// Sends a request to the peer and returns its answer; throws when the peer cannot be reached.
    public var send: @Sendable (HTTPServerRequest) async throws -> HTTPServerResponse

    /// Creates a peer.
    /// - Parameters:
    ///   - name: how the peer is named when it does not answer.
    ///   - send: delivers a request to the peer; throws when the peer cannot be reached.
    public init(name: String, send: @escaping @Sendable (HTTPServerRequest) async throws -> HTTPServerResponse) {
        self.name = name
        self.send = send
    }

    /// Why a peer gave no usable answer (logged; the peer is then reported as unreachable or down).
    public struct Failure: Error, Sendable {
        /// What went wrong: the transport error, or the status it answered with.
        public var reason: String
    }

    /// Sends `request` and returns the peer's answer when it is 200.
    /// - Parameter request: the peer request.
    /// - Returns: the 200 response, or why there is none (unreachable, timed out, another status).
    public func answer(_ request: HTTPServerRequest) async -> Result<HTTPServerResponse, Failure> {
        let response: HTTPServerResponse
        do {
            response = try await send(request)
        } catch {
            return .failure(Failure(reason: "\(error)"))
        }
        guard response.head.status == .ok else {
            return .failure(Failure(reason: "answered \(response.head.status.code)"))
        }
        return .success(response)
    }

    /// A worker listening on a FastCGI unix socket.
    ///
    /// The request goes out as nginx would send it (`REQUEST_METHOD`, `REQUEST_URI`, `CONTENT_*`, `HTTP_*`),
    /// plus `MCPFCGI_PEER=1` when it is a peer request: a parameter nginx never sends, and `REQUEST_ID`, the
    /// request's ``HTTPServerRequest/requestID``, so that both workers log it under one id.
    /// - Parameters:
    ///   - socketPath: the worker's socket.
    ///   - name: its name; default the socket's file name without extension (`w2` for `/run/mcp/w2.sock`),
    ///     which is the demo's default node id.
    ///   - timeout: the longest one request may take. Default 2 s.
    public static func fastCGI(socketPath: String, name: String? = nil, timeout: Duration = .seconds(2)) -> Self {
        let client = FastCGIClient(socketPath: socketPath, timeout: timeout)
        let name = name ?? URL(fileURLWithPath: socketPath).deletingPathExtension().lastPathComponent
        return ManagementPeer(name: name) { request in
            let answer = try await client.send(params: params(of: request), body: request.body)
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
            }
            return HTTPServerResponse(status: .init(code: answer.status), headerFields: fields, body: answer.body)
        }
    }

    /// The FastCGI parameters nginx would send for `request`.
    static func params(of request: HTTPServerRequest) -> [(String, String)] {
        var params: [(String, String)] = [
            ("REQUEST_METHOD", request.head.method.rawValue), ("REQUEST_URI", request.head.path ?? "/"),
            ("REQUEST_SCHEME", request.head.scheme ?? "http"), ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("CONTENT_LENGTH", String(request.body.count)),
        ]
        if request.isPeerRequest { params.append(("MCPFCGI_PEER", "1")) }
        // The peer logs the request under the same id as this worker (and nginx's access log).
        params.append(("REQUEST_ID", request.requestID))
        if let remoteAddress = request.remoteAddress { params.append(("REMOTE_ADDR", remoteAddress)) }
        for field in request.head.headerFields where field.name != .contentLength {
            if field.name == .contentType { params.append(("CONTENT_TYPE", field.value)) }
            let name = "HTTP_" + String(field.name.canonicalName.uppercased().map { $0 == "-" ? "_" : $0 })
            params.append((name, field.value))
        }
        return params
    }
}
