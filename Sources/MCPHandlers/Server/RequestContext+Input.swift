extension RequestContext {
    /// Asks the client's model for a completion (`sampling/createMessage`).
    ///
    /// Session era: sent to the client, which answers on another request. Stateless era: answered from the
    /// retry's `inputResponses[key]`, or — the first time — the request ends with an `input_required` result
    /// asking for it, and the handler runs again from the start when the client retries.
    /// - Parameters:
    ///   - params: `messages`, `maxTokens`, ….
    ///   - key: the `inputRequests` key (stateless era); nil derives one from the call order.
    /// - Returns: the client's `CreateMessageResult`.
    /// - Throws: ``MCPError`` when the client did not declare `sampling` (-32021 in the stateless era), or
    ///   answered with an error.
    public func createMessage(_ params: Value, key: String? = nil) async throws(MCPError) -> Value {
        try await ask(.createMessage(key: key, params))
    }

    /// Asks the user for input (`elicitation/create`, form or url mode); see ``createMessage(_:key:)`` for
    /// how each era delivers it.
    /// - Parameters:
    ///   - params: `message` and `requestedSchema` (form), or `url` (url mode).
    ///   - key: the `inputRequests` key (stateless era); nil derives one from the call order.
    /// - Returns: the client's `ElicitResult` (`action`, `content`).
    /// - Throws: ``MCPError`` when the client did not declare `elicitation`, or answered with an error.
    public func elicit(_ params: Value, key: String? = nil) async throws(MCPError) -> Value {
        try await ask(.elicit(key: key, params))
    }

    /// Asks the client for its roots (`roots/list`); see ``createMessage(_:key:)`` for how each era delivers it.
    /// - Parameter key: the `inputRequests` key (stateless era); nil derives one from the call order.
    /// - Returns: the client's `ListRootsResult` (`roots`).
    /// - Throws: ``MCPError`` when the client did not declare `roots`, or answered with an error.
    public func listRoots(key: String? = nil) async throws(MCPError) -> Value {
        try await ask(.listRoots(key: key))
    }

    /// Asks for several inputs at once and returns every answer, keyed.
    ///
    /// Session era: the requests go to the client one after the other. Stateless era: the answers come from
    /// the retry's `inputResponses` (and the verified `requestState` of earlier rounds); when any is missing,
    /// the request ends with one `input_required` result listing every unanswered request gathered so far,
    /// and the handler runs again from the start on the retry.
    ///
    /// ```swift
    /// let answers = try await context.requestInputs([
    ///     .elicit(key: "user_name", ["message": "Name?", "requestedSchema": schema]),
    ///     .createMessage(key: "sample_request", ["messages": messages, "maxTokens": 50]),
    /// ])
    /// ```
    /// - Parameter requests: the requests; keys must be unique.
    /// - Returns: each request's answer under its key (derived keys included).
    /// - Throws: ``MCPError`` when a capability is missing or the client answered with an error.
    public func requestInputs(_ requests: [InputRequest]) async throws(MCPError) -> [String: Value] {
        for request in requests {
            if let capability = request.requiredCapability { try requireClientCapability(capability) }
            if request.method == "elicitation/create" { try requireElicitationMode(of: request.params) }
        }
        guard let inputRound else {
            var answers: [String: Value] = [:]
            var derived = 0
            for request in requests {
                let key = request.key ?? {
                    derived += 1
                    return "\(request.requiredCapability ?? "input")-\(derived)"
                }()
                answers[key] = try await askClient(request.method, params: request.params)
            }
            return answers
        }
        var answers: [String: Value] = [:]
        var missing: [(key: String, request: InputRequest)] = []
        for request in requests {
            let key = inputRound.key(for: request)
            if let answer = inputRound.answer(key) {
                answers[key] = answer
            } else {
                missing.append((key, request))
            }
        }
        guard missing.isEmpty else {
            inputRound.require(missing)
            throw MCPError.inputRequiredSignal
        }
        return answers
    }

    /// The answer the client gave to the input request `key` (stateless era), if any; nil in the session era.
    /// - Parameter key: the request's key.
    public func inputResponse(_ key: String) -> Value? { inputRound?.answer(key) }

    /// Which attempt of a stateless multi round-trip request this is: 1 on the first call, 2 on the first
    /// retry, …; always 1 in the session era.
    public var inputRoundNumber: Int { inputRound?.number ?? 1 }

    /// The handler's own state from the previous round (stateless era), integrity-protected inside the
    /// `requestState`; nil on the first call and in the session era. Set it with ``setRequestState(_:)``.
    public var requestState: Value? { inputRound?.toolState }

    /// Stores the handler's own state for the next round: it travels (integrity-protected, readable by the
    /// client) inside the `requestState` of the `input_required` result. Does nothing in the session era.
    /// - Parameter value: any JSON; nil clears it.
    public func setRequestState(_ value: Value?) {
        inputRound?.toolState = value
    }

    /// Whether the client declared a capability (`sampling`, `elicitation`, `roots`, …).
    /// - Parameter name: the capability's name.
    public func clientSupports(_ name: String) -> Bool { clientCapabilities[name] != nil }

    /// Fails unless the client declared every capability in `capabilities`.
    /// - Parameter capabilities: a `ClientCapabilities` object, e.g. `["sampling": [:]]`.
    /// - Throws: ``MCPError`` -32021 with `requiredCapabilities` listing the missing ones (stateless era),
    ///   -32600 (session era).
    public func requireClientCapabilities(_ capabilities: Value) throws(MCPError) {
        let names = capabilities.objectValue?.keys.sorted() ?? []
        let missing = names.filter { clientCapabilities[$0] == nil }
        guard !missing.isEmpty else { return }
        if era == .stateless {
            var required: [String: Value] = [:]
            for name in missing { required[name] = capabilities[name] ?? [:] }
            throw .missingRequiredClientCapability(.object(required))
        }
        throw MCPError(
            code: MCPError.Code.invalidRequest,
            message: "The client did not declare the \(missing.joined(separator: ", ")) capability")
    }

    /// Asks for one input and returns its answer (see ``requestInputs(_:)``).
    func ask(_ request: InputRequest) async throws(MCPError) -> Value {
        var request = request
        if let inputRound, request.key == nil { request.key = inputRound.key(for: request) }
        let answers = try await requestInputs([request])
        if let key = request.key, let answer = answers[key] { return answer }
        return answers.values.first ?? [:]
    }

    /// Sends a request to the client (session era): as a task when the server allows it and the client declared
    /// that it runs this request as a task — then polls the client's `tasks/get` (at the client's `pollInterval`,
    /// within the task's `ttl`) and returns its `tasks/result`; plainly otherwise.
    func askClient(_ method: String, params: Value?) async throws(MCPError) -> Value {
        let path = method.split(separator: "/").map(String.init)
        guard let ttl = clientTaskTTL, path.count == 2,
            clientCapabilities["tasks"]?["requests"]?[path[0]]?[path[1]] != nil
        else {
            return try await outbound.request(method, params: params)
        }
        var object = params?.objectValue ?? [:]
        object["task"] = ["ttl": .int(Int(ttl.wholeMilliseconds))]
        let answer = try await outbound.request(method, params: .object(object))
        // A client that ran it directly answers with the result itself.
        guard let task = answer["task"], let id = task["taskId"]?.stringValue else { return answer }
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(task["ttl"]?.intValue ?? Int(ttl.wholeMilliseconds))
        var status = task["status"]?.stringValue ?? "working"
        var interval = task["pollInterval"]?.intValue ?? 1000
        while status == "working" || status == "input_required" {
            guard clock.now < deadline else {
                throw MCPError(
                    code: MCPError.Code.requestTimeout,
                    message: "The client's task \(id) for \(method) did not end within its ttl")
            }
            do {
                try await Task.sleep(for: .milliseconds(min(max(interval, 50), 10_000)))
            } catch {
                throw .requestCancelled()
            }
            let polled = try await outbound.request("tasks/get", params: ["taskId": .string(id)])
            status = polled["status"]?.stringValue ?? "failed"
            interval = polled["pollInterval"]?.intValue ?? interval
        }
        return try await outbound.request("tasks/result", params: ["taskId": .string(id)])
    }

    private func requireClientCapability(_ name: String) throws(MCPError) {
        try requireClientCapabilities([name: [:]])
    }

    /// Fails unless the client declared the elicitation mode `params` asks in (2025-11-25): `url` needs
    /// `elicitation.url`; a form (`mode` absent or `form`) needs `elicitation.form`, or an empty `elicitation` (which
    /// means forms only).
    private func requireElicitationMode(of params: Value?) throws(MCPError) {
        let declared = clientCapabilities["elicitation"]
        let mode = params?["mode"]?.stringValue == "url" ? "url" : "form"
        let supported =
            mode == "url"
            ? declared?["url"] != nil
            : declared?["form"] != nil || declared?.objectValue?.isEmpty != false
        guard !supported else { return }
        if era == .stateless { throw .missingRequiredClientCapability(["elicitation": [mode: [:]]]) }
        throw MCPError.invalidRequest(
            mode == "url"
                ? "The client did not declare URL-mode elicitation (capabilities.elicitation.url); ask with a form, or answer with MCPError.urlElicitationRequired"
                : "The client did not declare form-mode elicitation (capabilities.elicitation.form); it takes URL-mode elicitations only")
    }
}

extension MCPError {
    /// Thrown inside a stateless handler that asked for input not answered yet; the dispatcher replaces
    /// whatever the handler finally answers with the `input_required` result. Never sent on the wire.
    static let inputRequiredSignal = MCPError(code: Int.min, message: "Input required")
}
