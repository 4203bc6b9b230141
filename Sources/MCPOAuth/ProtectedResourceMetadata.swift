import Foundation
import HTTPTypes
import MCPHandlers
import MCPHTTP

/// RFC 9728 protected resource metadata of the MCP endpoint, served at
/// `/.well-known/oauth-protected-resource` and `/.well-known/oauth-protected-resource<mcp path>`.
public struct ProtectedResourceMetadata: Sendable, HTTPResponder {
    /// `resource`: the MCP endpoint URL.
    public var resource: String
    /// `authorization_servers`: issuer URLs.
    public var authorizationServers: [String]
    /// `scopes_supported`.
    public var scopesSupported: [String]
    /// `bearer_methods_supported`. Default `["header"]`.
    public var bearerMethodsSupported: [String]

    /// Creates the metadata.
    /// - Parameters:
    ///   - resource: the MCP endpoint URL.
    ///   - authorizationServers: issuer URLs.
    ///   - scopesSupported: scopes.
    ///   - bearerMethodsSupported: default `["header"]`.
    public init(
        resource: String, authorizationServers: [String], scopesSupported: [String],
        bearerMethodsSupported: [String] = ["header"]
    ) {
        self.resource = resource
        self.authorizationServers = authorizationServers
        self.scopesSupported = scopesSupported
        self.bearerMethodsSupported = bearerMethodsSupported
    }

    /// The paths it is served at: the bare well-known path and the one with the resource's path appended.
    public var paths: [String] {
        let base = "/.well-known/oauth-protected-resource"
        let path = URLComponents(string: resource)?.path ?? ""
        return path.isEmpty || path == "/" ? [base] : [base, base + path]
    }

    /// The path-specific well-known path (`/.well-known/oauth-protected-resource/tenant-a/mcp`), or the bare one
    /// when the resource URL has no path.
    public var wellKnownPath: String { paths.last ?? "/.well-known/oauth-protected-resource" }

    /// The metadata URL advertised in `WWW-Authenticate` (`<resource origin><well-known path><resource path>`).
    public var metadataURL: String {
        guard var components = URLComponents(string: resource) else { return resource }
        components.path = wellKnownPath
        components.query = nil
        components.fragment = nil
        return components.string ?? resource
    }

    /// The JSON document.
    public var json: Value {
        [
            "resource": .string(resource), "authorization_servers": .array(authorizationServers.map(Value.string)),
            "scopes_supported": .array(scopesSupported.map(Value.string)),
            "bearer_methods_supported": .array(bearerMethodsSupported.map(Value.string)),
        ]
    }

    /// Answers `GET` with the document (cacheable for an hour).
    public func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
        .json(.ok, json, headerFields: [.cacheControl: "public, max-age=3600"])
    }
}
