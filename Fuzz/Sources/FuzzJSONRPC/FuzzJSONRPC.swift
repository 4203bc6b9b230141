// Fuzz target: the JSON-RPC 2.0 envelope (`JSONRPCMessage.init(_:)`), as `POST /mcp` reads a body: one message
// or a batch (array) of messages, then the stateless `_meta` of requests.
//
// Input: arbitrary bytes (JSON). Checked properties:
// - classification never crashes;
// - a classified message converted back to JSON classifies to the same message;
// - the error responses built for refused messages are valid JSON;
// - a request's `params._meta` is read without crashing (`StatelessRequestMeta`).
import MCPHandlers

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let parsed = try? JSONParser().parse(UnsafeBufferPointer(start: data, count: size)) else { return 0 }
    if case .array(let batch) = parsed {
        for element in batch { check(element) }
    } else {
        check(parsed)
    }
    return 0
}

private func check(_ value: Value) {
    let message: JSONRPCMessage
    do {
        message = try JSONRPCMessage(value)
    } catch {
        let body = JSONRPCResponse.failure(id: error.id, error: error.error)
        precondition((try? JSONParser().parse(body)) != nil, "error response is not JSON")
        return
    }
    let again: JSONRPCMessage
    do {
        again = try JSONRPCMessage(message.value)
    } catch {
        fatalError("a message's own JSON is refused: \(error)")
    }
    precondition(again == message, "message → JSON → message changed it")
    switch message {
    case .request(let request):
        _ = StatelessRequestMeta.isPresent(in: request.params)
        _ = try? StatelessRequestMeta(params: request.params)
        let body = JSONRPCResponse.success(id: request.id, result: request.params ?? .null)
        precondition((try? JSONParser().parse(body)) != nil, "success response is not JSON")
    case .notification(let notification):
        _ = try? StatelessRequestMeta(params: notification.params)
    case .response, .errorResponse:
        break
    }
}
