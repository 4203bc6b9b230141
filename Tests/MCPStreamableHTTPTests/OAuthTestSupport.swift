import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Metrics
import Synchronization

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// A clock tests move by hand.
final class OAuthTestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

let oauthIssuer = "https://mcp.example.com"
let oauthResource = "https://mcp.example.com/mcp"
let oauthPublicRedirect = "http://127.0.0.1:33418/callback"

/// A built-in server with a test clock and a public and a confidential pre-registered client.
struct OAuthFixture {
    let clock = OAuthTestClock()
    let server: BuiltInAuthorizationServer
    let auth: MCPAuthorization
    static let publicClient = "pub-client"
    static let confidentialClient = "conf-client"
    static let secret = "s3cret-value"
    /// A confidential client trusted to introspect every token (a resource server).
    static let resourceServerClient = "rs-client"

    init(
        requiredScopes: [String] = ["mcp:read"], rateLimit: RateLimit = .unlimited, disableDCR: Bool = false,
        tokenExpiry: TokenExpiry = TokenExpiry(), issuer: String = oauthIssuer + "/",
        authenticator: UserAuthenticator = .remoteUser, cimd: ClientIDMetadataDocuments? = nil,
        registrationToken: String? = nil, registration: ClientRegistrationPolicy? = nil,
        extraClients: [OAuthClient] = [], metrics: (any MetricsFactory)? = nil
    ) {
        let clock = clock
        let configuration = BuiltInAuthorizationServer.Configuration(
            issuer: issuer, storage: InMemoryOAuthStorage(now: { clock.now }), tokenExpiry: tokenExpiry,
            disableDynamicClientRegistration: disableDCR, supportedScopes: ["mcp:read", "mcp:write", "mcp:admin"],
            preregisteredClients: [
                OAuthClient(
                    clientID: Self.publicClient, redirectURIs: [oauthPublicRedirect, "https://app.example.com/cb"],
                    clientName: "Public <script>alert(1)</script> & Co"),
                OAuthClient(
                    clientID: Self.confidentialClient, clientSecret: Self.secret,
                    redirectURIs: ["https://conf.example.com/cb"],
                    grantTypes: ["authorization_code", "refresh_token", "client_credentials"],
                    scopes: ["mcp:read", "mcp:write"]),
                OAuthClient(
                    clientID: Self.resourceServerClient, clientSecret: Self.secret, redirectURIs: [], grantTypes: [],
                    responseTypes: [], mayIntrospectAnyToken: true),
            ] + extraClients,
            clientRegistration: registration ?? ClientRegistrationPolicy(initialAccessToken: registrationToken),
            userAuthenticator: authenticator, rateLimit: rateLimit, clientIDMetadataDocuments: cimd,
            now: { clock.now })
        auth = try! MCPAuthorization(
            configuration: AuthConfiguration(
                mode: .builtIn(configuration), requiredScopes: requiredScopes, metricsFactory: metrics),
            logger: Logger(label: "oauth-test"))
        server = auth.authorizationServer!
    }

    func send(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        await auth.route(request) ?? .error(.notFound, code: "not_found", message: "unrouted")
    }

    /// Runs the authorization endpoint as `alice` through consent and returns the redirect's query.
    func authorize(
        clientID: String = publicClient, redirectURI: String = oauthPublicRedirect,
        verifier: String = oauthPKCEVerifier,
        scope: String? = "mcp:read mcp:write", state: String = "xyz", resource: String? = oauthResource,
        decision: String = "approve"
    ) async -> [String: String] {
        var query: [(String, String)] = [
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI),
            ("code_challenge", OAuthCrypto.s256Challenge(of: verifier)), ("code_challenge_method", "S256"),
            ("state", state),
        ]
        if let scope { query.append(("scope", scope)) }
        if let resource { query.append(("resource", resource)) }
        let page = await send(oauthRequest(.get, "/oauth/authorize?" + FormParameters.encode(query), user: "alice"))
        guard page.head.status == .ok else { return ["status": String(page.head.status.code)] }
        var form = oauthHiddenFields(page)
        form.append(("decision", decision))
        let answer = await send(oauthForm("/oauth/authorize", form, user: "alice"))
        return oauthRedirectQuery(answer)
    }

    /// Code flow then token exchange; returns the token response JSON.
    func tokens(
        clientID: String = publicClient, scope: String? = "mcp:read mcp:write",
        redirectURI: String = oauthPublicRedirect
    ) async -> Value {
        let redirect = await authorize(clientID: clientID, redirectURI: redirectURI, scope: scope)
        let response = await send(
            oauthForm(
                "/oauth/token",
                [
                    ("grant_type", "authorization_code"), ("code", redirect["code"] ?? ""),
                    ("redirect_uri", redirectURI), ("client_id", clientID),
                    ("code_verifier", oauthPKCEVerifier),
                ]))
        return oauthJSON(response)
    }
}

let oauthPKCEVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-long-enough"

func oauthRequest(
    _ method: HTTPRequest.Method, _ path: String, headers: [(String, String)] = [], body: String = "",
    user: String? = nil, address: String = "192.0.2.1"
) -> HTTPServerRequest {
    var fields = HTTPFields()
    for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
    return HTTPServerRequest(
        head: HTTPRequest(
            method: method, scheme: "https", authority: "mcp.example.com", path: path, headerFields: fields),
        body: Array(body.utf8), remoteAddress: address, remoteUser: user)
}

func oauthForm(
    _ path: String, _ form: [(String, String)], headers: [(String, String)] = [], user: String? = nil,
    address: String = "192.0.2.1"
) -> HTTPServerRequest {
    oauthRequest(
        .post, path, headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers,
        body: FormParameters.encode(form), user: user, address: address)
}

func oauthJSON(_ response: HTTPServerResponse) -> Value {
    (try? JSONParser().parse(response.body)) ?? .null
}

func oauthHTML(_ response: HTTPServerResponse) -> String { String(decoding: response.body, as: UTF8.self) }

/// The hidden fields of the consent form.
func oauthHiddenFields(_ response: HTTPServerResponse) -> [(String, String)] {
    let html = oauthHTML(response)
    var out: [(String, String)] = []
    let pattern = try! NSRegularExpression(pattern: "<input type=\"hidden\" name=\"([^\"]*)\" value=\"([^\"]*)\">")
    for match in pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
        let name = String(html[Range(match.range(at: 1), in: html)!])
        let value = String(html[Range(match.range(at: 2), in: html)!])
        out.append((oauthUnescapeHTML(name), oauthUnescapeHTML(value)))
    }
    return out
}

func oauthUnescapeHTML(_ s: String) -> String {
    s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
        .replacingOccurrences(of: "&amp;", with: "&")
}

/// The query of a 302's Location (with "status" when it is not a redirect, and "base" = the URI before `?`).
func oauthRedirectQuery(_ response: HTTPServerResponse) -> [String: String] {
    guard response.head.status == .found, let location = response.head.headerFields[.location] else {
        return ["status": String(response.head.status.code)]
    }
    let parts = location.split(separator: "?", maxSplits: 1)
    var out = FormParameters(parsing: parts.count > 1 ? parts[1] : "").values
    out["base"] = String(parts[0])
    return out
}

func oauthBasic(_ id: String, _ secret: String) -> (String, String) {
    ("Authorization", "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString())
}

func oauthBearer(_ token: String) -> HTTPServerRequest {
    oauthRequest(.post, "/mcp", headers: [("Authorization", "Bearer \(token)")])
}
