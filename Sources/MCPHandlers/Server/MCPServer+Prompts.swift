extension MCPServer {
    // MARK: Registration

    /// Registers (or replaces) a prompt; sends `notifications/prompts/list_changed` to every session.
    ///
    /// ```swift
    /// server.registerPrompt(
    ///     Prompt(name: "review", description: "Review code", arguments: [.init(name: "code", required: true)])
    /// ) { arguments, _ in
    ///     [.user(.text("Please review:\n\(arguments["code"]!)"))]
    /// }
    /// ```
    /// - Parameters:
    ///   - prompt: its metadata; `name` is its key. Required arguments are checked before `handler` runs.
    ///   - completions: completion handlers by argument name, added to any registered before.
    ///   - handler: renders its messages.
    public func registerPrompt(
        _ prompt: Prompt, completions: [String: CompletionHandler] = [:], handler: @escaping PromptHandler
    ) {
        prompts.withLock { $0.register(prompt, completions: completions, handler: handler) }
        listChanged("prompts")
    }

    /// Registers (or replaces) a prompt from its fields; see ``registerPrompt(_:completions:handler:)``.
    /// - Parameters:
    ///   - name: unique name.
    ///   - title: optional display name.
    ///   - description: what it is for.
    ///   - arguments: the arguments it takes.
    ///   - completions: completion handlers by argument name.
    ///   - icons: icons a client may show.
    ///   - handler: renders its messages.
    public func registerPrompt(
        name: String, title: String? = nil, description: String? = nil, arguments: [PromptArgument] = [],
        completions: [String: CompletionHandler] = [:], icons: [Icon] = [], handler: @escaping PromptHandler
    ) {
        registerPrompt(
            Prompt(name: name, title: title, description: description, arguments: arguments, icons: icons),
            completions: completions, handler: handler)
    }

    /// Removes a prompt and its completions; when it was registered, sends
    /// `notifications/prompts/list_changed`.
    /// - Parameter name: its name.
    /// - Returns: whether it was registered.
    @discardableResult public func removePrompt(named name: String) -> Bool {
        let removed = prompts.withLock { $0.remove(name) }
        if removed { listChanged("prompts") }
        return removed
    }

    /// The registered prompts' metadata, in registration order.
    public var registeredPrompts: [Prompt] { prompts.withLock { $0.prompts.entries.map(\.prompt) } }

    // MARK: Methods

    func listPrompts(_ params: Value?) throws(MCPError) -> Value {
        let all = prompts.withLock { $0.prompts.entries.map(\.prompt) }
        let (page, next) = try Pagination.page(all, cursor: params?["cursor"], pageSize: configuration.pageSize)
        var result: [String: Value] = ["prompts": .array(page.map(\.value))]
        if let next { result["nextCursor"] = .string(next) }
        return .object(result)
    }

    func getPrompt(_ params: Value?, context: RequestContext) async throws(MCPError) -> Value {
        guard let name = params?["name"]?.stringValue else {
            throw .invalidParams("prompts/get needs a string \"name\"")
        }
        try configuration.identifierLimits.checkName(name, "prompts/get \"name\"")
        guard let entry = prompts.withLock({ $0.prompts[name] }) else { throw .invalidParams("Unknown prompt: \(name)") }
        let arguments = try Self.stringArguments(
            params?["arguments"], what: "prompts/get \"arguments\"", limits: configuration.identifierLimits)
        for argument in entry.prompt.arguments where argument.required && arguments[argument.name] == nil {
            throw .invalidParams("Missing required argument \"\(argument.name)\" for prompt \(name)")
        }
        let messages = try await runHandler("prompts/get", context: context) {
            try await entry.handler(arguments, context)
        }
        var result: [String: Value] = ["messages": .array(messages.map(\.value))]
        if let description = entry.prompt.description { result["description"] = .string(description) }
        return .object(result)
    }

    /// A `{name: string}` object (absent or null: empty); names at most ``IdentifierLimits/maxNameBytes``
    /// long, and with `boundValues` values at most ``IdentifierLimits/maxCompletionValueBytes``.
    static func stringArguments(
        _ value: Value?, what: String, limits: IdentifierLimits, boundValues: Bool = false
    ) throws(MCPError) -> [String: String] {
        guard let value, !value.isNull else { return [:] }
        guard case .object(let members) = value else { throw .invalidParams("\(what) must be an object") }
        var arguments: [String: String] = [:]
        for (key, member) in members {
            try limits.checkName(key, "An argument name in \(what)")
            guard let string = member.stringValue else { throw .invalidParams("\(what).\(key) must be a string") }
            if boundValues { try limits.checkCompletionValue(string, "\(what).\(key)") }
            arguments[key] = string
        }
        return arguments
    }
}
