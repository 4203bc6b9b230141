import Crypto
import Foundation
import JWTKit
import MCPHandlers
import Synchronization
import MCPHTTP

/// The authorization server's ES256 (P-256) key: signs access tokens (header `typ: at+jwt`, `alg: ES256`, `kid`)
/// and verifies them; its public half is published as a JWKS.
final class SigningKey: Sendable {
    /// Why a token's signature or header was refused.
    enum VerificationFailure: Error, Equatable { case malformed, wrongHeader, badSignature }

    /// The key id: the RFC 7638 thumbprint of the public key.
    let kid: String
    private let key: ES256PrivateKey
    private let keys = JWTKeyCollection()
    private let ready = Mutex(false)
    /// The public JWK (`kty`, `crv`, `x`, `y`, `kid`, `use`, `alg`).
    let publicJWK: Value

    /// Loads or generates the key.
    /// - Throws: ``OAuthConfigurationError`` when the PEM cannot be read or is not a P-256 private key.
    init(_ source: BuiltInAuthorizationServer.Configuration.SigningKey) throws(OAuthConfigurationError) {
        switch source {
        case .generated:
            key = ES256PrivateKey()
        case .pem(let pem):
            do { key = try ES256PrivateKey(pem: pem) } catch { throw .invalidSigningKey("not a P-256 private key") }
        case .pemFile(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .invalidSigningKey("cannot read \(path)")
            }
            do { key = try ES256PrivateKey(pem: data) } catch {
                throw .invalidSigningKey("\(path) is not a P-256 private key in PEM")
            }
        }
        guard let (x, y) = key.parameters else { throw .invalidSigningKey("no public key parameters") }
        let canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\(x)\",\"y\":\"\(y)\"}"
        kid = Base64URL.encode(Array(SHA256.hash(data: Array(canonical.utf8))))
        publicJWK = [
            "kty": "EC", "crv": "P-256", "x": .string(x), "y": .string(y), "kid": .string(kid), "use": "sig",
            "alg": "ES256",
        ]
    }

    /// A secret derived from the private key with HKDF-SHA256 for another purpose (`label`), the same in every
    /// process that loads the same key.
    func derivedSecret(label: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(key.pemRepresentation.utf8)), salt: Array("mcpfcgi".utf8),
            info: Array(label.utf8), outputByteCount: 32)
    }

    /// The private key in PEM (to write a key file that every worker shares).
    var privateKeyPEM: String { key.pemRepresentation }

    private func collection() async -> JWTKeyCollection {
        if !ready.withLock({ $0 }) {
            await keys.add(ecdsa: key, kid: JWKIdentifier(string: kid))
            ready.withLock { $0 = true }
        }
        return keys
    }

    /// Signs claims as an RFC 9068 access token.
    /// - Parameter overrides: header fields to replace (tests forge tokens with it).
    func sign(_ claims: AccessTokenClaims, overrides: [String: String] = [:]) async throws -> String {
        var header: JWTHeader = ["typ": "at+jwt", "alg": "ES256", "kid": .string(kid)]
        for (name, value) in overrides { header.fields[name] = .string(value) }
        return try await collection().sign(claims, header: header)
    }

    /// Checks the header (`alg` ES256 only, `typ` at+jwt, our `kid`) and the signature, and decodes the claims.
    func verify(_ token: String) async throws(VerificationFailure) -> AccessTokenClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSONParser().parse(headerBytes)
        else { throw .malformed }
        let typ = header["typ"]?.stringValue?.lowercased()
        guard header["alg"]?.stringValue == "ES256", typ == "at+jwt" || typ == "application/at+jwt",
            header["kid"]?.stringValue == kid, header["crit"] == nil
        else { throw .wrongHeader }
        do {
            return try await collection().verify(token, as: AccessTokenClaims.self)
        } catch {
            throw .badSignature
        }
    }
}
