import HTTPTypes
import MCPHandlers
import Synchronization

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

    /// A short unique id (12 base62 characters): a random per-process starting point advanced by an atomic
    /// counter and scrambled (SplitMix64), so ids are unique within the process and unlikely to repeat across
    /// processes, at the cost of one atomic add — no system call per request.
    public static func makeRequestID() -> String {
        let counter = requestIDCounter.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        var z = counter
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        // 11 digits from the scrambled value (62^11 > 2^64), the 12th from the raw counter.
        var high = counter >> 58
        return String(unsafeUninitializedCapacity: 12) { out in
            for i in 0..<11 {
                out[i] = base62[Int(z % 62)]
                z /= 62
            }
            high = (high &+ z) % 62
            out[11] = base62[Int(high)]
            return 12
        }
    }

    private static let requestIDCounter = Atomic<UInt64>(UInt64.random(in: .min ... .max))
    private static let base62: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
}
