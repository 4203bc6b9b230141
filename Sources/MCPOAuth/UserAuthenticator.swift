import MCPHTTP
/// How the authorization endpoint learns who the resource owner is. The server has no login form of its own.
public struct UserAuthenticator: Sendable {
    /// What an authenticator decided.
    public enum Outcome: Sendable {
        /// The user, by a stable subject identifier (becomes the token's `sub`).
        case authenticated(subject: String)
        /// Answer the request with this response instead (a login redirect, a 401 page…).
        case respond(HTTPServerResponse)
    }

    let authenticate: @Sendable (HTTPServerRequest) async -> Outcome

    /// Trusts `REMOTE_USER` as set by nginx (`auth_basic`, `auth_request`, client certificates…). Without it the
    /// authorization endpoint answers 401 with a page saying that nginx must authenticate `/oauth/authorize`.
    public static let remoteUser = UserAuthenticator { request in
        if let user = request.remoteUser, !user.isEmpty { return .authenticated(subject: user) }
        return .respond(
            HTMLPage.error(
                .unauthorized, title: "Sign-in required",
                message:
                    "This authorization server relies on the web server to sign users in, and no signed-in user "
                    + "reached it. Configure nginx to authenticate /oauth/authorize (for example auth_basic or "
                    + "auth_request) and pass REMOTE_USER to the FastCGI application."))
    }

    /// A custom decision.
    /// - Parameter authenticate: decides who the request's user is, or answers it.
    public static func custom(_ authenticate: @escaping @Sendable (HTTPServerRequest) async -> Outcome) -> Self {
        UserAuthenticator(authenticate: authenticate)
    }
}
