// Fuzz target: `RequestStateCodec` (the `requestState` token of `input_required` results, sent back by clients).
//
// Input: arbitrary bytes. Checked properties:
// - opening any string as a token never crashes (seeds include tokens sealed under this key, so mutations
//   get past the base64url decoding to the MAC check);
// - when the input is JSON, sealing it and opening the token gives the same value back, a token does not
//   open under another key, and changing one character of the token makes it refused.
@testable import MCPHandlers

private let codec = RequestStateCodec(key: Array(repeating: 7, count: 32))
private let otherCodec = RequestStateCodec(key: Array(repeating: 8, count: 32))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    _ = codec.open(text)
    guard let payload = try? JSONParser().parse(bytes) else { return 0 }
    let token = codec.seal(payload)
    precondition(codec.open(token) == payload, "seal/open round trip changed the payload")
    precondition(otherCodec.open(token) == nil, "a token opened under another key")
    // Change the first character of the payload part, then of the MAC part (first characters: all six bits
    // count, whereas a last character may carry padding bits a decoder ignores).
    let tokenBytes = Array(token.utf8)
    let secondDot = tokenBytes.lastIndex(of: UInt8(ascii: "."))!
    for position in [3, secondDot + 1] where position < tokenBytes.count {
        var tampered = tokenBytes
        tampered[position] = tampered[position] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        precondition(codec.open(String(decoding: tampered, as: UTF8.self)) == nil, "a tampered token opened")
    }
    return 0
}
