import Testing

@testable import MCPHandlers

@Suite struct JSONRPCMessageTests {
    func classify(_ text: String) throws -> JSONRPCMessage {
        try JSONRPCMessage(JSONParser().parse(text))
    }

    func classificationError(_ text: String) throws -> JSONRPCMessageError? {
        let value = try JSONParser().parse(text)
        do {
            _ = try JSONRPCMessage(value)
            return nil
        } catch {
            return error
        }
    }

    @Test func request() throws {
        let m = try classify(#"{"jsonrpc":"2.0","id":7,"method":"ping","params":{}}"#)
        #expect(m == .request(JSONRPCRequest(id: .number(7), method: "ping", params: [:])))
        #expect(m.value["id"] == 7)
    }

    @Test func stringIDsAreKept() throws {
        let m = try classify(#"{"jsonrpc":"2.0","id":"abc","method":"ping"}"#)
        guard case .request(let r) = m else { Issue.record("not a request"); return }
        #expect(r.id == .string("abc"))
        #expect(r.id.description == "abc")
        #expect(RequestID.number(3).description == "3")
        // Written member by member, in this order.
        #expect(String(decoding: JSONRPCResponse.success(id: r.id, result: [:]), as: UTF8.self) == #"{"jsonrpc":"2.0","id":"abc","result":{}}"#)
        #expect(String(decoding: JSONRPCResponse.success(id: .number(7), result: ["a": [1, "x"]]), as: UTF8.self) == #"{"jsonrpc":"2.0","id":7,"result":{"a":[1,"x"]}}"#)
    }

    @Test func notification() throws {
        let m = try classify(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        #expect(m == .notification(JSONRPCNotification(method: "notifications/initialized")))
        #expect(m.value["method"] == "notifications/initialized")
    }

    @Test func responses() throws {
        #expect(try classify(#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#) == .response(id: .number(1), result: ["a": 1]))
        let e = try classify(#"{"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"no","data":5}}"#)
        #expect(e == .errorResponse(id: .string("x"), error: MCPError(code: -1, message: "no", data: 5)))
        #expect(e.value["error"]?["data"] == 5)
        #expect(JSONRPCMessage.response(id: .number(2), result: 1).value["result"] == 1)
    }

    @Test(arguments: [
        (#"[]"#, nil as RequestID?),
        (#""x""#, nil),
        (#"{"id":1,"method":"ping"}"#, .number(1)),
        (#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, .number(1)),
        (#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, nil),
        (#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, nil),
        (#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, nil),
        (#"{"jsonrpc":"2.0","id":2,"method":5}"#, .number(2)),
        (#"{"jsonrpc":"2.0","id":3,"method":"x","params":"s"}"#, .number(3)),
        (#"{"jsonrpc":"2.0","result":1}"#, nil),
        (#"{"jsonrpc":"2.0","id":4,"error":{"code":"x"}}"#, .number(4)),
        (#"{"jsonrpc":"2.0","id":5}"#, .number(5)),
    ])
    func invalidMessagesAre32600(_ text: String, _ id: RequestID?) throws {
        let error = try #require(try classificationError(text))
        #expect(error.error.code == -32600)
        #expect(error.id == id)
    }

    @Test func errorValues() throws {
        #expect(MCPError.parseError().code == -32700)
        #expect(MCPError.invalidRequest().code == -32600)
        #expect(MCPError.methodNotFound("x").code == -32601)
        #expect(MCPError.invalidParams("x").code == -32602)
        #expect(MCPError.internalError().code == -32603)
        #expect(MCPError.resourceNotFound("u").value["data"]?["uri"] == "u")
        #expect(MCPError.internalError().description == "MCPError(-32603): Internal error")
        let body = try JSONParser().parse(JSONRPCResponse.failure(id: nil, error: .parseError()))
        #expect(body["id"] == .null)
        #expect(JSONRPCNotification(method: "m", params: [1]).value["params"] == [1])
        #expect(JSONRPCRequest(id: .number(1), method: "m", params: [:]).value["params"] == [:])
    }
}
