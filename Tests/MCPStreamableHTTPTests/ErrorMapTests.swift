import Foundation
import HTTPTypes
import Logging
import MCPFCGITesting
import MCPHandlers
import Testing

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// The one error map: every ``TransportError`` case's status, JSON-RPC code and headers; the boundary's
/// rendering of conforming and non-conforming errors; OAuth and bearer errors through the same boundary.
@Suite struct ErrorMapTests {
    /// Every case of ``TransportError``, with sample payloads. ``expected(_:)`` switches over the enum
    /// exhaustively: a new case does not compile until its wire contract is written there, and must be added
    /// here too (``everyCaseIsListedOnce`` checks the list against the switch's names).
    static let allCases: [TransportError] = [
        .originNotAllowed, .userNotAccepted, .unsupportedMediaType, .notAcceptable, .eventStreamNotAccepted,
        .listenNeedsEventStream, .parseError("unexpected end"), .invalidMessage("\"jsonrpc\" must be \"2.0\""),
        .sessionIDRequired, .sessionNotFound, .unsupportedProtocolVersion("1999-01-01"), .authenticationRequired,
        .sessionOwnedByAnotherUser, .storeUnavailable(retryAfter: 5), .sessionCapacityReached(retryAfter: 7),
        .addressQuotaReached(limit: 3, retryAfter: 60), .userQuotaReached(limit: 4, retryAfter: 61),
        .clientMetadataTooLarge(limit: 4096), .batchWithoutSession, .batchNotSupported(version: "2025-06-18"),
        .emptyBatch, .batchTooLarge(count: 101, limit: 100), .standaloneStreamsUnavailable,
        .unknownLastEventID("x"), .cannotResume("s1:9"), .tooManyStreams(limit: 2),
    ]

    /// The wire contract of each case: (name, status, JSON-RPC code, Retry-After, Allow).
    static func expected(_ error: TransportError) -> (String, Int, Int?, String?, String?) {
        switch error {
        case .originNotAllowed: ("originNotAllowed", 403, -32000, nil, nil)
        case .userNotAccepted: ("userNotAccepted", 403, -32000, nil, nil)
        case .unsupportedMediaType: ("unsupportedMediaType", 415, -32000, nil, nil)
        case .notAcceptable: ("notAcceptable", 406, -32000, nil, nil)
        case .eventStreamNotAccepted: ("eventStreamNotAccepted", 406, -32000, nil, nil)
        case .listenNeedsEventStream: ("listenNeedsEventStream", 406, -32000, nil, nil)
        case .parseError: ("parseError", 400, -32700, nil, nil)
        case .invalidMessage: ("invalidMessage", 400, -32600, nil, nil)
        case .sessionIDRequired: ("sessionIDRequired", 400, -32000, nil, nil)
        case .sessionNotFound: ("sessionNotFound", 404, -32000, nil, nil)
        case .unsupportedProtocolVersion: ("unsupportedProtocolVersion", 400, -32000, nil, nil)
        case .authenticationRequired: ("authenticationRequired", 401, -32000, nil, nil)
        case .sessionOwnedByAnotherUser: ("sessionOwnedByAnotherUser", 403, -32000, nil, nil)
        case .storeUnavailable(let seconds): ("storeUnavailable", 503, -32603, String(seconds), nil)
        case .sessionCapacityReached(let seconds): ("sessionCapacityReached", 503, -32603, String(seconds), nil)
        case .addressQuotaReached(_, let seconds): ("addressQuotaReached", 429, -32000, String(seconds), nil)
        case .userQuotaReached(_, let seconds): ("userQuotaReached", 429, -32000, String(seconds), nil)
        case .clientMetadataTooLarge: ("clientMetadataTooLarge", 400, -32602, nil, nil)
        case .batchWithoutSession: ("batchWithoutSession", 400, -32600, nil, nil)
        case .batchNotSupported: ("batchNotSupported", 400, -32600, nil, nil)
        case .emptyBatch: ("emptyBatch", 400, -32600, nil, nil)
        case .batchTooLarge: ("batchTooLarge", 400, -32600, nil, nil)
        case .standaloneStreamsUnavailable: ("standaloneStreamsUnavailable", 405, nil, nil, "DELETE, POST")
        case .unknownLastEventID: ("unknownLastEventID", 400, -32000, nil, nil)
        case .cannotResume: ("cannotResume", 400, -32000, nil, nil)
        case .tooManyStreams: ("tooManyStreams", 429, -32000, nil, nil)
        }
    }

