import Foundation
import HTTPTypes
import MCPHandlers
import MCPHTTP

extension BuiltInAuthorizationServer {
    /// `POST /oauth/token`.
    /// - Throws: the ``OAuthError`` to answer with (rendered by ``respond(to:)``'s error boundary).
    func token(_ request: HTTPServerRequest) async throws(OAuthError) -> HTTPServerResponse {
        let params = FormParameters(body: request.body)
        if let limited = rateLimited("token", request) { throw limited }
        var usedBasic = (try? ClientCredentials(request, params))?.method == .clientSecretBasic
        do throws(OAuthError) {
            try requireForm(request)
            try params.requireSingle(Array(params.repeated))
            guard let grantType = params.nonEmpty("grant_type") else {
                throw OAuthError.invalidRequest("grant_type is required")
            }
            guard configuration.supportedGrantTypes.contains(grantType),
                ["authorization_code", "refresh_token", "client_credentials"].contains(grantType)
            else { throw OAuthError(.unsupportedGrantType, "Grant type \(grantType) is not supported") }
            let credentials = try ClientCredentials(request, params)
            usedBasic = credentials.method == .clientSecretBasic
            let client = try await credentials.authenticate(with: self)
            if let limited = rateLimited("token", request, authenticated: client) { throw limited }
            guard client.grantTypes.contains(grantType) else {
                throw OAuthError(.unauthorizedClient, "The client may not use the \(grantType) grant")
            }
            if let resource = params["resource"], !issuesTokens(for: resource) {
                throw OAuthError(.invalidTarget, "This server does not issue tokens for \(resource)")
            }
            let body: Value
            switch grantType {
            case "authorization_code": body = try await authorizationCodeGrant(params, client: client)
            case "refresh_token": body = try await refreshTokenGrant(params, client: client)
            default: body = try await clientCredentialsGrant(params, client: client)
            }
            metrics.tokenIssued(grantType: grantType)
            return .json(.ok, body, headerFields: .noStore)
        } catch {
            // A rate limit (the one error with Retry-After here) is counted and logged where it is charged.
            if error.retryAfter == nil {
                metrics.refused(.token, error.code)
                logger.info(
                    "OAuth token request refused",
                    metadata: ["oauth.error": .string(error.code.rawValue), "http.request.id": .string(request.requestID)])
            }
            throw error.clientUsedBasic(usedBasic)
        }
    }

    func requireForm(_ request: HTTPServerRequest) throws(OAuthError) {
        let type = request.head.headerFields[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw .invalidRequest("The body must be application/x-www-form-urlencoded")
        }
    }

    private func authorizationCodeGrant(_ params: FormParameters, client: OAuthClient) async throws(OAuthError) -> Value
    {
        guard let code = params.nonEmpty("code") else { throw .invalidRequest("code is required") }
        guard let verifier = params.nonEmpty("code_verifier") else {
            throw .invalidRequest("code_verifier is required")
        }
        let record: AuthorizationCodeRecord
        switch try await stored({ try await storage.consumeAuthorizationCode(digest: OAuthCrypto.digest(code)) }) {
        case .unknown: throw .invalidGrant("The authorization code is invalid or expired")
        case .replayed(let used):
            try await stored { try await storage.revokeFamily(used.familyID) }
            metrics.revoked()
            logger.info(
                "OAuth authorization code replayed: its tokens are revoked",
                metadata: ["oauth.client_id": .string(used.clientID)])
            throw .invalidGrant("The authorization code was already used")
        case .fresh(let fresh): record = fresh
        }
        guard record.clientID == client.clientID else { throw .invalidGrant("The code was issued to another client") }
        if let redirectURI = params["redirect_uri"] {
            guard redirectURI == record.redirectURI else { throw .invalidGrant("redirect_uri does not match") }
        } else if client.redirectURIs != [record.redirectURI] {
            throw .invalidRequest("redirect_uri is required")
        }
        guard (43...128).contains(verifier.count), verifier.allSatisfy(Self.isUnreserved),
            OAuthCrypto.constantTimeEqual(
                Array(OAuthCrypto.s256Challenge(of: verifier).utf8), Array(record.codeChallenge.utf8))
        else { throw .invalidGrant("The code_verifier does not match the code_challenge") }
        // A code is bound to the resource of its authorization request; one asked without `resource` is bound to the
        // main resource, never redeemable for another.
        let audience = record.resource ?? resourceURL
        if let requested = params["resource"], requested != audience {
            throw OAuthError(.invalidTarget, "resource differs from the authorization request")
        }
        return try await issueTokens(
            subject: record.subject, client: client, scopes: record.scopes, familyID: record.familyID,
            audience: audience)
    }

