import Foundation
import HTTPTypes
import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers

extension ManagementPeer {
    /// A worker listening on a FastCGI unix socket.
    ///
    /// The request goes out as nginx would send it (`REQUEST_METHOD`, `REQUEST_URI`, `CONTENT_*`, `HTTP_*`),
    /// plus `MCPFCGI_PEER=1` when it is a peer request: a parameter nginx never sends, and `REQUEST_ID`, the
    /// request's `HTTPServerRequest.requestID`, so that both workers log it under one id.
    /// - Parameters:
    ///   - socketPath: the worker's socket.
    ///   - name: its name; default the socket's file name without extension (`w2` for `/run/mcp/w2.sock`),
    ///     which is the demo's default node id.
    public static func fastCGI(socketPath: String, name: String? = nil) -> Self {
        let name = name ?? URL(fileURLWithPath: socketPath).deletingPathExtension().lastPathComponent
        return ManagementPeer(name: name) { request, timeout in
            let client = FastCGIClient(socketPath: socketPath, timeout: timeout)
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
