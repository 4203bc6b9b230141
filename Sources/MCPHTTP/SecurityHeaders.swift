import HTTPTypes

/// Response headers that harden every answer; on by default.
public struct SecurityHeaders: Sendable {
    /// `X-Content-Type-Options: nosniff`. Default on.
    public var contentTypeOptions: Bool
    /// `X-Frame-Options`, e.g. `DENY` (default); nil to omit.
    public var frameOptions: String?
    /// `Referrer-Policy`, e.g. `no-referrer` (default); nil to omit.
    public var referrerPolicy: String?
    /// `Strict-Transport-Security` value, sent only when the public URL is https.
    /// Default `max-age=31536000; includeSubDomains`; nil to omit.
    public var strictTransportSecurity: String?

    /// Creates the set; every parameter has the default documented on its property.
    public init(
        contentTypeOptions: Bool = true, frameOptions: String? = "DENY", referrerPolicy: String? = "no-referrer",
        strictTransportSecurity: String? = "max-age=31536000; includeSubDomains"
    ) {
        self.contentTypeOptions = contentTypeOptions
        self.frameOptions = frameOptions
        self.referrerPolicy = referrerPolicy
        self.strictTransportSecurity = strictTransportSecurity
    }

    /// No security headers at all.
    public static let none = SecurityHeaders(
        contentTypeOptions: false, frameOptions: nil, referrerPolicy: nil, strictTransportSecurity: nil)

    /// Adds the headers that are not already set.
    /// - Parameters:
    ///   - fields: the response's header fields.
    ///   - isHTTPS: whether the public URL is https (HSTS only then).
    public func apply(to fields: inout HTTPFields, isHTTPS: Bool) {
        fields.reserveCapacity(fields.count + 4)
        if contentTypeOptions, fields[.xContentTypeOptions] == nil { fields[.xContentTypeOptions] = "nosniff" }
        if let frameOptions, fields[.xFrameOptions] == nil { fields[.xFrameOptions] = frameOptions }
        if let referrerPolicy, fields[.referrerPolicy] == nil { fields[.referrerPolicy] = referrerPolicy }
        if isHTTPS, let hsts = strictTransportSecurity, fields[.strictTransportSecurity] == nil {
            fields[.strictTransportSecurity] = hsts
        }
    }
}

extension HTTPField.Name {
    package static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    package static let mcpSessionID = HTTPField.Name("Mcp-Session-Id")!
    package static let mcpProtocolVersion = HTTPField.Name("MCP-Protocol-Version")!
    package static let mcpMethod = HTTPField.Name("Mcp-Method")!
    package static let mcpName = HTTPField.Name("Mcp-Name")!
}
