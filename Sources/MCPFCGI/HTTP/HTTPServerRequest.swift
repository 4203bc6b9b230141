import HTTPTypes
import MCPHandlers

/// One HTTP request as the web server handed it over: head, whole body, and what nginx knows about
/// the peer. The HTTP layer answers it without any socket, so it is built the same way in tests.
public struct HTTPServerRequest: Sendable {
    /// Method, path (with query), scheme, authority and header fields.
    public var head: HTTPRequest
    /// The request body (complete; nginx buffers it).
    public var body: [UInt8]
    /// The client's address (`REMOTE_ADDR`), when known.
    public var remoteAddress: String?
    /// The user nginx authenticated (`REMOTE_USER`), when any.
    public var remoteUser: String?
    /// The verified OAuth access token's claims, set by the application once the bearer token is accepted.
    public var tokenClaims: Value?
    /// The OAuth-authenticated user (the token's `sub`), set with ``tokenClaims``.
    public var authenticatedUser: String?
    /// An id for log correlation (`http.request.id`).
    public var requestID: String
    /// Whether another worker of the deployment sent this request (FastCGI parameter `MCPFCGI_PEER=1`),
    /// asking for this worker's part only of a management operation.
    ///
    /// Only a FastCGI parameter sets it: nginx passes a client's headers as `HTTP_*` parameters, so a client
    /// cannot. It grants nothing by itself (peer requests carry the management token like any other).
    public var isPeerRequest: Bool

    /// Creates a request.
    /// - Parameters:
    ///   - head: method, path, header fields.
    ///   - body: the body bytes.
    ///   - remoteAddress: `REMOTE_ADDR`.
    ///   - remoteUser: `REMOTE_USER`.
    ///   - requestID: a log-correlation id; a random one by default.
    ///   - isPeerRequest: whether another worker sent it (`MCPFCGI_PEER=1`). Default false.
    public init(
        head: HTTPRequest, body: [UInt8] = [], remoteAddress: String? = nil, remoteUser: String? = nil,
        requestID: String = HTTPServerRequest.makeRequestID(), isPeerRequest: Bool = false
    ) {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
        self.remoteUser = remoteUser
        self.requestID = requestID
        self.isPeerRequest = isPeerRequest
    }

    /// The path without the query string.
    public var path: Substring {
        let full = head.path ?? "/"
        if let q = full.firstIndex(of: "?") { return full[..<q] }
        return full[...]
    }

    /// The query string (after `?`), if any.
    public var query: Substring? {
        guard let full = head.path, let q = full.firstIndex(of: "?") else { return nil }
        return full[full.index(after: q)...]
    }

    /// A short random id (12 base62 characters).
    public static func makeRequestID() -> String {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in 0..<12 { bytes[i] = alphabet[Int(rng.next(upperBound: UInt64(62)))] }
        return String(decoding: bytes, as: UTF8.self)
    }
}
