/// The name and version of an MCP implementation (`serverInfo`, `clientInfo`).
public struct Implementation: Sendable, Hashable {
    /// Programmatic name.
    public var name: String
    /// Version string.
    public var version: String
    /// Optional display name.
    public var title: String?
    /// Icons a client may show (2025-11-25).
    public var icons: [Icon]
    /// The implementation's web site (2025-11-25 `websiteUrl`).
    public var websiteURL: String?

    /// Creates an implementation description.
    public init(name: String, version: String, title: String? = nil, icons: [Icon] = [], websiteURL: String? = nil) {
        self.icons = icons
        self.websiteURL = websiteURL
        self.name = name
        self.version = version
        self.title = title
    }

    /// Reads `clientInfo`; nil when `name` or `version` is missing.
    public init?(_ value: Value?) {
        guard let name = value?["name"]?.stringValue, let version = value?["version"]?.stringValue else { return nil }
        self.init(name: name, version: version, title: value?["title"]?.stringValue)
    }

    /// The JSON form.
    public var value: Value {
        var o: [String: Value] = ["name": .string(name), "version": .string(version)]
        if let title { o["title"] = .string(title) }
        if let websiteURL { o["websiteUrl"] = .string(websiteURL) }
        Icon.add(icons, to: &o)
        return .object(o)
    }
}
