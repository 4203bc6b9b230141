import Foundation
import HTTPTypes
import MCPHTTP

extension BuiltInAuthorizationServer {
    /// The outcome of checking an authorization request.
    enum AuthorizationCheck {
        /// Answer with an HTML page (client or redirect URI not trustworthy enough to redirect to).
        case page(HTTPServerResponse)
        /// Redirect to a pre-registered client with an error.
        case redirect(HTTPServerResponse)
        /// A valid request.
        case valid(AuthorizationRequest)
    }

    /// `GET /oauth/authorize`: checks the request, authenticates the user and shows the consent page.
    func authorize(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        switch await checkedAndSignedIn(FormParameters(parsing: request.query ?? ""), request) {
        case .failure(let answer): return answer.response
        case .success(let (checked, subject)): return consentPage(checked, subject: subject)
        }
    }

    /// The answer that ends an authorization request early (an error page, an error redirect, the sign-in).
    struct EarlyAnswer: Error {
        let response: HTTPServerResponse
    }

    /// Checks the authorization request's parameters, then signs the user in.
    func checkedAndSignedIn(_ params: FormParameters, _ request: HTTPServerRequest) async
        -> Result<(AuthorizationRequest, subject: String), EarlyAnswer>
    {
        let checked: AuthorizationRequest
        switch await check(params, request) {
        case .page(let response), .redirect(let response): return .failure(EarlyAnswer(response: response))
        case .valid(let valid): checked = valid
        }
        switch await configuration.userAuthenticator.authenticate(request) {
        case .respond(let response): return .failure(EarlyAnswer(response: response))
        case .authenticated(let user): return .success((checked, user))
        }
    }

    /// `POST /oauth/authorize`: the consent form's answer. Re-checks the request and the CSRF token, then
    /// redirects with a code (approve) or `access_denied` (deny).
    func decide(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        let params = FormParameters(body: request.body)
        let checked: AuthorizationRequest
        let subject: String
        switch await checkedAndSignedIn(params, request) {
        case .failure(let answer): return answer.response
        case .success(let (found, user)): (checked, subject) = (found, user)
        }
        guard let csrf = params["csrf_token"], !params.repeated.contains("csrf_token"),
            consent.isValid(csrf, subject: subject, parameters: checked.parameters, now: nowSeconds)
        else {
            metrics.refused(.authorize, .invalidRequest)
            logger.info(
                "OAuth consent refused: bad or expired CSRF token",
                metadata: ["http.request.id": .string(request.requestID)])
            return HTMLPage.error(
                .forbidden, title: "Request expired",
                message: "This consent form expired or does not belong to this request. Start the sign-in again.")
        }
        switch params["decision"] {
        case "approve":
            let code = OAuthCrypto.randomToken()
            let record = AuthorizationCodeRecord(
                codeDigest: OAuthCrypto.digest(code), clientID: checked.client.clientID,
                redirectURI: checked.redirectURI, codeChallenge: checked.codeChallenge, scopes: checked.scopes,
                subject: subject, resource: checked.resource,
                expiresAt: now.addingTimeInterval(Double(configuration.tokenExpiry.authorizationCode)),
                familyID: OAuthCrypto.randomToken(bytes: 16))
            do throws(OAuthError) {
                try await stored { try await storage.saveAuthorizationCode(record) }
                // A client someone signed in with is in use from now on (safe from unused-client eviction).
                try await recordUse(of: checked.client)
            } catch {
                metrics.refused(.authorize, error.code)
                return HTMLPage.error(
                    .internalServerError, title: "Try again",
                    message: "The sign-in could not be completed right now. Try again in a moment.")
            }
            logger.info(
                "OAuth authorization approved",
                metadata: [
                    "oauth.client_id": .string(checked.client.clientID), "http.request.id": .string(request.requestID),
                ])
            return redirect(checked.redirectURI, [("code", code)], state: checked.state)
        case "deny":
            metrics.refused(.authorize, .accessDenied)
            return redirect(
                checked.redirectURI, [("error", "access_denied"), ("error_description", "The user denied access")],
                state: checked.state)
        default:
            return requestError(
                .invalidRequest, "No decision", client: checked.client, redirectURI: checked.redirectURI,
                state: checked.state, request: request)
        }
    }

