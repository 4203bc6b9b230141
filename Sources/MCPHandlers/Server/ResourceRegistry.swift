/// Reads a static resource: its URI and the request context in, its contents out.
///
/// Throwing ``MCPError`` answers with that error (e.g. ``MCPError/resourceNotFound(_:)``); anything else is
/// logged and answered with -32603.
public typealias ResourceHandler =
    @Sendable (_ uri: String, _ context: RequestContext) async throws -> [ResourceContents]

/// Reads a resource matched by a template: the URI, its template variables and the request context in,
/// its contents out. Errors as for ``ResourceHandler``.
public typealias ResourceTemplateHandler =
    @Sendable (_ uri: String, _ variables: [String: String], _ context: RequestContext) async throws
    -> [ResourceContents]

/// The registered resources and resource templates, in registration order, with the templates' completions.
struct ResourceRegistry: Sendable {
    struct StaticEntry: Sendable {
        var resource: Resource
        var handler: ResourceHandler
    }
    struct TemplateEntry: Sendable {
        var template: ResourceTemplate
        var matcher: URITemplate
        var handler: ResourceTemplateHandler
    }
    /// What a URI resolves to.
    enum Resolution: Sendable {
        case resource(StaticEntry)
        case template(TemplateEntry, variables: [String: String])
    }

    private(set) var resources = OrderedRegistry<StaticEntry>()
    private(set) var templates = OrderedRegistry<TemplateEntry>()
    /// uriTemplate → variable → handler.
    private(set) var completions: [String: [String: CompletionHandler]] = [:]

    mutating func register(_ resource: Resource, handler: @escaping ResourceHandler) {
        resources.upsert(StaticEntry(resource: resource, handler: handler), key: resource.uri)
    }

    mutating func removeResource(uri: String) -> Bool { resources.remove(key: uri) }

    mutating func register(
        _ template: ResourceTemplate, completions: [String: CompletionHandler],
        handler: @escaping ResourceTemplateHandler
    ) {
        let entry = TemplateEntry(template: template, matcher: URITemplate(template.uriTemplate), handler: handler)
        templates.upsert(entry, key: template.uriTemplate)
        if !completions.isEmpty { self.completions[template.uriTemplate, default: [:]].merge(completions) { $1 } }
    }

    mutating func removeTemplate(uriTemplate: String) -> Bool {
        guard templates.remove(key: uriTemplate) else { return false }
        completions[uriTemplate] = nil
        return true
    }

    mutating func setCompletion(uriTemplate: String, variable: String, handler: @escaping CompletionHandler) {
        completions[uriTemplate, default: [:]][variable] = handler
    }

    /// What resolving a URI needs, taken under the registry's lock: the static resource with that URI, else
    /// the templates to match it against (a copy of the list, so matching runs without the lock).
    enum Candidates: Sendable {
        case resource(StaticEntry)
        case templates([TemplateEntry])

        /// The static resource, else the first template in registration order that matches `uri`.
        func resolve(_ uri: String) -> Resolution? {
            switch self {
            case .resource(let entry): return .resource(entry)
            case .templates(let entries):
                for entry in entries {
                    if let variables = entry.matcher.match(uri) { return .template(entry, variables: variables) }
                }
                return nil
            }
        }
    }

    /// Static resources first, then templates in registration order; a lookup by key only, cheap enough
    /// for the lock (see ``Candidates/resolve(_:)`` for the matching).
    func candidates(for uri: String) -> Candidates {
        if let entry = resources[uri] { return .resource(entry) }
        return .templates(templates.entries)
    }

    var isEmpty: Bool { resources.isEmpty && templates.isEmpty }
    var hasCompletions: Bool { !completions.isEmpty }
}
