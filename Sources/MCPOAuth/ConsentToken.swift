import Crypto
import Foundation
import MCPHTTP
import MCPHandlers

/// The consent form's CSRF token: `<expiry>.<HMAC-SHA256(server secret, expiry, user, every parameter)>`. It is
/// bound to the user and to the exact authorization request, and expires. The secret is derived from the signing
/// key, so every worker sharing the key file accepts the others' forms.
struct ConsentToken: Sendable {
    private let key: SymmetricKey

    /// Creates the token maker.
    /// - Parameter key: the HMAC secret.
    init(key: SymmetricKey) { self.key = key }

    /// A token for this user and request, valid until `expiry`.
    func make(subject: String, parameters: [(String, String)], expiry: Int) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: message(subject, parameters, expiry), using: key)
        return "\(expiry).\(Base64URL.encode(Array(mac)))"
    }

    /// Whether `token` was made for this user and request and has not expired at `now`.
    func isValid(_ token: String, subject: String, parameters: [(String, String)], now: Int) -> Bool {
        let parts = token.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let expiry = Int(parts[0]), expiry >= now,
            let mac = Base64URL.decode(parts[1])
        else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(
            mac, authenticating: message(subject, parameters, expiry), using: key)
    }

    private func message(_ subject: String, _ parameters: [(String, String)], _ expiry: Int) -> [UInt8] {
        let fields = [String(expiry), subject] + parameters.map { "\($0.0)=\($0.1)" }
        // Length-prefixed so that no two different inputs produce the same message.
        return Array(fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|").utf8)
    }
}
