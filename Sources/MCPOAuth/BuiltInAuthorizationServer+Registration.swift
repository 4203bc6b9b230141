import Foundation
import MCPHandlers
import MCPHTTP

extension BuiltInAuthorizationServer {
    /// `POST /oauth/register` (RFC 7591): validates the metadata and answers 201 with the client. Anonymous callers
    /// may register clients for user-delegated grants only; `client_credentials` needs the initial access token.
    /// - Throws: the ``OAuthError`` to answer with (rendered by ``respond(to:)``'s error boundary).
    func register(_ request: HTTPServerRequest) async throws(OAuthError) -> HTTPServerResponse {
        if let limited = rateLimited("register", request) { throw limited }
        let policy = configuration.clientRegistration
        do throws(OAuthError) {
            let privileged = try initialAccessTokenPresented(request)
            if !privileged && !policy.allowsAnonymousRegistration {
                throw OAuthError(.invalidToken, "Registration needs the initial access token (Authorization: Bearer)")
            }
            guard request.body.count <= policy.maximumBodyBytes else {
                throw OAuthError(
                    .invalidClientMetadata, "The registration is larger than \(policy.maximumBodyBytes) bytes")
            }
            let (client, secret) = try registration(from: request.body, privileged: privileged)
            let evictable = now.addingTimeInterval(-Double(policy.minimumAgeBeforeEviction))
            let saved = try await stored {
                try await storage.registerClient(
                    client, maximumClients: policy.maximumClients, evictableBefore: evictable)
            }
            guard saved else {
                logger.warning(
                    "OAuth client registration refused: the client store is full",
                    metadata: ["oauth.maximum_clients": .stringConvertible(policy.maximumClients)])
                throw OAuthError(
                    .temporarilyUnavailable,
                    "The server holds its maximum of registered clients; retry later or reuse a registered client",
                    retryAfter: policy.minimumAgeBeforeEviction)
            }
            metrics.registered(privileged ? .initialAccessToken : .open)
            var body = client.metadata
            if let secret {
                body["client_secret"] = .string(secret)
                body["client_secret_expires_at"] = 0
            }
            logger.info(
                "OAuth client registered",
                metadata: ["oauth.client_id": .string(client.clientID), "http.request.id": .string(request.requestID)])
            return .json(.created, .object(body), headerFields: .noStore)
        } catch {
            metrics.refused(.register, error.code)
            throw error
        }
    }

