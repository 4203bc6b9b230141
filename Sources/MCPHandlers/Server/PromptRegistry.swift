/// Renders a prompt: its string arguments (required ones checked present) and the request context in,
/// its messages out.
///
/// Throwing ``MCPError`` answers with that error; anything else is logged and answered with -32603.
public typealias PromptHandler =
    @Sendable (_ arguments: [String: String], _ context: RequestContext) async throws -> [PromptMessage]

/// Suggests values for one prompt argument or template variable: what the user typed so far and the
/// arguments already resolved (`context.arguments`) in, suggestions out.
public typealias CompletionHandler =
    @Sendable (_ value: String, _ resolvedArguments: [String: String]) async throws -> Completion

/// The registered prompts, in registration order, with their arguments' completions.
struct PromptRegistry: Sendable {
    struct Entry: Sendable {
        var prompt: Prompt
        var handler: PromptHandler
    }

    private(set) var prompts = OrderedRegistry<Entry>()
    /// prompt name → argument → handler.
    private(set) var completions: [String: [String: CompletionHandler]] = [:]

    mutating func register(
        _ prompt: Prompt, completions: [String: CompletionHandler], handler: @escaping PromptHandler
    ) {
        prompts.upsert(Entry(prompt: prompt, handler: handler), key: prompt.name)
        if !completions.isEmpty { self.completions[prompt.name, default: [:]].merge(completions) { $1 } }
    }

    mutating func remove(_ name: String) -> Bool {
        guard prompts.remove(key: name) else { return false }
        completions[name] = nil
        return true
    }

    mutating func setCompletion(prompt: String, argument: String, handler: @escaping CompletionHandler) {
        completions[prompt, default: [:]][argument] = handler
    }

    var isEmpty: Bool { prompts.isEmpty }
    var hasCompletions: Bool { !completions.isEmpty }
}
