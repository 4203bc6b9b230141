import Crypto
import Foundation
import MCPHTTP
import MCPHandlers

/// The small cryptographic helpers of the authorization server, all on swift-crypto: random tokens, SHA-256
/// digests for storage and constant-time comparison (base64url is ``Base64URL``, shared with the protocol core).
enum OAuthCrypto {
    /// A random token of `bytes` bytes (256 bits by default), base64url without padding.
    static func randomToken(bytes: Int = 32) -> String {
        let key = SymmetricKey(size: SymmetricKeySize(bitCount: bytes * 8))
        return key.withUnsafeBytes { Base64URL.encode(Array($0)) }
    }

    /// The SHA-256 digest of `text`, base64url: how secrets, codes and refresh tokens are stored.
    static func digest(_ text: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(text.utf8))))
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
        Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }
}
