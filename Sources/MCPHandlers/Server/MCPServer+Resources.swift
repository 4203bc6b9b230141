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
    ///   - icons: icons a client may show.
    ///   - handler: reads its contents.
    public func registerResource(
        uri: String, name: String, title: String? = nil, description: String? = nil, mimeType: String? = nil,
        annotations: Value? = nil, size: Int? = nil, icons: [Icon] = [], handler: @escaping ResourceHandler
    ) {
        registerResource(
            Resource(
                uri: uri, name: name, title: title, description: description, mimeType: mimeType,
                annotations: annotations, size: size, icons: icons),
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
    ///   - icons: icons a client may show.
    ///   - handler: reads a matching resource.
    public func registerResourceTemplate(
        uriTemplate: String, name: String, title: String? = nil, description: String? = nil,
        mimeType: String? = nil, annotations: Value? = nil, completions: [String: CompletionHandler] = [:],
        icons: [Icon] = [], handler: @escaping ResourceTemplateHandler
    ) {
        registerResourceTemplate(
            ResourceTemplate(
                uriTemplate: uriTemplate, name: name, title: title, description: description, mimeType: mimeType,
                annotations: annotations, icons: icons),
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
        let uri = try requiredURI(params, method: "resources/read")
        guard let resolution = resolveResource(uri) else { throw .resourceNotFound(uri) }
        let contents = try await runHandler("resources/read", context: context) {
            switch resolution {
            case .resource(let entry): return try await entry.handler(uri, context)
            case .template(let entry, let variables): return try await entry.handler(uri, variables, context)
            }
        }
        return ["contents": .array(contents.map(\.value))]
    }

    /// Subscribes the session to a resource that exists (static or matched by a template), up to
    /// ``SessionLimits/maxSubscriptionsPerSession`` subscriptions (-32602 beyond).
    func subscribe(_ params: Value?, session: Session?) throws(MCPError) -> Value {
        let uri = try requiredURI(params, method: "resources/subscribe")
        guard let session else { throw .invalidRequest("resources/subscribe needs a session") }
        guard resolveResource(uri) != nil else { throw .resourceNotFound(uri) }
        let limit = configuration.sessionLimits.maxSubscriptionsPerSession
        guard session.subscribe(uri, limit: limit) else {
            throw .invalidParams(
                "This session holds \(limit) resource subscriptions, the most allowed; unsubscribe from one first")
        }
        subscriptions.withLock { $0.add(uri: uri, sessionID: session.id) }
        // The session ended meanwhile: its end may have read its subscriptions before this one (see `end`).
        if session.isEnded { subscriptions.withLock { $0.remove(uri: uri, sessionID: session.id) } }
        return [:]
    }

    /// Unsubscribes; idempotent.
    func unsubscribe(_ params: Value?, session: Session?) throws(MCPError) -> Value {
        let uri = try requiredURI(params, method: "resources/unsubscribe")
        guard let session else { throw .invalidRequest("resources/unsubscribe needs a session") }
        session.setSubscribed(uri, false)
        subscriptions.withLock { $0.remove(uri: uri, sessionID: session.id) }
        return [:]
    }

    /// The request's `uri`, at most ``IdentifierLimits/maxURIBytes`` long.
    /// - Throws: ``MCPError`` -32602 when it is missing, not a string or too long.
    func requiredURI(_ params: Value?, method: String) throws(MCPError) -> String {
        guard let uri = params?["uri"]?.stringValue else { throw .invalidParams("\(method) needs a string \"uri\"") }
        try configuration.identifierLimits.checkURI(uri, "\(method) \"uri\"")
        return uri
    }

    /// What a URI resolves to: the static resource with that URI, else the first template in registration
    /// order that matches it. Only the lookup and a copy of the template list happen under the registry's
    /// lock; the templates are matched without it, so a long match never holds up another request's
    /// registry access (or a registration).
    func resolveResource(_ uri: String) -> ResourceRegistry.Resolution? {
        let candidates = resources.withLock { $0.candidates(for: uri) }
        Self.willMatchTemplates?()
        return candidates.resolve(uri)
    }

    /// Test seam: called by ``resolveResource(_:)`` between taking the candidates under the lock and matching
    /// them, so a test can check that the registry is not locked while templates are matched.
    @TaskLocal static var willMatchTemplates: (@Sendable () -> Void)?
}
