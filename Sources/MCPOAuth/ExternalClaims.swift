import JWTKit
import MCPHandlers
import MCPHTTP

/// Any JWT payload, as JSON values (external tokens carry claims this server does not know in advance).
struct ExternalClaims: JWTPayload {
    var values: [String: Value]

    init(from decoder: any Decoder) throws {
        let value = try Value(from: decoder)
        guard let object = value.objectValue else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "claims are not an object"))
        }
        values = object
    }

    func encode(to encoder: any Encoder) throws { try Value.object(values).encode(to: encoder) }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
