import Foundation
import JWTKit
import MCPHandlers
import Synchronization
import MCPHTTP

/// Verifies tokens of an external authorization server: JWTs against its JWKS, or opaque tokens by introspection.
/// Fails closed: an unreachable issuer is ``BearerAuthenticationError/Kind/unavailable`` (503).
public final class ExternalTokenVerifier: AccessTokenVerifier {
    private struct Endpoints: Sendable { var jwksURI: String?; var introspectionEndpoint: String? }
    private struct KeySet: Sendable { var keys: JWTKeyCollection; var kids: Set<String>; var fetchedAt: Date }
    private struct CachedIntrospection: Sendable { var user: AuthenticatedUser?; var until: Date }
    private struct State: Sendable {
        var endpoints: Endpoints?
        var keySet: KeySet?
        var lastKeyFetch = Date.distantPast
        var introspections: [String: CachedIntrospection] = [:]
    }

    let configuration: ExternalAuthorization.Configuration
    private let introspectionCacheTTL: Int
    private let state = Mutex(State())
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    private let leeway = 30
    /// Minimum seconds between two JWKS fetches caused by unknown key ids.
    private let refetchInterval: Double = 30
    private let maximumCachedIntrospections = 10_000

    /// Creates a verifier.
    /// - Parameters:
    ///   - configuration: the external issuer and how to check its tokens.
    ///   - introspectionCacheTTL: seconds an introspection answer is reused.
    public init(configuration: ExternalAuthorization.Configuration, introspectionCacheTTL: Int = 60) {
        self.configuration = configuration
        self.introspectionCacheTTL = introspectionCacheTTL
    }

    /// See ``AccessTokenVerifier/verify(accessToken:)``.
    public func verify(accessToken token: String) async throws(BearerAuthenticationError) -> AuthenticatedUser {
        switch configuration.validation {
        case .jwt: return try await verifyJWT(token)
        case .introspection(let id, let secret): return try await introspect(token, clientID: id, secret: secret)
        }
    }

    // MARK: JWT

    private func verifyJWT(_ token: String) async throws(BearerAuthenticationError) -> AuthenticatedUser {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSONParser().parse(headerBytes)
        else { throw invalid("The access token is malformed") }
        guard let alg = header["alg"]?.stringValue, configuration.allowedAlgorithms.contains(alg) else {
            throw invalid("The access token's algorithm is not accepted")
        }
        if let typ = header["typ"]?.stringValue?.lowercased(), !["at+jwt", "application/at+jwt", "jwt"].contains(typ) {
            throw invalid("The access token's type is not accepted")
        }
        guard header["crit"] == nil, let kid = header["kid"]?.stringValue else {
            throw invalid("The access token names no key")
        }
        var keySet = try await currentKeySet(forceRefresh: false)
        if !keySet.kids.contains(kid) {
            keySet = try await currentKeySet(forceRefresh: true)
            guard keySet.kids.contains(kid) else { throw invalid("The access token's key is unknown") }
        }
        let claims: ExternalClaims
        do { claims = try await keySet.keys.verify(token, as: ExternalClaims.self) } catch {
            throw invalid("The access token's signature is invalid")
        }
        return try user(from: claims.values, requireExpiry: true)
    }

    private func currentKeySet(forceRefresh: Bool) async throws(BearerAuthenticationError) -> KeySet {
        let now = configuration.now()
        let cached = state.withLock { state -> KeySet? in
            guard let keySet = state.keySet else { return nil }
            if forceRefresh {
                // Refetch on an unknown kid at most every `refetchInterval` seconds.
                return now.timeIntervalSince(state.lastKeyFetch) < refetchInterval ? keySet : nil
            }
            return now.timeIntervalSince(keySet.fetchedAt) < Double(configuration.jwksCacheTTL) ? keySet : nil
        }
        if let cached { return cached }
        state.withLock { $0.lastKeyFetch = now }
        let endpoints = try await discover()
        guard let jwksURI = endpoints.jwksURI else {
            throw BearerAuthenticationError(.unavailable, "The authorization server publishes no jwks_uri")
        }
        let body = try await get(jwksURI)
        guard let jwks = try? JSONDecoder().decode(JWKS.self, from: Data(body)) else {
            throw BearerAuthenticationError(.unavailable, "The authorization server's JWKS is unreadable")
        }
        let keys = JWTKeyCollection()
        var kids: Set<String> = []
        for jwk in jwks.keys {
            guard let kid = jwk.keyIdentifier?.string else { continue }
            if (try? await keys.add(jwk: jwk)) != nil { kids.insert(kid) }
        }
        let keySet = KeySet(keys: keys, kids: kids, fetchedAt: now)
        state.withLock { $0.keySet = keySet }
        return keySet
    }

    // MARK: Introspection

