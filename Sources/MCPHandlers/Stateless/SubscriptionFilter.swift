/// The notifications a `subscriptions/listen` stream opts in to (2026-07-28 `SubscriptionFilter`).
public struct SubscriptionFilter: Sendable, Hashable {
    /// `notifications/tools/list_changed`.
    public var toolsListChanged: Bool
    /// `notifications/prompts/list_changed`.
    public var promptsListChanged: Bool
    /// `notifications/resources/list_changed`.
    public var resourcesListChanged: Bool
    /// `notifications/resources/updated` for these URIs.
    public var resourceSubscriptions: Set<String>

    /// Creates a filter.
    /// - Parameters:
    ///   - toolsListChanged: tool list changes.
    ///   - promptsListChanged: prompt list changes.
    ///   - resourcesListChanged: resource list changes.
    ///   - resourceSubscriptions: URIs whose updates to deliver.
    public init(
        toolsListChanged: Bool = false, promptsListChanged: Bool = false, resourcesListChanged: Bool = false,
        resourceSubscriptions: Set<String> = []
    ) {
        self.toolsListChanged = toolsListChanged
        self.promptsListChanged = promptsListChanged
        self.resourcesListChanged = resourcesListChanged
        self.resourceSubscriptions = resourceSubscriptions
    }

    /// Reads `params.notifications`.
    /// - Parameter value: the filter object.
    /// - Throws: ``MCPError`` -32602 when it is not an object, a flag is not a boolean, or
    ///   `resourceSubscriptions` is not an array of strings.
    public init(_ value: Value?) throws(MCPError) {
        guard case .object(let object)? = value else {
            throw .invalidParams("subscriptions/listen needs an object \"notifications\"")
        }
        func flag(_ name: String) throws(MCPError) -> Bool {
            guard let raw = object[name], !raw.isNull else { return false }
            guard let bool = raw.boolValue else { throw .invalidParams("notifications.\(name) must be a boolean") }
            return bool
        }
        var uris: Set<String> = []
        if let raw = object["resourceSubscriptions"], !raw.isNull {
            guard let items = raw.arrayValue else {
                throw .invalidParams("notifications.resourceSubscriptions must be an array of strings")
            }
            for item in items {
                guard let uri = item.stringValue else {
                    throw .invalidParams("notifications.resourceSubscriptions must be an array of strings")
                }
                uris.insert(uri)
            }
        }
        self.init(
            toolsListChanged: try flag("toolsListChanged"), promptsListChanged: try flag("promptsListChanged"),
            resourcesListChanged: try flag("resourcesListChanged"), resourceSubscriptions: uris)
    }

    /// Whether a notification is one this filter lets through.
    /// - Parameter notification: a change notification.
    public func admits(_ notification: JSONRPCNotification) -> Bool {
        switch notification.method {
        case "notifications/tools/list_changed": return toolsListChanged
        case "notifications/prompts/list_changed": return promptsListChanged
        case "notifications/resources/list_changed": return resourcesListChanged
        case "notifications/resources/updated":
            guard let uri = notification.params?["uri"]?.stringValue else { return false }
            return resourceSubscriptions.contains(uri)
        default: return false
        }
    }

    /// The JSON form, with only the kinds opted in to (as in the acknowledgement).
    public var value: Value {
        var object: [String: Value] = [:]
        if toolsListChanged { object["toolsListChanged"] = true }
        if promptsListChanged { object["promptsListChanged"] = true }
        if resourcesListChanged { object["resourcesListChanged"] = true }
        if !resourceSubscriptions.isEmpty {
            object["resourceSubscriptions"] = .array(resourceSubscriptions.sorted().map { .string($0) })
        }
        return .object(object)
    }
}
