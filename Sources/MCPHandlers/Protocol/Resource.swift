/// A static resource's metadata as `resources/list` shows it.
public struct Resource: Sendable, Hashable {
    /// The resource's URI; unique among the server's static resources.
    public var uri: String
    /// Programmatic name.
    public var name: String
    /// Optional display name.
    public var title: String?
    /// What the resource holds, for the model and the user.
    public var description: String?
    /// Its MIME type, when known.
    public var mimeType: String?
    /// Hints for the client: `audience`, `priority`, `lastModified`.
    public var annotations: Value?
    /// Its size in bytes, when known.
    public var size: Int?
    /// Icons a client may show (2025-11-25).
    public var icons: [Icon]

    /// Creates resource metadata.
    /// - Parameters:
    ///   - uri: the resource's URI.
    ///   - name: programmatic name.
    ///   - title: optional display name.
    ///   - description: what it holds.
    ///   - mimeType: its MIME type.
    ///   - annotations: hints (`audience`, `priority`, `lastModified`).
    ///   - size: its size in bytes.
    ///   - icons: icons a client may show.
    public init(
        uri: String, name: String, title: String? = nil, description: String? = nil, mimeType: String? = nil,
        annotations: Value? = nil, size: Int? = nil, icons: [Icon] = []
    ) {
        self.icons = icons
        self.uri = uri
        self.name = name
        self.title = title
        self.description = description
        self.mimeType = mimeType
        self.annotations = annotations
        self.size = size
    }

    /// The JSON form.
    public var value: Value {
        var o: [String: Value] = ["uri": .string(uri), "name": .string(name)]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if let mimeType { o["mimeType"] = .string(mimeType) }
        if let annotations { o["annotations"] = annotations }
        if let size { o["size"] = .int(size) }
        Icon.add(icons, to: &o)
        return .object(o)
    }
}