    private func introspect(_ token: String, clientID: String, secret: String) async throws(BearerAuthenticationError)
        -> AuthenticatedUser
    {
        let digest = OAuthCrypto.digest(token)
        let now = configuration.now()
        if let cached = state.withLock({ $0.introspections[digest] }), cached.until > now {
            guard let user = cached.user else { throw invalid("The access token is not active") }
            return user
        }
        guard let endpoint = try await discover().introspectionEndpoint else {
            throw BearerAuthenticationError(.unavailable, "The authorization server has no introspection endpoint")
        }
        let credentials = FormParameters.encode(clientID) + ":" + FormParameters.encode(secret)
        let request = HTTPFetcher.Request(
            method: "POST", url: endpoint,
            headers: [
                "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                "Authorization": "Basic " + Data(credentials.utf8).base64EncodedString(),
            ],
            body: Array(FormParameters.encode([("token", token), ("token_type_hint", "access_token")]).utf8))
        let body = try await send(request)
        guard let answer = try? JSONParser().parse(body), let object = answer.objectValue else {
            throw BearerAuthenticationError(.unavailable, "The introspection answer is unreadable")
        }
        var user: AuthenticatedUser?
        var failure: BearerAuthenticationError?
        if object["active"]?.boolValue == true {
            do { user = try self.user(from: object, requireExpiry: false) } catch { failure = error }
        } else {
            failure = invalid("The access token is not active")
        }
        var until = now.addingTimeInterval(Double(introspectionCacheTTL))
        if let exp = object["exp"]?.intValue { until = min(until, Date(timeIntervalSince1970: Double(exp))) }
        state.withLock { state in
            if state.introspections.count >= maximumCachedIntrospections {
                state.introspections = state.introspections.filter { $0.value.until > now }
                if state.introspections.count >= maximumCachedIntrospections { state.introspections.removeAll() }
            }
            state.introspections[digest] = CachedIntrospection(user: user, until: until)
        }
        if let user { return user }
        throw failure ?? invalid("The access token is not active")
    }

    // MARK: Shared

    /// Checks issuer, audience and times of claims (JWT or introspection) and makes the user.
    private func user(from claims: [String: Value], requireExpiry: Bool) throws(BearerAuthenticationError)
        -> AuthenticatedUser
    {
        let now = Int(configuration.now().timeIntervalSince1970)
        if requireExpiry || claims["iss"] != nil {
            guard claims["iss"]?.stringValue == configuration.issuer else { throw invalid("Wrong issuer") }
        }
        let audiences: [String] =
            claims["aud"]?.stringValue.map { [$0] } ?? claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if requireExpiry || claims["aud"] != nil || !configuration.acceptsIntrospectionWithoutAudience {
            guard audiences.contains(where: configuration.audiences.contains) else {
                throw invalid("The access token is not meant for this resource")
            }
        }
        if let exp = claims["exp"]?.intValue {
            guard exp + leeway > now else { throw invalid("The access token expired") }
        } else if requireExpiry {
            throw invalid("The access token has no expiry")
        }
        if let nbf = claims["nbf"]?.intValue, nbf > now + leeway { throw invalid("The access token is not valid yet") }
        guard let subject = claims["sub"]?.stringValue ?? claims["client_id"]?.stringValue else {
            throw invalid("The access token has no subject")
        }
        let scope =
            claims["scope"]?.stringValue ?? claims["scp"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " ")
            ?? ""
        return AuthenticatedUser(
            subject: subject, clientID: claims["client_id"]?.stringValue ?? claims["azp"]?.stringValue,
            scopes: scope.split(separator: " ").map(String.init), claims: claims)
    }

    /// The issuer's endpoints from its RFC 8414 metadata, else its OpenID Connect configuration (cached).
    private func discover() async throws(BearerAuthenticationError) -> Endpoints {
        if let endpoints = state.withLock({ $0.endpoints }) { return endpoints }
        let issuer = configuration.issuer
        var candidates: [String] = []
        if let components = URLComponents(string: issuer), !components.path.isEmpty, components.path != "/" {
            var root = components
            root.path = ""
            let origin = root.string ?? issuer
            candidates = [
                origin + "/.well-known/oauth-authorization-server" + components.path,
                origin + "/.well-known/openid-configuration" + components.path,
                issuer + "/.well-known/openid-configuration",
            ]
        } else {
            candidates = [
                issuer + "/.well-known/oauth-authorization-server", issuer + "/.well-known/openid-configuration",
            ]
        }
        for url in candidates {
            guard let result = try? await configuration.fetcher.fetch(HTTPFetcher.Request(url: url)),
                result.status == 200, let doc = try? JSONParser().parse(result.body),
                doc["issuer"]?.stringValue.map(BuiltInAuthorizationServer.Configuration.normalize) == issuer
            else { continue }
            let endpoints = Endpoints(
                jwksURI: doc["jwks_uri"]?.stringValue, introspectionEndpoint: doc["introspection_endpoint"]?.stringValue
            )
            state.withLock { $0.endpoints = endpoints }
            return endpoints
        }
        throw BearerAuthenticationError(.unavailable, "The authorization server's metadata cannot be fetched")
    }

    private func get(_ url: String) async throws(BearerAuthenticationError) -> [UInt8] {
        try await send(HTTPFetcher.Request(url: url, headers: ["Accept": "application/json"]))
    }

    private func send(_ request: HTTPFetcher.Request) async throws(BearerAuthenticationError) -> [UInt8] {
        do {
            let result = try await configuration.fetcher.fetch(request)
            guard result.status == 200 else {
                throw BearerAuthenticationError(.unavailable, "The authorization server answered \(result.status)")
            }
            return result.body
        } catch let error as BearerAuthenticationError {
            throw error
        } catch {
            throw BearerAuthenticationError(.unavailable, "The authorization server cannot be reached")
        }
    }

    private func invalid(_ message: String) -> BearerAuthenticationError {
        BearerAuthenticationError(.invalidToken, message)
    }
}
