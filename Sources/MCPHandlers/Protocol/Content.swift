/// One content block of a tool result or prompt message.
public enum Content: Sendable, Hashable {
    /// Plain text.
    case text(String)
    /// Base64 image data with its MIME type.
    case image(data: String, mimeType: String)
    /// Base64 audio data with its MIME type.
    case audio(data: String, mimeType: String)
    /// An embedded resource.
    case resource(ResourceContents)
    /// A link to a resource the client may read.
    case resourceLink(uri: String, name: String, mimeType: String? = nil, description: String? = nil)

    /// The JSON form.
    public var value: Value {
        switch self {
        case .text(let text): return ["type": "text", "text": .string(text)]
        case .image(let data, let mimeType):
            return ["type": "image", "data": .string(data), "mimeType": .string(mimeType)]
        case .audio(let data, let mimeType):
            return ["type": "audio", "data": .string(data), "mimeType": .string(mimeType)]
        case .resource(let contents): return ["type": "resource", "resource": contents.value]
        case .resourceLink(let uri, let name, let mimeType, let description):
            var o: [String: Value] = ["type": "resource_link", "uri": .string(uri), "name": .string(name)]
            if let mimeType { o["mimeType"] = .string(mimeType) }
            if let description { o["description"] = .string(description) }
            return .object(o)
        }
    }
}

/// The contents of a resource: text or a base64 blob.
public struct ResourceContents: Sendable, Hashable {
    /// The resource URI.
    public var uri: String
    /// Its MIME type.
    public var mimeType: String?
    /// Text contents (exactly one of `text` and `blob` is set).
    public var text: String?
    /// Base64 contents.
    public var blob: String?

    /// Text contents.
    public static func text(_ text: String, uri: String, mimeType: String? = "text/plain") -> ResourceContents {
        ResourceContents(uri: uri, mimeType: mimeType, text: text, blob: nil)
    }

    /// Base64 blob contents.
    public static func blob(_ base64: String, uri: String, mimeType: String?) -> ResourceContents {
        ResourceContents(uri: uri, mimeType: mimeType, text: nil, blob: base64)
    }

    /// The JSON form.
    public var value: Value {
        var o: [String: Value] = ["uri": .string(uri)]
        if let mimeType { o["mimeType"] = .string(mimeType) }
        if let text { o["text"] = .string(text) }
        if let blob { o["blob"] = .string(blob) }
        return .object(o)
    }
}