    /// Checks an authorization request's parameters.
    func check(_ params: FormParameters, _ request: HTTPServerRequest) async -> AuthorizationCheck {
        guard let clientID = params.nonEmpty("client_id"), !params.repeated.contains("client_id") else {
            metrics.refused(.authorize, .invalidRequest)
            return .page(
                HTMLPage.error(
                    .badRequest, title: "Unknown application",
                    message: "The application asking for access is not registered with this server."))
        }
        // A metadata-document client id makes this server fetch a URL: charged to the caller's address.
        if configuration.clientIDMetadataDocuments != nil, Self.metadataDocumentURL(clientID) != nil,
            let limited = rateLimited("metadata-document", request)
        {
            return .page(HTTPErrorBoundary.response(for: limited, request: request, logger: logger))
        }
        let client: OAuthClient
        switch await resolveClientOrError(clientID) {
        case .success(let found): client = found
        case .failure(let error):
            metrics.refused(.authorize, error.code)
            return .page(
                HTMLPage.error(
                    .badRequest, title: "Unknown application",
                    message: "The application asking for access is not registered with this server."))
        }
        let redirectURI: String
        if let requested = params.nonEmpty("redirect_uri") {
            guard !params.repeated.contains("redirect_uri"),
                RedirectURI.matches(requested, registered: client.redirectURIs)
            else { return .page(badRedirectPage()) }
            redirectURI = requested
        } else if client.redirectURIs.count == 1 {
            redirectURI = client.redirectURIs[0]
        } else {
            return .page(badRedirectPage())
        }
        let state = params["state"]
        func fail(_ code: OAuthError.Code, _ message: String) -> AuthorizationCheck {
            let response = requestError(
                code, message, client: client, redirectURI: redirectURI, state: state, request: request)
            return isTrusted(client) ? .redirect(response) : .page(response)
        }
        for name in AuthorizationRequest.parameterNames where params.repeated.contains(name) {
            return fail(.invalidRequest, "Parameter \(name) was sent more than once")
        }
        guard let responseType = params.nonEmpty("response_type") else {
            return fail(.invalidRequest, "response_type is required")
        }
        guard responseType == "code", configuration.supportedResponseTypes.contains("code"),
            client.responseTypes.contains("code")
        else { return fail(.unsupportedResponseType, "Only response_type=code is supported") }
        guard client.grantTypes.contains("authorization_code"),
            configuration.supportedGrantTypes.contains("authorization_code")
        else { return fail(.unauthorizedClient, "The client may not use the authorization code grant") }
        guard let challenge = params.nonEmpty("code_challenge") else {
            return fail(.invalidRequest, "PKCE is required: send code_challenge with code_challenge_method=S256")
        }
        guard params["code_challenge_method"] == "S256" else {
            return fail(.invalidRequest, "code_challenge_method must be S256")
        }
        guard (43...128).contains(challenge.count), challenge.allSatisfy(Self.isUnreserved) else {
            return fail(.invalidRequest, "code_challenge is malformed")
        }
        let resource = params["resource"]
        if let resource, !issuesTokens(for: resource) {
            return fail(.invalidTarget, "This server does not issue tokens for \(resource)")
        }
        if let allowed = client.resources, !allowed.contains(resource ?? resourceURL) {
            return fail(.invalidTarget, "The client may not get tokens for \(resource ?? resourceURL)")
        }
        let scopes: [String]
        switch grantedScopes(params["scope"], client: client) {
        case .success(let granted): scopes = granted
        case .failure(let error): return fail(error.code, error.errorDescription)
        }
        let parameters = AuthorizationRequest.parameterNames.compactMap { name in params[name].map { (name, $0) } }
        return .valid(
            AuthorizationRequest(
                client: client, redirectURI: redirectURI, state: state, codeChallenge: challenge, scopes: scopes,
                resource: resource, parameters: parameters))
    }

    /// The requested scopes if the client may have them; all it may have when none are requested.
    func grantedScopes(_ requested: String?, client: OAuthClient) -> Result<[String], OAuthError> {
        let allowed = (client.scopes ?? configuration.supportedScopes).filter(configuration.supportedScopes.contains)
        guard let requested, !requested.trimmingCharacters(in: .whitespaces).isEmpty else { return .success(allowed) }
        var scopes: [String] = []
        for scope in requested.split(separator: " ").map(String.init) where !scopes.contains(scope) {
            guard allowed.contains(scope) else { return .failure(.invalidScope("Scope \(scope) is not available")) }
            scopes.append(scope)
        }
        return .success(scopes)
    }

