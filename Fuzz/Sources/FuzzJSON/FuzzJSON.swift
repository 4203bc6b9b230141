// Fuzz target: `JSONParser` (every request body goes through it).
//
// Input: arbitrary bytes, parsed as one JSON text. Checked properties:
// - parsing never crashes, and a failure's offset lies within the input;
// - an accepted value written back with `JSONWriter` parses again to the same value (write/parse round trip);
// - a shallow depth limit refuses deep input with an error instead of failing otherwise;
// - the schema validator and the canonical digest accept any parsed value.
@testable import MCPHandlers

private let schema: Value = [
    "type": "object", "required": ["city"],
    "properties": [
        "city": ["type": "string", "minLength": 1, "maxLength": 64],
        "days": ["type": "integer", "minimum": 1, "maximum": 14],
        "units": ["type": "string", "enum": ["metric", "imperial"]],
        "tags": ["type": "array", "items": ["type": ["string", "null"]]],
    ],
    "additionalProperties": false,
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let value: Value
    do {
        value = try JSONParser().parse(bytes)
    } catch {
        precondition(error.offset >= 0 && error.offset <= size, "error offset \(error.offset) outside 0...\(size)")
        return 0
    }
    let written = JSONWriter.encode(value)
    let reparsed: Value
    do {
        reparsed = try JSONParser().parse(written)
    } catch {
        fatalError("JSONWriter output does not parse: \(error)")
    }
    precondition(reparsed == value, "write/parse round trip changed the value")
    // A non-contiguous collection takes the copying path and must agree.
    precondition((try? JSONParser().parse(bytes.lazy.map { $0 })) == value, "copying path disagrees")
    do {
        _ = try JSONParser(maximumDepth: 3).parse(bytes)
    } catch {
        precondition(error.offset >= 0 && error.offset <= size)
    }
    _ = SchemaValidator().firstViolation(of: value, against: schema)
    _ = SchemaValidator().firstViolation(of: value, against: value)
    _ = RequestStateCodec.digest(value)
    return 0
}
