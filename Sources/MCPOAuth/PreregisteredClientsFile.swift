import Foundation
import MCPHandlers
import MCPHTTP

/// Pre-provisioned OAuth clients read from a JSON file, for
/// ``BuiltInAuthorizationServer/Configuration/preregisteredClients``: the operator's way to create
/// `client_credentials` clients (services that act without a user) with exactly the scopes and resources they need.
///
/// The file is a JSON array of objects with RFC 7591 member names, plus `resources` and `introspect_any_token`:
///
/// ```json
/// [{"client_id": "billing", "client_secret": "…", "grant_types": ["client_credentials"],
///   "scope": "mcp:read", "resources": ["https://mcp.example.com/mcp"]},
///  {"client_id": "gateway", "client_secret": "…", "grant_types": [], "introspect_any_token": true}]
/// ```
///
/// `client_secret` makes a confidential client (`client_secret_basic` unless `token_endpoint_auth_method` says
/// `client_secret_post`); `grant_types` defaults to `authorization_code`, `refresh_token`; a `client_credentials`
/// client must have a secret and a `scope`. Unknown members are refused, so that a typo does not silently widen or
/// narrow a client. Keep the file readable by the workers only: it holds secrets.
public enum PreregisteredClientsFile {
    /// The members a client object may have.
    static let members: Set<String> = [
        "client_id", "client_secret", "client_name", "redirect_uris", "grant_types", "response_types",
        "token_endpoint_auth_method", "scope", "resources", "introspect_any_token",
    ]

    /// Reads the clients in a file.
    /// - Parameter path: the JSON file.
    /// - Throws: ``OAuthConfigurationError`` naming the file and the first problem.
    public static func load(path: String) throws(OAuthConfigurationError) -> [OAuthClient] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OAuthConfigurationError(message: "cannot read the OAuth clients file \(path)")
        }
        return try parse(Array(data), source: path)
    }

    /// Parses the clients from JSON text.
    /// - Parameters:
    ///   - bytes: the JSON.
    ///   - source: where it came from, for error messages.
    /// - Throws: ``OAuthConfigurationError`` naming the source and the first problem.
    public static func parse(_ bytes: [UInt8], source: String) throws(OAuthConfigurationError) -> [OAuthClient] {
        func fail(_ message: String) -> OAuthConfigurationError {
            OAuthConfigurationError(message: "OAuth clients file \(source): \(message)")
        }
        guard let json = try? JSONParser().parse(bytes), let entries = json.arrayValue else {
            throw fail("expected a JSON array of client objects")
        }
        var clients: [OAuthClient] = []
        for (index, entry) in entries.enumerated() {
            guard let object = entry.objectValue else { throw fail("entry \(index) is not an object") }
            if let unknown = object.keys.sorted().first(where: { !members.contains($0) }) {
                throw fail("entry \(index) has the unknown member \(unknown)")
            }
            func string(_ name: String) throws(OAuthConfigurationError) -> String? {
                guard let value = object[name] else { return nil }
                guard let text = value.stringValue else { throw fail("entry \(index): \(name) must be a string") }
                return text
            }
            func strings(_ name: String) throws(OAuthConfigurationError) -> [String]? {
                guard let value = object[name] else { return nil }
                guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
                    throw fail("entry \(index): \(name) must be an array of strings")
                }
                return array.compactMap(\.stringValue)
            }
            guard let id = try string("client_id"), !id.isEmpty else { throw fail("entry \(index) has no client_id") }
            guard !clients.contains(where: { $0.clientID == id }) else { throw fail("client \(id) appears twice") }
            let secret = try string("client_secret")
            if let secret, secret.utf8.count < 16 { throw fail("client \(id): client_secret needs 16 characters or more") }
            let grants = try strings("grant_types") ?? ["authorization_code", "refresh_token"]
            let redirects = try strings("redirect_uris") ?? []
            for uri in redirects {
                if let problem = RedirectURI.problem(with: uri) { throw fail("client \(id): \(problem)") }
            }
            let scopes = try string("scope").map { $0.split(separator: " ").map(String.init) }
            if grants.contains("client_credentials") {
                guard secret != nil else { throw fail("client \(id) uses client_credentials and needs a client_secret") }
                guard scopes != nil else { throw fail("client \(id) uses client_credentials and needs a scope") }
            }
            var method: OAuthClient.AuthMethod?
            if let name = try string("token_endpoint_auth_method") {
                guard let known = OAuthClient.AuthMethod.all.first(where: { $0.rawValue == name }) else {
                    throw fail("client \(id): unknown token_endpoint_auth_method \(name)")
                }
                guard (known == .none) == (secret == nil) else {
                    throw fail("client \(id): token_endpoint_auth_method \(name) does not match the client_secret")
                }
                method = known
            }
            var introspect = false
            if let value = object["introspect_any_token"] {
                guard let flag = value.boolValue else { throw fail("client \(id): introspect_any_token is true or false") }
                introspect = flag
            }
            clients.append(
                OAuthClient(
                    clientID: id, clientSecret: secret, redirectURIs: redirects, grantTypes: grants,
                    responseTypes: try strings("response_types") ?? (grants.contains("authorization_code") ? ["code"] : []),
                    tokenEndpointAuthMethod: method, clientName: try string("client_name"), scopes: scopes,
                    resources: try strings("resources"), mayIntrospectAnyToken: introspect))
        }
        return clients
    }
}