    /// Whether the request presents the configured RFC 7591 initial access token (compared in constant time).
    /// - Throws: `invalid_token` (401) for a bearer token that is not it, or any bearer token when none is
    ///   configured.
    func initialAccessTokenPresented(_ request: HTTPServerRequest) throws(OAuthError) -> Bool {
        guard let header = request.head.headerFields[.authorization] else { return false }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw OAuthError(.invalidToken, "Registration accepts only a Bearer initial access token")
        }
        guard let expected = configuration.clientRegistration.initialAccessToken,
            OAuthCrypto.matches(
                String(parts[1]).trimmingCharacters(in: .whitespaces), digest: OAuthCrypto.digest(expected))
        else { throw OAuthError(.invalidToken, "The initial access token is not valid") }
        return true
    }

    /// Validates registration metadata and makes the client (and its secret, for a confidential client).
    /// - Parameters:
    ///   - body: the JSON metadata.
    ///   - privileged: whether the request presented the initial access token (only then `client_credentials`).
    func registration(from body: [UInt8], privileged: Bool) throws(OAuthError) -> (OAuthClient, String?) {
        let policy = configuration.clientRegistration
        guard let json = try? JSONParser().parse(body), let object = json.objectValue else {
            throw OAuthError(.invalidClientMetadata, "The body must be a JSON object")
        }
        func bounded(_ name: String, _ value: String, _ limit: Int) throws(OAuthError) -> String {
            guard value.utf8.count <= limit else {
                throw OAuthError(.invalidClientMetadata, "\(name) is longer than \(limit) bytes")
            }
            return value
        }
        func strings(_ name: String, most: Int, length: Int) throws(OAuthError) -> [String]? {
            guard let value = object[name], !value.isNull else { return nil }
            guard let array = value.arrayValue else {
                throw OAuthError(.invalidClientMetadata, "\(name) must be an array of strings")
            }
            guard array.count <= most else {
                throw OAuthError(.invalidClientMetadata, "\(name) has more than \(most) entries")
            }
            var out: [String] = []
            for item in array {
                guard let s = item.stringValue else {
                    throw OAuthError(.invalidClientMetadata, "\(name) must be an array of strings")
                }
                if !out.contains(s) { out.append(try bounded(name, s, length)) }
            }
            return out
        }
        func string(_ name: String, length: Int) throws(OAuthError) -> String? {
            guard let value = object[name], !value.isNull else { return nil }
            guard let s = value.stringValue else {
                throw OAuthError(.invalidClientMetadata, "\(name) must be a string")
            }
            return try bounded(name, s, length)
        }
        let text = policy.maximumTextLength
        let grantTypes =
            try strings("grant_types", most: configuration.supportedGrantTypes.count, length: text)
            ?? ["authorization_code"]
        let responseTypes =
            try strings("response_types", most: configuration.supportedResponseTypes.count, length: text) ?? ["code"]
        let method = try string("token_endpoint_auth_method", length: text) ?? "client_secret_basic"
        guard let authMethod = OAuthClient.AuthMethod.all.first(where: { $0.rawValue == method }) else {
            throw OAuthError(.invalidClientMetadata, "Unsupported token_endpoint_auth_method \(method)")
        }
        for grant in grantTypes where !configuration.supportedGrantTypes.contains(grant) {
            throw OAuthError(.invalidClientMetadata, "Unsupported grant type \(grant)")
        }
        for type in responseTypes where !configuration.supportedResponseTypes.contains(type) {
            throw OAuthError(.invalidClientMetadata, "Unsupported response type \(type)")
        }
        if !privileged, let grant = grantTypes.first(where: { !ClientRegistrationPolicy.anonymousGrantTypes.contains($0) })
        {
            throw OAuthError(
                .invalidClientMetadata,
                "Open registration creates clients for authorization_code and refresh_token only; a \(grant) client "
                    + "is configured by the operator or registered with the initial access token")
        }
        if grantTypes.contains("client_credentials") && authMethod == .none {
            throw OAuthError(.invalidClientMetadata, "client_credentials needs a confidential client")
        }
        if grantTypes.contains("authorization_code") != responseTypes.contains("code") {
            throw OAuthError(.invalidClientMetadata, "grant_types and response_types do not match")
        }
        let redirectURIs =
            try strings("redirect_uris", most: policy.maximumRedirectURIs, length: policy.maximumURILength) ?? []
        if grantTypes.contains("authorization_code") && redirectURIs.isEmpty {
            throw OAuthError(.invalidRedirectURI, "redirect_uris is required for the authorization_code grant")
        }
        for uri in redirectURIs {
            if let problem = RedirectURI.problem(with: uri) { throw OAuthError(.invalidRedirectURI, problem) }
        }
        var scopes: [String]?
        if let scope = try string("scope", length: policy.maximumBodyBytes) {
            var list: [String] = []
            for s in scope.split(separator: " ").map(String.init) where !list.contains(s) {
                guard configuration.supportedScopes.contains(s) else {
                    throw OAuthError(.invalidClientMetadata, "Unsupported scope \(s)")
                }
                list.append(s)
            }
            scopes = list
        }
        if grantTypes.contains("client_credentials") && scopes == nil {
            throw OAuthError(.invalidClientMetadata, "A client_credentials client must register its scope")
        }
        let name = try string("client_name", length: text)
        var extra: [String: Value] = [:]
        for field in ["client_uri", "logo_uri", "tos_uri", "policy_uri"] {
            if let value = try string(field, length: policy.maximumURILength) { extra[field] = .string(value) }
        }
        for field in ["software_id", "software_version"] {
            if let value = try string(field, length: text) { extra[field] = .string(value) }
        }
        if let contacts = try strings("contacts", most: policy.maximumContacts, length: text) {
            extra["contacts"] = .array(contacts.map(Value.string))
        }

        let secret = authMethod == .none ? nil : OAuthCrypto.randomToken()
        let client = OAuthClient(
            clientID: OAuthCrypto.randomToken(bytes: 16), clientSecret: secret, redirectURIs: redirectURIs,
            grantTypes: grantTypes, responseTypes: responseTypes, tokenEndpointAuthMethod: authMethod,
            clientName: name, scopes: scopes, issuedAt: nowSeconds, extraMetadata: extra)
        return (client, secret)
    }
}