    @Test func everyCaseIsListedOnce() {
        let names = Self.allCases.map { Self.expected($0).0 }
        #expect(Set(names).count == names.count)
        // One entry per case of the enum: the names the exhaustive switch knows.
        #expect(Set(names).count == 26)
    }

    @Test(arguments: ErrorMapTests.allCases)
    func transportErrorMapsToOneStatusCodeAndHeaderSet(_ error: TransportError) throws {
        let (_, status, code, retryAfter, allow) = Self.expected(error)
        #expect(error.status.code == status)
        #expect(error.jsonRPCCode == code)
        let response = HTTPErrorBoundary.response(
            for: error.answering(.number(7)), request: .test(.post, "/mcp"), logger: Logger(label: "test"))
        #expect(response.head.status.code == status)
        let fields = response.head.headerFields
        #expect(fields[.cacheControl] == "no-store")
        #expect(fields[.contentType] == "application/json")
        #expect(fields[.retryAfter] == retryAfter)
        #expect(fields[.allow] == allow)
        #expect(fields[.wwwAuthenticate] == nil)
        let body = try JSONParser().parse(response.body)
        if let code {
            #expect(body["jsonrpc"] == "2.0")
            #expect(body["id"] == .int(7))
            #expect(body["error"]?["code"] == .int(code))
            #expect(body["error"]?["message"]?.stringValue == error.message)
        } else {
            #expect(body["error"] == "method_not_allowed")
            #expect(body["message"]?.stringValue == error.message)
        }
        // Thrown without a known request id, the body's id is null.
        let anonymous = HTTPErrorBoundary.response(
            for: error, request: .test(.post, "/mcp"), logger: Logger(label: "test"))
        #expect(anonymous.head.status.code == status)
        if code != nil { #expect(try JSONParser().parse(anonymous.body)["id"] == .null) }
    }

    @Test func statelessDispositionsMapToTheirStatuses() {
        for disposition in StatelessDisposition.allCases {
            let expected: HTTPResponse.Status =
                switch disposition {
                case .result, .failed, .cancelled: .ok
                case .rejected: .badRequest
                case .unknownMethod: .notFound
                }
            #expect(disposition.httpStatus == expected)
        }
        #expect(StatelessDisposition(.failure(.methodNotFound("x"))).httpStatus == .notFound)
        #expect(StatelessDisposition(.failure(.headerMismatch("x"))).httpStatus == .badRequest)
        #expect(StatelessDisposition(.failure(.internalError())).httpStatus == .ok)
        #expect(StatelessDisposition(.success([:])).httpStatus == .ok)
    }

    // MARK: The boundary

    struct LeakyError: Error, CustomStringConvertible {
        var description: String { "database password=hunter2 at db.internal:5432" }
    }

    @Test func nonConformingErrorIsAGeneric500AndALogLine() async throws {
        let recorder = ManagementLogRecorder()
        let response = await HTTPErrorBoundary.respond(to: .test(.post, "/anything"), logger: recorder.logger) { _ in
            throw LeakyError()
        }
        #expect(response.head.status == .internalServerError)
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        let body = String(decoding: response.body, as: UTF8.self)
        #expect(!body.contains("hunter2"))
        #expect(!body.contains("LeakyError"))
        let parsed = try JSONParser().parse(response.body)
        #expect(parsed["error"] == "internal_error")
        let logged = recorder.all
        #expect(logged.count == 1)
        #expect(logged.first?.level == .error)
        #expect(logged.first?.metadata["error"]?.contains("hunter2") == true)
    }

    @Test func boundaryPassesAConformingErrorThroughWithoutLogging() async {
        let recorder = ManagementLogRecorder()
        let response = await HTTPErrorBoundary.respond(to: .test(.get, "/mcp"), logger: recorder.logger) { _ in
            throw TransportError.sessionNotFound
        }
        #expect(response.head.status == .notFound)
        #expect(recorder.all.isEmpty)
    }

    @Test func boundaryPassesAResponseThrough() async {
        let response = await HTTPErrorBoundary.respond(to: .test(.get, "/x"), logger: Logger(label: "test")) { _ in
            HTTPServerResponse(status: .noContent)
        }
        #expect(response.head.status == .noContent)
    }

    @Test func middlewareThrowingAnHTTPResponseErrorIsAnsweredWithIt() async throws {
        // Was a generic 500 for any thrown error; the chain now renders as the boundary does.
        let app = MCPApplication(
            server: MCPServer(configuration: .init(serverInfo: .init(name: "t", version: "1"))),
            configuration: .init(
                endpoint: .inProcessTests,
                middleware: [
                    ClosureMiddleware { _, _ in throw OAuthError(.temporarilyUnavailable, "busy", retryAfter: 3) }
                ]),
            logger: Logger(label: "t"))
        let response = await app.respond(to: request(.get, "/health"))
        #expect(response.head.status == .tooManyRequests)
        #expect(response.head.headerFields[.retryAfter] == "3")
        #expect(try json(response)["error"] == "temporarily_unavailable")
    }

    // MARK: OAuth and bearer errors through the boundary

    @Test func oauthErrorsRenderThroughTheBoundary() throws {
        let request = HTTPServerRequest.test(.post, "/oauth/token")
        let logger = Logger(label: "test")
        let codes: [(OAuthError.Code, Int)] = [
            (.invalidRequest, 400), (.invalidClient, 401), (.invalidGrant, 400), (.unauthorizedClient, 400),
            (.unsupportedGrantType, 400), (.unsupportedResponseType, 400), (.invalidScope, 400),
            (.invalidTarget, 400), (.accessDenied, 403), (.invalidRedirectURI, 400), (.invalidClientMetadata, 400),
            (.invalidToken, 401), (.temporarilyUnavailable, 429), (.serverError, 500),
        ]
        for (code, status) in codes {
            let response = HTTPErrorBoundary.response(for: OAuthError(code, "why"), request: request, logger: logger)
            #expect(response.head.status.code == status)
            #expect(response.head.headerFields[.cacheControl] == "no-store")
            #expect(response.head.headerFields[HTTPField.Name("Pragma")!] == "no-cache")
            #expect(response.head.headerFields[.retryAfter] == nil)
            let body = try JSONParser().parse(response.body)
            #expect(body["error"]?.stringValue == code.rawValue)
            #expect(body["error_description"] == "why")
        }
        // A description with quotes or line breaks cannot break out of the invalid_token challenge's parameter.
        let hostile = HTTPErrorBoundary.response(
            for: OAuthError(.invalidToken, "bad\"\r\nSet-Cookie: x=1"), request: request, logger: logger)
        #expect(
            hostile.head.headerFields[.wwwAuthenticate]
                == "Bearer error=\"invalid_token\", error_description=\"badSet-Cookie: x=1\"")
        // invalid_client after HTTP Basic challenges Basic; without it, no challenge.
        let basic = HTTPErrorBoundary.response(
            for: OAuthError(.invalidClient, "bad secret").clientUsedBasic(true), request: request, logger: logger)
        #expect(basic.head.headerFields[.wwwAuthenticate] == "Basic realm=\"oauth\", charset=\"UTF-8\"")
        let post = HTTPErrorBoundary.response(
            for: OAuthError(.invalidClient, "bad secret"), request: request, logger: logger)
        #expect(post.head.headerFields[.wwwAuthenticate] == nil)
        // A Basic client's other errors carry no challenge.
        let grant = HTTPErrorBoundary.response(
            for: OAuthError(.invalidGrant, "used").clientUsedBasic(true), request: request, logger: logger)
        #expect(grant.head.headerFields[.wwwAuthenticate] == nil)
        // invalid_token (registration's initial access token) challenges Bearer.
        let token = HTTPErrorBoundary.response(
            for: OAuthError(.invalidToken, "not valid"), request: request, logger: logger)
        #expect(
            token.head.headerFields[.wwwAuthenticate]
                == "Bearer error=\"invalid_token\", error_description=\"not valid\"")
        // A rate limit carries Retry-After.
        let limited = HTTPErrorBoundary.response(
            for: OAuthError(.temporarilyUnavailable, "slow down", retryAfter: 9), request: request, logger: logger)
        #expect(limited.head.status == .tooManyRequests)
        #expect(limited.head.headerFields[.retryAfter] == "9")
    }

    @Test func bearerErrorsRenderThroughTheBoundary() throws {
        let request = HTTPServerRequest.test(.post, "/mcp")
        let logger = Logger(label: "test")
        let kinds: [(BearerAuthenticationError.Kind, Int, String)] = [
            (.missingToken, 401, "unauthorized"), (.invalidRequest, 400, "invalid_request"),
            (.invalidToken, 401, "invalid_token"), (.insufficientScope, 403, "insufficient_scope"),
            (.unavailable, 503, "temporarily_unavailable"),
        ]
        for (kind, status, code) in kinds {
            let error = BearerAuthenticationError(
                kind, "why", resourceMetadataURL: "https://a.example/.well-known/oauth-protected-resource",
                requiredScopes: ["mcp"])
            let response = HTTPErrorBoundary.response(for: error, request: request, logger: logger)
            #expect(response.head.status.code == status)
            #expect(response.head.headerFields[.wwwAuthenticate] == error.challenge)
            #expect(response.head.headerFields[.cacheControl] == "no-store")
            #expect(response.head.headerFields[.retryAfter] == (kind == .unavailable ? "5" : nil))
            let body = try JSONParser().parse(response.body)
            #expect(body["error"]?.stringValue == code)
            #expect(body["error_description"] == "why")
        }
    }

    // MARK: Wire fixes made by the error map (each failed on the old code)

    @Test func statelessRefusalsCarryNoStoreLikeEveryOtherAnswer() async throws {
        let app = makeApp()
        let headers = jsonHeaders + [("MCP-Protocol-Version", "2026-07-28")]
        // Not a JSON-RPC message: 400 -32600, now with Cache-Control: no-store (was missing on this path).
        let invalid = await app.respond(to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"1.0","id":3}"#))
        #expect(invalid.head.status == .badRequest)
        #expect(invalid.head.headerFields[.cacheControl] == "no-store")
        #expect(try json(invalid)["error"]?["code"] == .int(-32600))
        #expect(try json(invalid)["id"] == .int(3))
        // A notification: 202, with no-store as in the session era.
        let notification = await app.respond(
            to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"2.0","method":"notifications/x"}"#))
        #expect(notification.head.status == .accepted)
        #expect(notification.head.headerFields[.cacheControl] == "no-store")
    }

    @Test func getWithoutStreamsIs405WithAllowAndNoStore() async throws {
        let app = makeApp(endpoint: MCPEndpoint.Configuration(allowsStandaloneStreams: false))
        let session = try await openSession(app)
        let response = await app.respond(
            to: request(.get, "/mcp", headers: [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)]))
        #expect(response.head.status == .methodNotAllowed)
        #expect(response.head.headerFields[.allow] == "DELETE, POST")
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        #expect(try json(response)["error"] == "method_not_allowed")
    }

    @Test func deleteChecksTheProtocolVersionLikePostAndGet() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let refused = await app.respond(
            to: request(
                .delete, "/mcp", headers: [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "1999-01-01")]))
        #expect(refused.head.status == .badRequest)
        #expect(try json(refused)["error"]?["message"] == "Unsupported MCP-Protocol-Version: 1999-01-01")
        // The session is still there: the refused DELETE ended nothing.
        let deleted = await app.respond(
            to: request(
                .delete, "/mcp", headers: [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25")]))
        #expect(deleted.head.status == .ok)
        let again = await app.respond(to: request(.delete, "/mcp", headers: [("Mcp-Session-Id", session)]))
        #expect(again.head.status == .notFound)
    }

    @Test func sessionRefusalsAnswerTheRequestID() async throws {
        let app = makeApp()
        let unknown = await post(
            app, session: "no-such-session", #"{"jsonrpc":"2.0","id":"abc","method":"tools/list"}"#)
        #expect(unknown.head.status == .notFound)
        #expect(try json(unknown)["id"] == "abc")
        #expect(try json(unknown)["error"]?["code"] == .int(-32000))
        let missing = await post(app, session: nil, #"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#)
        #expect(missing.head.status == .badRequest)
        #expect(try json(missing)["id"] == .int(5))
    }
}
