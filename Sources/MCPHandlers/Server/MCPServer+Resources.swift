extension MCPServer {
    // MARK: Registration

    /// Registers (or replaces) a static resource; sends `notifications/resources/list_changed` to every
    /// session.
    ///
    /// ```swift
    /// server.registerResource(Resource(uri: "config://app", name: "config", mimeType: "application/json")) {
    ///     uri, _ in [.text(#"{"debug":false}"#, uri: uri, mimeType: "application/json")]
    /// }
    /// ```
    /// - Parameters:
    ///   - resource: its metadata; `uri` is its key.
    ///   - handler: reads its contents.
    public func registerResource(_ resource: Resource, handler: @escaping ResourceHandler) {
        resources.withLock { $0.register(resource, handler: handler) }
        listChanged("resources")
    }

    /// Registers (or replaces) a static resource from its fields; see ``registerResource(_:handler:)``.
    /// - Parameters:
    ///   - uri: the resource's URI.
    ///   - name: programmatic name.
    ///   - title: optional display name.
    ///   - description: what it holds.
    ///   - mimeType: its MIME type.
    ///   - annotations: hints (`audience`, `priority`, `lastModified`).
    ///   - size: its size in bytes.
    ///   - handler: reads its contents.
    public func registerResource(
        uri: String, name: String, title: String? = nil, description: String? = nil, mimeType: String? = nil,
        annotations: Value? = nil, size: Int? = nil, handler: @escaping ResourceHandler
    ) {
        registerResource(
            Resource(
                uri: uri, name: name, title: title, description: description, mimeType: mimeType,
                annotations: annotations, size: size),
            handler: handler)
    }

    /// Removes a static resource; when it was registered, sends `notifications/resources/list_changed`.
    /// - Parameter uri: its URI.
    /// - Returns: whether it was registered.
    @discardableResult public func removeResource(uri: String) -> Bool {
        let removed = resources.withLock { $0.removeResource(uri: uri) }
        if removed { listChanged("resources") }
        return removed
    }

    /// Registers (or replaces) a resource template; sends `notifications/resources/list_changed`.
    ///
    /// `resources/read` tries static resources first, then templates in registration order; the first
    /// template whose ``URITemplate`` matches the URI reads it.
    ///
    /// ```swift
    /// server.registerResourceTemplate(
    ///     ResourceTemplate(uriTemplate: "users://{id}/profile", name: "profile", mimeType: "application/json"),
    ///     completions: ["id": { typed, _ in .matching(typed, in: userIDs) }]
    /// ) { uri, variables, _ in
    ///     [.text(try profileJSON(variables["id"]!), uri: uri, mimeType: "application/json")]
    /// }
    /// ```
    /// - Parameters:
    ///   - template: its metadata; `uriTemplate` is its key.
    ///   - completions: completion handlers by variable name, added to any registered before.
    ///   - handler: reads a matching resource.
    public func registerResourceTemplate(
        _ template: ResourceTemplate, completions: [String: CompletionHandler] = [:],
        handler: @escaping ResourceTemplateHandler
    ) {
        resources.withLock { $0.register(template, completions: completions, handler: handler) }
        listChanged("resources")
    }

    /// Registers (or replaces) a resource template from its fields; see
    /// ``registerResourceTemplate(_:completions:handler:)``.
    /// - Parameters:
    ///   - uriTemplate: the RFC 6570 URI template.
    ///   - name: programmatic name.
    ///   - title: optional display name.
    ///   - description: what the resources hold.
    ///   - mimeType: their MIME type.
    ///   - annotations: hints.
    ///   - completions: completion handlers by variable name.
    ///   - handler: reads a matching resource.
    public func registerResourceTemplate(
        uriTemplate: String, name: String, title: String? = nil, description: String? = nil,
        mimeType: String? = nil, annotations: Value? = nil, completions: [String: CompletionHandler] = [:],
        handler: @escaping ResourceTemplateHandler
    ) {
        registerResourceTemplate(
            ResourceTemplate(
                uriTemplate: uriTemplate, name: name, title: title, description: description, mimeType: mimeType,
                annotations: annotations),
            completions: completions, handler: handler)
    }

    /// Removes a resource template and its completions; when it was registered, sends
    /// `notifications/resources/list_changed`.
    /// - Parameter uriTemplate: its template text.
    /// - Returns: whether it was registered.
    @discardableResult public func removeResourceTemplate(uriTemplate: String) -> Bool {
        let removed = resources.withLock { $0.removeTemplate(uriTemplate: uriTemplate) }
        if removed { listChanged("resources") }
        return removed
    }

    /// The registered static resources' metadata, in registration order.
    public var registeredResources: [Resource] { resources.withLock { $0.resources.entries.map(\.resource) } }

    /// The registered resource templates' metadata, in registration order.
    public var registeredResourceTemplates: [ResourceTemplate] {
        resources.withLock { $0.templates.entries.map(\.template) }
    }

    // MARK: Methods

    func listResources(_ params: Value?) throws(MCPError) -> Value {
        let all = resources.withLock { $0.resources.entries.map(\.resource) }
        let (page, next) = try Pagination.page(all, cursor: params?["cursor"], pageSize: configuration.pageSize)
        var result: [String: Value] = ["resources": .array(page.map(\.value))]
        if let next { result["nextCursor"] = .string(next) }
        return .object(result)
    }

    func listResourceTemplates(_ params: Value?) throws(MCPError) -> Value {
        let all = resources.withLock { $0.templates.entries.map(\.template) }
        let (page, next) = try Pagination.page(all, cursor: params?["cursor"], pageSize: configuration.pageSize)
        var result: [String: Value] = ["resourceTemplates": .array(page.map(\.value))]
        if let next { result["nextCursor"] = .string(next) }
        return .object(result)
    }

    func readResource(_ params: Value?, context: RequestContext) async throws(MCPError) -> Value {
        let uri = try Self.requiredURI(params, method: "resources/read")
        guard let resolution = resources.withLock({ $0.resolve(uri) }) else { throw .resourceNotFound(uri) }
        let contents = try await runHandler("resources/read", context: context) {
            switch resolution {
            case .resource(let entry): return try await entry.handler(uri, context)
            case .template(let entry, let variables): return try await entry.handler(uri, variables, context)
            }
        }
        return ["contents": .array(contents.map(\.value))]
    }

    /// Subscribes the session to a resource that exists (static or matched by a template).
    func subscribe(_ params: Value?, session: Session?) throws(MCPError) -> Value {
        let uri = try Self.requiredURI(params, method: "resources/subscribe")
        guard let session else { throw .invalidRequest("resources/subscribe needs a session") }
        guard resources.withLock({ $0.resolve(uri) != nil }) else { throw .resourceNotFound(uri) }
        session.setSubscribed(uri, true)
        subscriptions.withLock { $0.add(uri: uri, sessionID: session.id) }
        return [:]
    }

    /// Unsubscribes; idempotent.
    func unsubscribe(_ params: Value?, session: Session?) throws(MCPError) -> Value {
        let uri = try Self.requiredURI(params, method: "resources/unsubscribe")
        guard let session else { throw .invalidRequest("resources/unsubscribe needs a session") }
        session.setSubscribed(uri, false)
        subscriptions.withLock { $0.remove(uri: uri, sessionID: session.id) }
        return [:]
    }

    static func requiredURI(_ params: Value?, method: String) throws(MCPError) -> String {
        guard let uri = params?["uri"]?.stringValue else { throw .invalidParams("\(method) needs a string \"uri\"") }
        return uri
    }
}
