import MCPHTTP
/// Lifetimes of what the built-in authorization server issues, in seconds.
public struct TokenExpiry: Sendable, Equatable {
    /// Access token lifetime. Default 600 (10 minutes).
    public var accessToken: Int
    /// Refresh token lifetime. Default 2,592,000 (30 days).
    public var refreshToken: Int
    /// Authorization code lifetime. Default 60.
    public var authorizationCode: Int

    /// Creates the lifetimes; every parameter has the default documented on its property.
    public init(accessToken: Int = 600, refreshToken: Int = 2_592_000, authorizationCode: Int = 60) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.authorizationCode = authorizationCode
    }
}
