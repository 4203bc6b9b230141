import MCPHTTP
/// Tokens issued by an external authorization server (namespace of its configuration).
///
/// JWT access tokens are checked against the issuer's JWKS (found through its RFC 8414 or OpenID Connect
/// metadata, cached, fetched again once when a token names an unknown key); opaque tokens through RFC 7662
/// introspection, cached for `AuthConfiguration.introspectionCacheTTL`. When the issuer cannot be reached, `/mcp`
/// answers 503 (fail closed).
public enum ExternalAuthorization {}
