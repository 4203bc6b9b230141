import Crypto
import Foundation

/// Seals and opens the opaque `requestState` of `input_required` results: `v1.<payload>.<mac>`, where
/// payload is base64url JSON and mac is base64url HMAC-SHA256 of the payload bytes under the deployment's key.
///
/// The payload is readable by the client (integrity, not confidentiality): it holds nothing secret, only
/// what binds the state to one request (method, name, arguments digest, user), the round, the expiry, the
/// answers gathered so far and the handler's own state.
struct RequestStateCodec: Sendable {
    private let key: SymmetricKey

    init(key: [UInt8]) {
        self.key = SymmetricKey(data: key)
    }

    /// The token for `payload`.
    func seal(_ payload: Value) -> String {
        let bytes = JSONWriter.encode(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: bytes, using: key)
        return "v1." + Base64URL.encode(bytes) + "." + Base64URL.encode(Array(mac))
    }

    /// The payload of a token this codec sealed, unmodified; nil for anything else.
    func open(_ token: String) -> Value? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        // Unpadded, as sealed: a padded token is not one this codec wrote.
        guard parts.count == 3, parts[0] == "v1", !token.contains("="), let payload = Base64URL.decode(parts[1]),
            let mac = Base64URL.decode(parts[2])
        else { return nil }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key) else { return nil }
        return try? JSONParser().parse(payload)
    }

    /// Hex SHA-256 of the canonical JSON (sorted keys) of `value`: the digest that binds a state to arguments.
    static func digest(_ value: Value) -> String {
        var bytes: [UInt8] = []
        writeCanonical(value, into: &bytes)
        return SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// 32 random bytes: the default key, private to this process.
    static func randomKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    private static func writeCanonical(_ value: Value, into out: inout [UInt8]) {
        switch value {
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeCanonical(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                writeCanonical(members[key] ?? .null, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        default:
            JSONWriter.write(value, into: &out)
        }
    }

}
