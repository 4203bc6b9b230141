import HTTPTypes
import Logging
import MCPHTTP
import MCPOAuth

/// The fixed bearer token of an operator endpoint (`/management/*`, `/metrics`): compared in constant time; a
/// request without it is logged with the client's address and answered 401 with `WWW-Authenticate: Bearer` and
/// `Cache-Control: no-store`.
struct OperatorToken: Sendable {
    /// What the token guards, in log lines and error messages (`management`, `metrics`).
    let purpose: String
    private let bytes: [UInt8]

    /// Creates the guard.
    /// - Parameters:
    ///   - token: the token clients must send as `Authorization: Bearer <token>`; empty admits nobody.
    ///   - purpose: what it guards.
    init(_ token: String, purpose: String) {
        self.bytes = Array(token.utf8)
        self.purpose = purpose
    }

    /// Whether `request` carries the token.
    func admits(_ request: HTTPServerRequest) -> Bool {
        guard !bytes.isEmpty, let presented = Self.bearerToken(request.head.headerFields[.authorization]) else {
            return false
        }
        return Self.constantTimeEquals(Array(presented.utf8), bytes)
    }

    /// The 401 answer to a request without the token, logged.
    func refusal(_ request: HTTPServerRequest, logger: Logger) -> HTTPServerResponse {
        logger.warning(
            "\(purpose) request refused: invalid or missing token",
            metadata: [
                "http.remote.address": "\(request.remoteAddress ?? "unknown")", "http.path": "\(request.path)",
                "http.request.id": "\(request.requestID)", "peer": "\(request.isPeerRequest)",
            ])
        return .json(
            .unauthorized, ["error": "unauthorized", "message": .string("Invalid or missing \(purpose) token")],
            headerFields: [.cacheControl: "no-store", .wwwAuthenticate: "Bearer"])
    }

    /// The token of `Authorization: Bearer <token>` (scheme case-insensitive), if that is what was sent.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: " \t")
        return token.isEmpty ? nil : token
    }

    /// Compares two byte strings in time that depends on their lengths only, never on where they differ.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
