/// An icon a client may show beside a server, tool, prompt, resource or template (2025-11-25 `Icon`).
///
/// ```swift
/// server.registerTool(name: "forecast", icons: [.init(src: "https://example.com/sun.svg", mimeType: "image/svg+xml")]) { … }
/// ```
///
/// Clients fetch `src` themselves (or decode it, for a `data:` URI); the specification asks them to accept only
/// `https:` and `data:` sources, so a server should give one of those.
public struct Icon: Sendable, Hashable {
    /// The theme an icon is drawn for.
    public enum Theme: String, Sendable, Hashable {
        /// For a light background.
        case light
        /// For a dark background.
        case dark
    }

    /// Where the icon is: an `https:` URL or a `data:` URI.
    public var src: String
    /// Its MIME type (`image/png`, `image/svg+xml`, …), when the URL does not say.
    public var mimeType: String?
    /// The sizes it is drawn at (`"48x48"`, or `"any"` for a scalable format); empty: not declared.
    public var sizes: [String]
    /// The background it is drawn for; nil: any.
    public var theme: Theme?

    /// Creates an icon.
    /// - Parameters:
    ///   - src: an `https:` URL or a `data:` URI.
    ///   - mimeType: its MIME type.
    ///   - sizes: the sizes it is drawn at.
    ///   - theme: the background it is drawn for.
    public init(src: String, mimeType: String? = nil, sizes: [String] = [], theme: Theme? = nil) {
        self.src = src
        self.mimeType = mimeType
        self.sizes = sizes
        self.theme = theme
    }

    /// The JSON form (unset members left out).
    public var value: Value {
        var o: [String: Value] = ["src": .string(src)]
        if let mimeType { o["mimeType"] = .string(mimeType) }
        if !sizes.isEmpty { o["sizes"] = .array(sizes.map(Value.string)) }
        if let theme { o["theme"] = .string(theme.rawValue) }
        return .object(o)
    }

    /// `icons` as a JSON member of `object`, when there are any.
    static func add(_ icons: [Icon], to object: inout [String: Value]) {
        if !icons.isEmpty { object["icons"] = .array(icons.map(\.value)) }
    }
}
