extension MCPServer {
    /// Registers (or replaces) the completion handler of one prompt argument. The prompt may be registered
    /// before or after; removing the prompt removes its completions.
    /// - Parameters:
    ///   - prompt: the prompt's name.
    ///   - argument: the argument's name.
    ///   - handler: suggests values.
    public func registerCompletion(prompt: String, argument: String, handler: @escaping CompletionHandler) {
        prompts.withLock { $0.setCompletion(prompt: prompt, argument: argument, handler: handler) }
    }

    /// Registers (or replaces) the completion handler of one resource template variable. The template may
    /// be registered before or after; removing the template removes its completions.
    /// - Parameters:
    ///   - resourceTemplate: the template's `uriTemplate` text.
    ///   - variable: the variable's name.
    ///   - handler: suggests values.
    public func registerCompletion(
        resourceTemplate: String, variable: String, handler: @escaping CompletionHandler
    ) {
        resources.withLock { $0.setCompletion(uriTemplate: resourceTemplate, variable: variable, handler: handler) }
    }

    /// Answers `completion/complete`: `ref` names a prompt (`ref/prompt`, `name`) or a resource template
    /// (`ref/resource`, `uri` = the template text; a static resource's URI has nothing to complete).
    /// An argument without a handler gets no suggestions; an unknown prompt or template is -32602.
    func complete(_ params: Value?, context: RequestContext) async throws(MCPError) -> Value {
        guard capabilities["completions"] != nil else { throw .methodNotFound("completion/complete") }
        guard let ref = params?["ref"], let type = ref["type"]?.stringValue else {
            throw .invalidParams("completion/complete needs a \"ref\" with a \"type\"")
        }
        guard let argument = params?["argument"], let name = argument["name"]?.stringValue,
            let typed = argument["value"]?.stringValue
        else {
            throw .invalidParams("completion/complete needs an \"argument\" with string \"name\" and \"value\"")
        }
        let limits = configuration.identifierLimits
        try limits.checkName(name, "completion/complete \"argument.name\"")
        try limits.checkCompletionValue(typed, "completion/complete \"argument.value\"")
        let resolved = try Self.stringArguments(
            params?["context"]?["arguments"], what: "completion/complete \"context.arguments\"", limits: limits,
            boundValues: true)
        let handler: CompletionHandler?
        switch type {
        case "ref/prompt":
            guard let prompt = ref["name"]?.stringValue else { throw .invalidParams("ref/prompt needs a \"name\"") }
            try limits.checkName(prompt, "completion/complete \"ref.name\"")
            let lookup = prompts.withLock { registry in
                (registry.prompts.contains(prompt), registry.completions[prompt]?[name])
            }
            guard lookup.0 else { throw .invalidParams("Unknown prompt: \(prompt)") }
            handler = lookup.1
        case "ref/resource":
            guard let uri = ref["uri"]?.stringValue else { throw .invalidParams("ref/resource needs a \"uri\"") }
            try limits.checkURI(uri, "completion/complete \"ref.uri\"")
            let lookup = resources.withLock { registry in
                (
                    registry.templates.contains(uri) || registry.resources.contains(uri),
                    registry.completions[uri]?[name]
                )
            }
            guard lookup.0 else { throw .invalidParams("Unknown resource template: \(uri)") }
            handler = lookup.1
        default:
            throw .invalidParams("Unknown reference type: \(type)")
        }
        guard let handler else { return ["completion": Completion.empty.value] }
        let completion = try await runHandler("completion/complete", context: context) {
            try await handler(typed, resolved)
        }
        return ["completion": completion.value]
    }
}
