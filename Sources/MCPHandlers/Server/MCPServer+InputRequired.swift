extension MCPServer {
    /// What binds a `requestState` to one request: the method, the tool/prompt name or resource URI, and a
    /// digest of the arguments.
    private static func binding(_ request: JSONRPCRequest) -> (name: Value, digest: Value) {
        let params = request.params
        switch request.method {
        case "resources/read":
            return (params?["uri"] ?? .null, .null)
        default:
            let arguments = params?["arguments"] ?? .object([:])
            return (params?["name"] ?? .null, .string(RequestStateCodec.digest(arguments.isNull ? [:] : arguments)))
        }
    }

    /// Reads `inputResponses` and verifies `requestState`: the answers known in this attempt, its number and
    /// the handler's state.
    /// - Throws: ``MCPError`` -32602 when `inputResponses` is not an object of objects, or `requestState`
    ///   fails verification, has expired, or was issued for another request or user.
    func openInputRound(_ request: JSONRPCRequest, user: String?) throws(MCPError) -> InputRound {
        guard Self.inputRequiredMethods.contains(request.method) else {
            return InputRound(number: 1, answers: [:], toolState: nil)
        }
        let params = request.params
        var responses: [String: Value] = [:]
        if let raw = params?["inputResponses"], !raw.isNull {
            guard case .object(let object) = raw else { throw .invalidParams("\"inputResponses\" must be an object") }
            for (key, answer) in object {
                try configuration.identifierLimits.checkName(key, "A key of \"inputResponses\"")
                guard answer.objectValue != nil else {
                    throw .invalidParams("\"inputResponses\".\(key) must be an object")
                }
            }
            responses = object
        }
        guard let rawState = params?["requestState"], !rawState.isNull else {
            return InputRound(number: 1, answers: responses, toolState: nil)
        }
        guard let token = rawState.stringValue, let payload = requestStateCodec.open(token) else {
            throw .invalidParams("Invalid requestState: it failed integrity verification")
        }
        let (name, digest) = Self.binding(request)
        guard payload["m"]?.stringValue == request.method, payload["n"] == name, payload["a"] == digest,
            payload["u"] == user.map(Value.string) ?? .null
        else {
            throw .invalidParams("Invalid requestState: it was issued for another request")
        }
        guard let expiry = payload["x"]?.doubleValue, expiry >= configuration.wallClock() else {
            throw .invalidParams("Invalid requestState: it has expired; call again without it")
        }
        var answers = payload["i"]?.objectValue ?? [:]
        for key in payload["p"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            if let answer = responses[key] { answers[key] = answer }
        }
        let number = (payload["r"]?.intValue ?? 1) + 1
        let toolState = payload["s"].flatMap { $0.isNull ? nil : $0 }
        return InputRound(number: number, answers: answers, toolState: toolState)
    }

    /// The `input_required` result for the requests a handler is waiting for, with a sealed `requestState`.
    func inputRequiredResult(
        _ request: JSONRPCRequest, user: String?, round: InputRound, pending: [(key: String, request: InputRequest)]
    ) -> Value {
        let (name, digest) = Self.binding(request)
        let expiry = configuration.wallClock() + configuration.requestStateLifetime.secondsValue
        var payload: [String: Value] = [
            "v": 1, "m": .string(request.method), "n": name, "a": digest, "u": user.map(Value.string) ?? .null,
            "r": .int(round.number), "x": .double(expiry), "i": .object(round.answers),
            "p": .array(pending.map { .string($0.key) }),
        ]
        if let toolState = round.toolState { payload["s"] = toolState }
        var inputRequests: [String: Value] = [:]
        for item in pending { inputRequests[item.key] = item.request.value }
        return [
            "resultType": "input_required",
            "inputRequests": .object(inputRequests),
            "requestState": .string(requestStateCodec.seal(.object(payload))),
            "_meta": [StatelessRequestMeta.serverInfoKey: configuration.serverInfo.value],
        ]
    }
}
