/// One JSON-RPC 2.0 message, classified.
public enum JSONRPCMessage: Sendable, Hashable {
    /// A request: has an id and expects a response.
    case request(JSONRPCRequest)
    /// A notification: no id, never answered.
    case notification(JSONRPCNotification)
    /// A successful response to a request this side sent.
    case response(id: RequestID, result: Value)
    /// An error response; `id` is nil when the peer could not read the request's id.
    case errorResponse(id: RequestID?, error: MCPError)

    /// Classifies a parsed JSON value as a JSON-RPC 2.0 message.
    /// - Parameter value: the parsed body (one message, not a batch).
    /// - Throws: ``MCPError`` -32600 (with the request's id when it could be read) when it is not a valid message.
    public init(_ value: Value) throws(JSONRPCMessageError) {
        guard case .object(let object) = value else {
            throw JSONRPCMessageError(id: nil, error: .invalidRequest("A JSON-RPC message must be an object"))
        }
        let rawID = object["id"]
        let id = rawID.flatMap(RequestID.init)
        guard object["jsonrpc"] == .string("2.0") else {
            throw JSONRPCMessageError(id: id, error: .invalidRequest("\"jsonrpc\" must be \"2.0\""))
        }
        if let rawID, id == nil, !rawID.isNull {
            throw JSONRPCMessageError(id: nil, error: .invalidRequest("\"id\" must be a string or an integer"))
        }
        if let methodValue = object["method"] {
            guard case .string(let method) = methodValue else {
                throw JSONRPCMessageError(id: id, error: .invalidRequest("\"method\" must be a string"))
            }
            let params = object["params"]
            if let params {
                switch params {
                case .object, .array: break
                default:
                    throw JSONRPCMessageError(
                        id: id, error: .invalidRequest("\"params\" must be an object or an array"))
                }
            }
            if let id {
                self = .request(JSONRPCRequest(id: id, method: method, params: params))
            } else if rawID != nil {
                throw JSONRPCMessageError(id: nil, error: .invalidRequest("\"id\" must not be null"))
            } else {
                self = .notification(JSONRPCNotification(method: method, params: params))
            }
            return
        }
        if let result = object["result"] {
            guard let id else { throw JSONRPCMessageError(id: nil, error: .invalidRequest("response without id")) }
            self = .response(id: id, result: result)
            return
        }
        if let errorValue = object["error"] {
            guard case .object(let e) = errorValue, let code = e["code"]?.intValue,
                let message = e["message"]?.stringValue
            else {
                throw JSONRPCMessageError(id: id, error: .invalidRequest("malformed error object"))
            }
            self = .errorResponse(id: id, error: MCPError(code: code, message: message, data: e["data"]))
            return
        }
        throw JSONRPCMessageError(id: id, error: .invalidRequest("neither a request, a notification nor a response"))
    }

    /// The message as JSON.
    public var value: Value {
        switch self {
        case .request(let r): return r.value
        case .notification(let n): return n.value
        case .response(let id, let result): return ["jsonrpc": "2.0", "id": id.value, "result": result]
        case .errorResponse(let id, let error):
            return ["jsonrpc": "2.0", "id": id?.value ?? .null, "error": error.value]
        }
    }
}

/// A message that is not valid JSON-RPC: the error to answer with and the id to answer to, if readable.
public struct JSONRPCMessageError: Error, Sendable, Hashable {
    /// The request's id, when it could be read.
    public var id: RequestID?
    /// The -32600 error.
    public var error: MCPError
}

/// A JSON-RPC request.
public struct JSONRPCRequest: Sendable, Hashable {
    /// The id, echoed in the response.
    public var id: RequestID
    /// The method name.
    public var method: String
    /// The params (object or array), if any.
    public var params: Value?

    /// Creates a request.
    public init(id: RequestID, method: String, params: Value? = nil) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// The request as JSON.
    public var value: Value {
        var o: [String: Value] = ["jsonrpc": "2.0", "id": id.value, "method": .string(method)]
        if let params { o["params"] = params }
        return .object(o)
    }
}

/// A JSON-RPC notification.
public struct JSONRPCNotification: Sendable, Hashable {
    /// The method name.
    public var method: String
    /// The params, if any.
    public var params: Value?

    /// Creates a notification.
    public init(method: String, params: Value? = nil) {
        self.method = method
        self.params = params
    }

    /// The notification as JSON.
    public var value: Value {
        var o: [String: Value] = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { o["params"] = params }
        return .object(o)
    }
}

/// Building response bodies.
public enum JSONRPCResponse {
    /// `{"jsonrpc":"2.0","id":…,"result":…}` as bytes.
    public static func success(id: RequestID, result: Value) -> [UInt8] {
        // Written member by member: no envelope object is built, and one buffer takes a usual answer whole.
        var out: [UInt8] = []
        out.reserveCapacity(512)
        out.append(contentsOf: #"{"jsonrpc":"2.0","id":"#.utf8)
        JSONWriter.write(id.value, into: &out)
        out.append(contentsOf: #","result":"#.utf8)
        JSONWriter.write(result, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `{"jsonrpc":"2.0","id":…|null,"error":{…}}` as bytes.
    public static func failure(id: RequestID?, error: MCPError) -> [UInt8] {
        JSONWriter.encode(["jsonrpc": "2.0", "id": id?.value ?? .null, "error": error.value])
    }
}
