import MCPHandlers

extension BuiltInAuthorizationServer {
    /// `POST /oauth/register` (RFC 7591): validates the metadata and answers 201 with the client.
    func register(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        if let limited = rateLimited("register", request) { return limited }
        do throws(OAuthError) {
            let (client, secret) = try registration(from: request.body)
            try await stored { try await storage.saveClient(client) }
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
            return error.response()
        }
    }

    /// Validates registration metadata and makes the client (and its secret, for a confidential client).
    func registration(from body: [UInt8]) throws(OAuthError) -> (OAuthClient, String?) {
        guard let json = try? JSONParser().parse(body), let object = json.objectValue else {
            throw OAuthError(.invalidClientMetadata, "The body must be a JSON object")
        }
        func strings(_ name: String) throws(OAuthError) -> [String]? {
            guard let value = object[name], !value.isNull else { return nil }
            guard let array = value.arrayValue else {
                throw OAuthError(.invalidClientMetadata, "\(name) must be an array of strings")
            }
            var out: [String] = []
            for item in array {
                guard let s = item.stringValue else {
                    throw OAuthError(.invalidClientMetadata, "\(name) must be an array of strings")
                }
                out.append(s)
            }
            return out
        }
        func string(_ name: String) throws(OAuthError) -> String? {
            guard let value = object[name], !value.isNull else { return nil }
            guard let s = value.stringValue else {
                throw OAuthError(.invalidClientMetadata, "\(name) must be a string")
            }
            return s
        }

        let grantTypes = try strings("grant_types") ?? ["authorization_code"]
        let responseTypes = try strings("response_types") ?? ["code"]
        let method = try string("token_endpoint_auth_method") ?? "client_secret_basic"
        guard let authMethod = OAuthClient.AuthMethod.all.first(where: { $0.rawValue == method }) else {
            throw OAuthError(.invalidClientMetadata, "Unsupported token_endpoint_auth_method \(method)")
        }
        for grant in grantTypes where !configuration.supportedGrantTypes.contains(grant) {
            throw OAuthError(.invalidClientMetadata, "Unsupported grant type \(grant)")
        }
        for type in responseTypes where !configuration.supportedResponseTypes.contains(type) {
            throw OAuthError(.invalidClientMetadata, "Unsupported response type \(type)")
        }
        if grantTypes.contains("client_credentials") && authMethod == .none {
            throw OAuthError(.invalidClientMetadata, "client_credentials needs a confidential client")
        }
        if grantTypes.contains("authorization_code") != responseTypes.contains("code") {
            throw OAuthError(.invalidClientMetadata, "grant_types and response_types do not match")
        }
        let redirectURIs = try strings("redirect_uris") ?? []
        if grantTypes.contains("authorization_code") && redirectURIs.isEmpty {
            throw OAuthError(.invalidRedirectURI, "redirect_uris is required for the authorization_code grant")
        }
        for uri in redirectURIs {
            if let problem = RedirectURI.problem(with: uri) { throw OAuthError(.invalidRedirectURI, problem) }
        }
        var scopes: [String]?
        if let scope = try string("scope") {
            let list = scope.split(separator: " ").map(String.init)
            for s in list where !configuration.supportedScopes.contains(s) {
                throw OAuthError(.invalidClientMetadata, "Unsupported scope \(s)")
            }
            scopes = list
        }
        let name = try string("client_name")
        var extra: [String: Value] = [:]
        for field in ["client_uri", "logo_uri", "tos_uri", "policy_uri", "software_id", "software_version"] {
            if let value = try string(field) { extra[field] = .string(value) }
        }
        if let contacts = try strings("contacts") { extra["contacts"] = .array(contacts.map(Value.string)) }

        let secret = authMethod == .none ? nil : OAuthCrypto.randomToken()
        let client = OAuthClient(
            clientID: OAuthCrypto.randomToken(bytes: 16), clientSecret: secret, redirectURIs: redirectURIs,
            grantTypes: grantTypes, responseTypes: responseTypes, tokenEndpointAuthMethod: authMethod,
            clientName: name, scopes: scopes, issuedAt: nowSeconds, extraMetadata: extra)
        return (client, secret)
    }
}
