import Foundation
import MCPHTTP

/// The client credentials a token, revocation or introspection request presented (RFC 6749 §2.3.1): HTTP Basic,
/// or `client_id` (and `client_secret`) in the form. Using both is an error.
struct ClientCredentials: Sendable {
    var clientID: String
    var secret: String?
    var method: OAuthClient.AuthMethod

    /// Reads the credentials.
    /// - Throws: `invalid_request` for two methods at once, `invalid_client` for a malformed Basic header or
    ///   none at all.
    init(_ request: HTTPServerRequest, _ params: FormParameters) throws(OAuthError) {
        let basic = request.head.headerFields[.authorization].flatMap { header -> Substring? in
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "basic" else { return nil }
            return parts[1]
        }
        if let basic {
            guard params["client_secret"] == nil else {
                throw .invalidRequest("Use one client authentication method only")
            }
            guard let data = Data(base64Encoded: String(basic.trimmingCharacters(in: .whitespaces))),
                let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                let id = FormParameters.decode(text[..<colon]),
                let secret = FormParameters.decode(text[text.index(after: colon)...]), !id.isEmpty
            else { throw .invalidClient("Malformed HTTP Basic credentials") }
            if let bodyID = params["client_id"], bodyID != id {
                throw .invalidRequest("client_id does not match the HTTP Basic credentials")
            }
            // A public client may send Basic with an empty secret: that is no client authentication.
            self.init(
                clientID: id, secret: secret.isEmpty ? nil : secret, method: secret.isEmpty ? .none : .clientSecretBasic
            )
            return
        }
        guard let id = params.nonEmpty("client_id") else { throw .invalidClient("Client authentication is required") }
        if let secret = params["client_secret"] {
            self.init(clientID: id, secret: secret, method: .clientSecretPost)
        } else {
            self.init(clientID: id, secret: nil, method: .none)
        }
    }

    init(clientID: String, secret: String?, method: OAuthClient.AuthMethod) {
        self.clientID = clientID
        self.secret = secret
        self.method = method
    }

    /// The client these credentials authenticate.
    /// - Throws: `invalid_client` for an unknown client, a method other than the registered one, or a wrong secret.
    func authenticate(with server: BuiltInAuthorizationServer) async throws(OAuthError) -> OAuthClient {
        // The digest is compared even for unknown clients so that timing does not reveal which ids exist.
        let client = try await server.registeredClient(id: clientID)
        let digest = client?.secretDigest ?? OAuthCrypto.digest("unknown-client")
        let secretMatches = OAuthCrypto.matches(secret ?? "", digest: digest)
        guard let client, client.tokenEndpointAuthMethod == method else {
            throw .invalidClient("Client authentication failed")
        }
        if method != .none && !(secretMatches && client.secretDigest != nil) {
            throw .invalidClient("Client authentication failed")
        }
        return client
    }
}
