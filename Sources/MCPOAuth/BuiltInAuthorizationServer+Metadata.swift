import MCPHandlers
import MCPHTTP

extension BuiltInAuthorizationServer {
    /// `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`, plus the RFC 8414
    /// path-inserted forms when the issuer has a path.
    var metadataPaths: [String] {
        let names = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
        // With an issuer path: RFC 8414 path insertion, and OpenID Connect's path appending.
        return basePath.isEmpty
            ? names : names.map { $0 + basePath } + [basePath + "/.well-known/openid-configuration"]
    }

    /// The RFC 8414 metadata document.
    public var metadataDocument: Value {
        var doc: [String: Value] = [
            "issuer": .string(issuer),
            "authorization_endpoint": .string(issuer + "/oauth/authorize"),
            "token_endpoint": .string(issuer + "/oauth/token"),
            "revocation_endpoint": .string(issuer + "/oauth/revoke"),
            "introspection_endpoint": .string(issuer + "/oauth/introspect"),
            "jwks_uri": .string(issuer + "/oauth/jwks"),
            "scopes_supported": .array(configuration.supportedScopes.map(Value.string)),
            "response_types_supported": .array(configuration.supportedResponseTypes.map(Value.string)),
            "grant_types_supported": .array(configuration.supportedGrantTypes.map(Value.string)),
            "token_endpoint_auth_methods_supported": .array(OAuthClient.AuthMethod.all.map { .string($0.rawValue) }),
            "revocation_endpoint_auth_methods_supported": .array(
                OAuthClient.AuthMethod.all.map { .string($0.rawValue) }),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "response_modes_supported": ["query"],
            "authorization_response_iss_parameter_supported": true,
            "subject_types_supported": ["public"],
        ]
        if configuration.clientIDMetadataDocuments != nil { doc["client_id_metadata_document_supported"] = true }
        if !configuration.disableDynamicClientRegistration {
            doc["registration_endpoint"] = .string(issuer + "/oauth/register")
        }
        return .object(doc)
    }

    func metadata() -> HTTPServerResponse {
        .json(.ok, metadataDocument, headerFields: [.cacheControl: "public, max-age=3600"])
    }

    func jwks() -> HTTPServerResponse {
        .json(.ok, ["keys": [key.publicJWK]], headerFields: [.cacheControl: "public, max-age=3600"])
    }
}
