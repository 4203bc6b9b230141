import HTTPTypes
import MCPHandlers
import MCPHTTP
import MCPOAuth

/// What ``MCPEndpoint/Configuration/resolveUserID`` sees of a request.
public struct UserContext: Sendable {
    /// The request path (without query), e.g. `/tenant-a/mcp`.
    public var path: String
    /// The request's header fields.
    public var headers: HTTPFields
    /// The user nginx authenticated (`REMOTE_USER`), if any.
    public var remoteUser: String?
    /// The verified access token's claims, when OAuth is on.
    public var claims: Value?
    /// The client's address, from nginx.
    public var remoteAddress: String?

    /// The context of a request.
    public init(_ request: HTTPServerRequest) {
        path = String(request.path)
        headers = request.head.headerFields
        remoteUser = request.remoteUser
        claims = request.tokenClaims
        remoteAddress = request.remoteAddress
    }
}
