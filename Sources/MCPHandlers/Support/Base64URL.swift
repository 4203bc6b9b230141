import ExtrasBase64

/// base64url (RFC 4648 §5) without padding, on swift-extras-base64: request states, OAuth tokens, digests and
/// JWT segments.
package enum Base64URL {
    /// `bytes` in base64url, without `=` padding.
    package static func encode(_ bytes: some Collection<UInt8>) -> String {
        Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }

    /// The bytes of base64url `text`, with or without `=` padding; nil when it is not base64url (another
    /// alphabet, a bad length).
    package static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var bytes = Array(text.utf8)
        // Padding only at the end, only to a multiple of 4 characters.
        if let firstPad = bytes.firstIndex(of: UInt8(ascii: "=")) {
            guard bytes.count % 4 == 0, bytes.count - firstPad <= 2,
                bytes[firstPad...].allSatisfy({ $0 == UInt8(ascii: "=") })
            else { return nil }
            bytes.removeSubrange(firstPad...)
        }
        return try? Base64.decode(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }
}
