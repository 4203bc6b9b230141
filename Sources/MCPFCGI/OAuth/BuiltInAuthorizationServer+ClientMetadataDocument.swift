import Foundation
import MCPHandlers

extension BuiltInAuthorizationServer {
    /// The client with this id: a registered one, or one described by its Client ID Metadata Document (fetched
    /// when enabled and not fetched within `cacheTTL`).
    func resolveClient(_ clientID: String) async -> OAuthClient? {
        guard let documents = configuration.clientIDMetadataDocuments, let url = Self.metadataDocumentURL(clientID)
        else { return try? await registeredClient(id: clientID) }
        let now = now
        if let fetched = documentFetches.withLock({ $0[clientID] }),
            now.timeIntervalSince(fetched) < Double(documents.cacheTTL),
            let client = try? await registeredClient(id: clientID)
        {
            return client
        }
        if let host = url.host?.lowercased(), let allowed = documents.allowedHosts, !allowed.contains(host) {
            return nil
        }
        guard
            let result = try? await documents.fetcher.fetch(
                HTTPFetcher.Request(url: clientID, headers: ["Accept": "application/json"])),
            result.status == 200, result.body.count <= documents.maximumSize,
            let client = try? clientFromMetadataDocument(result.body, clientID: clientID)
        else {
            logger.info("OAuth client metadata document rejected", metadata: ["oauth.client_id": .string(clientID)])
            return nil
        }
        guard (try? await stored({ try await storage.saveClient(client) })) != nil else { return nil }
        documentFetches.withLock { fetches in
            if fetches.count > 10_000 { fetches.removeAll() }
            fetches[clientID] = now
        }
        return client
    }

    /// An https URL with a path and no fragment, user info or dot segments, or nil.
    static func metadataDocumentURL(_ clientID: String) -> URLComponents? {
        guard let c = URLComponents(string: clientID), c.scheme == "https", let host = c.host, !host.isEmpty,
            c.path.count > 1, c.fragment == nil, c.user == nil, c.password == nil,
            !c.path.split(separator: "/").contains(where: { $0 == "." || $0 == ".." })
        else { return nil }
        return c
    }

    /// Validates a metadata document (`client_id` equal to its URL, valid `redirect_uris`, a public client).
    func clientFromMetadataDocument(_ body: [UInt8], clientID: String) throws(OAuthError) -> OAuthClient {
        guard let doc = try? JSONParser().parse(body), let object = doc.objectValue else {
            throw OAuthError(.invalidClientMetadata, "The document is not a JSON object")
        }
        guard object["client_id"]?.stringValue == clientID else {
            throw OAuthError(.invalidClientMetadata, "client_id does not match the document URL")
        }
        guard let uris = object["redirect_uris"]?.arrayValue?.compactMap(\.stringValue), !uris.isEmpty else {
            throw OAuthError(.invalidClientMetadata, "redirect_uris is required")
        }
        for uri in uris {
            if let problem = RedirectURI.problem(with: uri) { throw OAuthError(.invalidRedirectURI, problem) }
        }
        let method = object["token_endpoint_auth_method"]?.stringValue ?? "none"
        guard method == "none" else {
            throw OAuthError(.invalidClientMetadata, "Only public clients (none) are supported for metadata documents")
        }
        let grants = object["grant_types"]?.arrayValue?.compactMap(\.stringValue) ?? ["authorization_code"]
        let supported = ["authorization_code", "refresh_token"].filter(configuration.supportedGrantTypes.contains)
        guard grants.allSatisfy(supported.contains) else {
            throw OAuthError(.invalidClientMetadata, "Unsupported grant type")
        }
        var extra: [String: Value] = [:]
        for field in ["client_uri", "logo_uri"] {
            if let value = object[field]?.stringValue { extra[field] = .string(value) }
        }
        return OAuthClient(
            clientID: clientID, redirectURIs: uris, grantTypes: grants, responseTypes: ["code"],
            tokenEndpointAuthMethod: OAuthClient.AuthMethod.none, clientName: object["client_name"]?.stringValue,
            issuedAt: nowSeconds, extraMetadata: extra)
    }
}