    /// Whether errors in the client's requests may be redirected to it: only a pre-registered client's redirect
    /// URIs are trusted (RFC 9700 §4.11.2). Anyone can register a client, or publish a Client ID Metadata Document,
    /// with a redirect URI on any site, and a redirect that needs no sign-in would make this server an open
    /// redirector to it.
    func isTrusted(_ client: OAuthClient) -> Bool { preregistered[client.clientID] != nil }

    /// The answer to an error in the request itself (not the user's decision): for a pre-registered client a
    /// redirect with `error`, `error_description`, `state` and `iss`; for any other client a 400 HTML page naming
    /// the error, without a redirect.
    func requestError(
        _ code: OAuthError.Code, _ message: String, client: OAuthClient, redirectURI: String, state: String?,
        request: HTTPServerRequest
    ) -> HTTPServerResponse {
        metrics.refused(.authorize, code)
        if isTrusted(client) {
            return redirect(redirectURI, [("error", code.rawValue), ("error_description", message)], state: state)
        }
        logger.info(
            "OAuth authorization request refused with a page (client not pre-registered)",
            metadata: [
                "oauth.client_id": .string(client.clientID), "oauth.error": .string(code.rawValue),
                "http.request.id": .string(request.requestID),
            ])
        return HTMLPage.error(
            .badRequest, title: "Invalid authorization request",
            message: "The application \(client.clientName ?? client.clientID) sent a request this server cannot "
                + "accept (\(code.rawValue): \(message)). Nothing was shared; tell the application's developer.")
    }

    /// A 302 to the client with `iss` (RFC 9207) and `state`.
    func redirect(_ uri: String, _ parameters: [(String, String)], state: String?) -> HTTPServerResponse {
        var all = parameters
        if let state { all.append(("state", state)) }
        all.append(("iss", issuer))
        var fields = HTTPFields.noStore
        fields[.location] = RedirectURI.appending(all, to: uri)
        return HTTPServerResponse(status: .found, headerFields: fields)
    }

    /// The page for a missing or unregistered redirect URI (counted as an `invalid_request` refusal: RFC 6749
    /// §4.1.2.1 sends no error code to such a redirect URI).
    private func badRedirectPage() -> HTTPServerResponse {
        metrics.refused(.authorize, .invalidRequest)
        return HTMLPage.error(
            .badRequest, title: "Invalid redirect URI",
            message: "The redirect URI is missing or is not registered for this application.")
    }

    static func isUnreserved(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "." || c == "_" || c == "~")
    }

    /// The consent page: client name, requested scopes, redirect host, Approve and Deny. Its policy lets the form's
    /// answer redirect to the redirect URI's origin (browsers check `form-action` on that redirect too).
    func consentPage(_ request: AuthorizationRequest, subject: String) -> HTTPServerResponse {
        let token = consent.make(
            subject: subject, parameters: request.parameters, expiry: nowSeconds + configuration.consentLifetime)
        let name = request.client.clientName ?? request.client.clientID
        let scopes =
            request.scopes.isEmpty
            ? "<li>no particular permission</li>"
            : request.scopes.map { "<li><code>\(HTMLPage.escape($0))</code></li>" }.joined()
        let hidden = (request.parameters + [("csrf_token", token)]).map {
            "<input type=\"hidden\" name=\"\(HTMLPage.escape($0.0))\" value=\"\(HTMLPage.escape($0.1))\">"
        }.joined(separator: "\n")
        let body = """
            <p>Signed in as <strong>\(HTMLPage.escape(subject))</strong>.</p>
            <p>The application <strong>\(HTMLPage.escape(name))</strong> asks for access to \
            <code>\(HTMLPage.escape(request.resource ?? resourceURL))</code> with these permissions:</p>
            <ul>\(scopes)</ul>
            <p>After your answer you will be sent to <strong>\(HTMLPage.escape(RedirectURI.displayHost(request.redirectURI)))</strong>.</p>
            <form method="post" action="\(HTMLPage.escape(basePath + "/oauth/authorize"))">
            \(hidden)
            <button type="submit" name="decision" value="approve">Approve</button>
            <button type="submit" name="decision" value="deny">Deny</button>
            </form>
            """
        return HTMLPage.response(
            .ok, title: "Authorize \(name)", body: body, formTarget: RedirectURI.formActionSource(request.redirectURI))
    }
}
