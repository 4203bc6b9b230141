import Foundation
import MCPHandlers
import MCPHTTP

extension BuiltInAuthorizationServer {
    /// The client with this id: a registered one, or one described by its Client ID Metadata Document (fetched
    /// when enabled and not fetched within `cacheTTL`); nil when unknown (the reason is logged).
    func resolveClient(_ clientID: String) async -> OAuthClient? {
        try? await resolveClientOrError(clientID).get()
    }

    /// ``resolveClient(_:)`` with the reason a client is unknown: each refusal of a metadata document is an
    /// `invalid_client` error whose description says what was wrong (refused address, redirect, too large,
    /// timed out, invalid document, …).
    func resolveClientOrError(_ clientID: String) async -> Result<OAuthClient, OAuthError> {
        let unknown = OAuthError(.invalidClient, "The application is not registered with this server")
        guard let documents = configuration.clientIDMetadataDocuments, let url = Self.metadataDocumentURL(clientID)
        else {
            guard let client = try? await registeredClient(id: clientID) else { return .failure(unknown) }
            return .success(client)
        }
        let now = now
        if let fetched = documentFetches.withLock({ $0[clientID] }),
            now.timeIntervalSince(fetched) < Double(documents.cacheTTL),
            let client = try? await registeredClient(id: clientID)
        {
            return .success(client)
        }
        func refuse(_ description: String) -> Result<OAuthClient, OAuthError> {
            logger.info(
                "OAuth client metadata document rejected",
                metadata: ["oauth.client_id": .string(clientID), "oauth.reason": .string(description)])
            return .failure(OAuthError(.invalidClient, "Client metadata document refused: \(description)"))
        }
        if let host = url.host?.lowercased(), let allowed = documents.allowedHosts, !allowed.contains(host) {
            return refuse("the host \(host) is not among the allowed hosts")
        }
        let result: (status: Int, body: [UInt8])
        do {
            result = try await documents.effectiveFetcher.fetch(
                HTTPFetcher.Request(url: clientID, headers: ["Accept": "application/json"]))
        } catch let failure as RestrictedHTTPFetcher.Failure {
            return refuse(failure.description)
        } catch {
            return refuse("the document could not be fetched")
        }
        guard result.status == 200 else { return refuse("the document URL answered HTTP \(result.status)") }
        guard result.body.count <= documents.maximumSize else {
            return refuse("the document is larger than \(documents.maximumSize) bytes")
        }
        let client: OAuthClient
        do {
            client = try clientFromMetadataDocument(result.body, clientID: clientID)
        } catch {
            return refuse(error.errorDescription)
        }
        // Stored like a registered client: under the cap, and removed when unused or inactive.
        let policy = configuration.clientRegistration
        let evictable = now.addingTimeInterval(-Double(policy.minimumAgeBeforeEviction))
        // A document fetched again (after `cacheTTL`) replaces the stored client: only the first is a registration.
        let known = (try? await registeredClient(id: clientID)) != nil
        let saved = try? await stored {
            try await storage.registerClient(client, maximumClients: policy.maximumClients, evictableBefore: evictable)
        }
        guard let saved else { return .failure(OAuthError(.serverError, "The client could not be stored")) }
        guard saved else {
            return .failure(OAuthError(.temporarilyUnavailable, "The server holds its maximum of clients; retry later"))
        }
        if !known { metrics.registered(.metadataDocument) }
        documentFetches.withLock { fetches in
            if fetches.count > 10_000 { fetches.removeAll() }
            fetches[clientID] = now
        }
        return .success(client)
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
