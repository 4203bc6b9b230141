import Crypto
import Foundation
import MCPHTTP

/// The small cryptographic helpers of the authorization server, all on swift-crypto: random tokens, SHA-256
/// digests for storage, constant-time comparison and base64url.
enum OAuthCrypto {
    /// A random token of `bytes` bytes (256 bits by default), base64url without padding.
    static func randomToken(bytes: Int = 32) -> String {
        let key = SymmetricKey(size: SymmetricKeySize(bitCount: bytes * 8))
        return key.withUnsafeBytes { base64URL(Array($0)) }
    }

    /// The SHA-256 digest of `text`, base64url: how secrets, codes and refresh tokens are stored.
    static func digest(_ text: String) -> String {
        base64URL(Array(SHA256.hash(data: Array(text.utf8))))
    }

    /// Whether `secret` hashes to `storedDigest`, compared in constant time (HMAC verification under a fresh key).
    static func matches(_ secret: String, digest storedDigest: String) -> Bool {
        constantTimeEqual(Array(digest(secret).utf8), Array(storedDigest.utf8))
    }

    /// Constant-time equality of two byte strings via swift-crypto's HMAC verification.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let key = SymmetricKey(size: .bits256)
        let mac = HMAC<SHA256>.authenticationCode(for: a, using: key)
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: b, using: key)
    }

    /// The S256 PKCE challenge of a verifier (RFC 7636 §4.2).
    static func s256Challenge(of verifier: String) -> String {
        base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    /// Base64url without padding.
    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes base64url with or without padding.
    static func base64URLDecode(_ text: some StringProtocol) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map { Array($0) }
    }
}
