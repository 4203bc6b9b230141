import HTTPTypes

/// Cross-origin resource sharing for browser-based MCP clients: answers preflights and adds the
/// `Access-Control-*` headers to responses for allowed origins.
public struct CORSPolicy: Sendable {
    /// Which origins may call the server from a browser: `nil` means the application's allowed origins
    /// (its public URL's origin and loopback); otherwise exactly these (`scheme://host[:port]`). Default nil.
    public var allowedOrigins: Set<String>?
    /// Whether `Access-Control-Allow-Credentials: true` is sent. Default false.
    public var allowCredentials: Bool
    /// How long browsers may cache a preflight, in seconds. Default 600.
    public var maxAge: Int
    /// Request headers allowed. Default: Authorization, Content-Type, Accept, Mcp-Session-Id,
    /// MCP-Protocol-Version, Last-Event-ID.
    public var allowedHeaders: [String]
    /// Response headers a browser script may read. Default: Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate.
    public var exposedHeaders: [String]

    /// Creates a policy; every parameter has the default documented on its property.
    public init(
        allowedOrigins: Set<String>? = nil, allowCredentials: Bool = false, maxAge: Int = 600,
        allowedHeaders: [String] = [
            "Authorization", "Content-Type", "Accept", "Mcp-Session-Id", "MCP-Protocol-Version", "Last-Event-ID",
        ],
        exposedHeaders: [String] = ["Mcp-Session-Id", "MCP-Protocol-Version", "WWW-Authenticate"]
    ) {
        self.allowedOrigins = allowedOrigins.map { Set($0.map(OriginPolicy.normalize)) }
        self.allowCredentials = allowCredentials
        self.maxAge = maxAge
        self.allowedHeaders = allowedHeaders
        self.exposedHeaders = exposedHeaders
    }

    /// Whether `origin` may make cross-origin calls, given the application's origin policy.
    func allows(_ origin: String, fallback: OriginPolicy) -> Bool {
        if let allowedOrigins { return allowedOrigins.contains(OriginPolicy.normalize(origin)) }
        return fallback.allows(origin)
    }

    /// Answers a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`): 204 with the
    /// allowed methods and headers, or 403 for an origin that is not allowed.
    /// - Parameters:
    ///   - request: the preflight.
    ///   - methods: the methods routed at its path.
    ///   - fallback: the application's origin policy.
    package func preflight(_ request: HTTPServerRequest, methods: [HTTPRequest.Method], fallback: OriginPolicy)
        -> HTTPServerResponse
    {
        let origin = request.head.headerFields[.origin] ?? ""
        guard allows(origin, fallback: fallback) else {
            return .error(.forbidden, code: "forbidden", message: "Origin not allowed")
        }
        var fields = HTTPFields()
        fields[.accessControlAllowOrigin] = origin
        fields[.vary] = "Origin"
        fields[.accessControlAllowMethods] = (methods.map(\.rawValue) + ["OPTIONS"]).joined(separator: ", ")
        fields[.accessControlAllowHeaders] = allowedHeaders.joined(separator: ", ")
        fields[.accessControlMaxAge] = String(maxAge)
        if allowCredentials { fields[.accessControlAllowCredentials] = "true" }
        return HTTPServerResponse(status: .noContent, headerFields: fields)
    }

    /// Adds the CORS headers of an actual (non-preflight) response when its origin is allowed.
    package func decorate(_ fields: inout HTTPFields, origin: String?, fallback: OriginPolicy) {
        guard let origin, allows(origin, fallback: fallback) else { return }
        fields[.accessControlAllowOrigin] = origin
        fields[.vary] = "Origin"
        fields[.accessControlExposeHeaders] = exposedHeaders.joined(separator: ", ")
        if allowCredentials { fields[.accessControlAllowCredentials] = "true" }
    }
}
