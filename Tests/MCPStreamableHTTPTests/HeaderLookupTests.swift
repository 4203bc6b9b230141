import HTTPTypes
import Testing

@testable import MCPHTTP
@testable import MCPStreamableHTTP

@Suite struct PerfRequestIDTests {
    @Test func idsAreUniqueBase62OfTwelveCharacters() {
        var seen = Set<String>()
        let alphabet = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        for _ in 0..<100_000 {
            let id = HTTPServerRequest.makeRequestID()
            #expect(id.count == 12)
            #expect(id.allSatisfy { alphabet.contains($0) })
            seen.insert(id)
        }
        #expect(seen.count == 100_000)
    }
}

@Suite struct HeaderLookupTests {
    @Test func valueIsWhatTheSubscriptGives() throws {
        var fields = HTTPFields()
        fields.append(HTTPField(name: .accept, value: "application/json"))
        fields.append(HTTPField(name: .cookie, value: "a=1"))
        fields.append(HTTPField(name: .cookie, value: "b=2"))
        fields.append(HTTPField(name: HTTPField.Name("X-Twice")!, value: "one"))
        fields.append(HTTPField(name: HTTPField.Name("x-twice")!, value: "two"))
        fields.append(HTTPField(name: .mcpSessionID, value: ""))
        for name in [
            HTTPField.Name.accept, .cookie, HTTPField.Name("X-Twice")!, .mcpSessionID, .origin, .contentType,
            HTTPField.Name("ACCEPT")!,
        ] {
            #expect(fields.value(name) == fields[name], "\(name)")
        }
        #expect(fields.value(HTTPField.Name("x-twice")!) == "one, two")
        #expect(fields.value(.cookie) == "a=1; b=2")
        #expect(fields.value(.origin) == nil)
    }

    @Test func commonAcceptAndContentTypeValuesTakeTheShortCut() {
        // The fast path must answer what the general parse answers for the same value.
        for value in [
            "application/json", "application/json, text/event-stream", "text/event-stream, application/json",
            "text/event-stream",
        ] {
            let fast = MCPEndpoint.acceptedTypes(value)
            let general = MCPEndpoint.acceptedTypes(value + ",")  // the trailing comma skips the shortcut
            #expect(fast == general, "\(value)")
        }
        #expect(MCPEndpoint.acceptedTypes("application/json") == (true, false))
        #expect(MCPEndpoint.acceptedTypes("text/event-stream, application/json") == (true, true))
        #expect(MCPEndpoint.acceptedTypes("text/event-stream") == (false, true))
        #expect(MCPEndpoint.acceptedTypes("Application/JSON") == (true, false))
        #expect(MCPEndpoint.isJSONContentType("application/json"))
        #expect(MCPEndpoint.isJSONContentType("Application/Json; charset=utf-8"))
        #expect(!MCPEndpoint.isJSONContentType("application/jsonx"))
        #expect(!MCPEndpoint.isJSONContentType(nil))
    }
}