    private func refreshTokenGrant(_ params: FormParameters, client: OAuthClient) async throws(OAuthError) -> Value {
        guard let token = params.nonEmpty("refresh_token") else { throw .invalidRequest("refresh_token is required") }
        let digest = OAuthCrypto.digest(token)
        // A request for another resource is refused before the token is rotated, so the client keeps it.
        if let requested = params["resource"], let known = try await stored({ try await storage.refreshToken(digest: digest) }),
            requested != known.resource ?? resourceURL
        {
            throw OAuthError(.invalidTarget, "A refresh token only gets tokens for its own resource")
        }
        let record: RefreshTokenRecord
        switch try await stored({ try await storage.rotateRefreshToken(digest: digest) }) {
        case .unknown: throw .invalidGrant("The refresh token is invalid, expired or revoked")
        case .reused(let used):
            try await stored { try await storage.revokeFamily(used.familyID) }
            metrics.revoked()
            logger.info(
                "OAuth refresh token reused: its grant is revoked",
                metadata: ["oauth.client_id": .string(used.clientID)])
            throw .invalidGrant("The refresh token was already used")
        case .fresh(let fresh): record = fresh
        }
        guard record.clientID == client.clientID else {
            throw .invalidGrant("The refresh token belongs to another client")
        }
        let audience = record.resource ?? resourceURL
        if let requested = params["resource"], requested != audience {
            throw OAuthError(.invalidTarget, "A refresh token only gets tokens for its own resource")
        }
        var scopes = record.scopes
        if let requested = params.nonEmpty("scope") {
            let list = requested.split(separator: " ").map(String.init)
            guard list.allSatisfy(record.scopes.contains) else {
                throw .invalidScope("A refresh may not widen the granted scopes")
            }
            scopes = list
        }
        return try await issueTokens(
            subject: record.subject, client: client, scopes: scopes, familyID: record.familyID, audience: audience)
    }

    private func clientCredentialsGrant(_ params: FormParameters, client: OAuthClient) async throws(OAuthError) -> Value
    {
        guard client.isConfidential else {
            throw OAuthError(.unauthorizedClient, "client_credentials needs a confidential client")
        }
        // Such a client acts without a user: it gets at most the scopes it was provisioned with, never "all".
        guard client.scopes != nil else {
            throw OAuthError(.unauthorizedClient, "The client has no allowed scopes for client_credentials")
        }
        let scopes: [String]
        switch grantedScopes(params["scope"], client: client) {
        case .success(let granted): scopes = granted
        case .failure(let error): throw error
        }
        return try await issueTokens(
            subject: client.clientID, client: client, scopes: scopes, familyID: nil,
            audience: params["resource"] ?? resourceURL)
    }

    /// Signs an access token for one resource (its only audience) and, for a grant family whose client may
    /// refresh, a rotated refresh token bound to the same resource.
    func issueTokens(subject: String, client: OAuthClient, scopes: [String], familyID: String?, audience: String)
        async throws(OAuthError) -> Value
    {
        if let allowed = client.resources, !allowed.contains(audience) {
            throw OAuthError(.invalidTarget, "The client may not get tokens for \(audience)")
        }
        let issuedAt = nowSeconds
        let lifetime = configuration.tokenExpiry.accessToken
        let claims = AccessTokenClaims(
            issuer: issuer, subject: subject, audience: [audience], clientID: client.clientID,
            scope: scopes.joined(separator: " "), expiresAt: issuedAt + lifetime, issuedAt: issuedAt,
            notBefore: issuedAt, tokenID: OAuthCrypto.randomToken(bytes: 16))
        let accessToken: String
        do { accessToken = try await key.sign(claims) } catch {
            logger.info("OAuth access token signing failed", metadata: ["error": .string("\(error)")])
            throw OAuthError(.serverError, "The token could not be issued")
        }
        try await recordUse(of: client)
        let expiresAt = Date(timeIntervalSince1970: Double(claims.expiresAt))
        try await stored { try await storage.recordAccessToken(jti: claims.tokenID, familyID: familyID, expiresAt: expiresAt) }
        var body: [String: Value] = [
            "access_token": .string(accessToken), "token_type": "Bearer", "expires_in": .int(lifetime),
            "scope": .string(claims.scope),
        ]
        if let familyID, client.grantTypes.contains("refresh_token"),
            configuration.supportedGrantTypes.contains("refresh_token")
        {
            let refresh = OAuthCrypto.randomToken()
            let record = RefreshTokenRecord(
                tokenDigest: OAuthCrypto.digest(refresh), clientID: client.clientID, subject: subject,
                scopes: scopes, expiresAt: now.addingTimeInterval(Double(configuration.tokenExpiry.refreshToken)),
                familyID: familyID, resource: audience)
            try await stored { try await storage.saveRefreshToken(record) }
            body["refresh_token"] = .string(refresh)
        }
        return .object(body)
    }
}
