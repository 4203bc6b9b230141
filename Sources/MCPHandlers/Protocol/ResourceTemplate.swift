/// A parameterised family of resources as `resources/templates/list` shows it.
public struct ResourceTemplate: Sendable, Hashable {
    /// The RFC 6570 URI template, e.g. `file:///{path}`; see ``URITemplate`` for what is matched.
    public var uriTemplate: String
    /// Programmatic name.
    public var name: String
    /// Optional display name.
    public var title: String?
    /// What the resources hold.
    public var description: String?
    /// The MIME type of every matching resource, when they share one.
    public var mimeType: String?
    /// Hints for the client: `audience`, `priority`, `lastModified`.
    public var annotations: Value?
    /// Icons a client may show (2025-11-25).
    public var icons: [Icon]

    /// Creates template metadata.
    /// - Parameters:
    ///   - uriTemplate: the RFC 6570 URI template.
    ///   - name: programmatic name.
    ///   - title: optional display name.
    ///   - description: what the resources hold.
    ///   - mimeType: their MIME type.
    ///   - annotations: hints (`audience`, `priority`, `lastModified`).
    ///   - icons: icons a client may show.
    public init(
        uriTemplate: String, name: String, title: String? = nil, description: String? = nil,
        mimeType: String? = nil, annotations: Value? = nil, icons: [Icon] = []
    ) {
        self.icons = icons
        self.uriTemplate = uriTemplate
        self.name = name
        self.title = title
        self.description = description
        self.mimeType = mimeType
        self.annotations = annotations
    }

    /// The JSON form.
    public var value: Value {
        var o: [String: Value] = ["uriTemplate": .string(uriTemplate), "name": .string(name)]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if let mimeType { o["mimeType"] = .string(mimeType) }
        if let annotations { o["annotations"] = annotations }
        Icon.add(icons, to: &o)
        return .object(o)
    }
}
