import Foundation

/// The user's answer to a typed form (``RequestContext/elicit(_:as:key:)``).
public enum ElicitationAnswer<Form: Sendable>: Sendable {
    /// The user submitted the form.
    case accepted(Form)
    /// The user refused to answer.
    case declined
    /// The user dismissed the question without choosing.
    case cancelled

    /// The form when the user accepted, else nil.
    public var form: Form? {
        if case .accepted(let form) = self { return form }
        return nil
    }
}

extension RequestContext {
    /// Asks the user to fill in a form whose `requestedSchema` is derived from `form` (``TypeSchema``), and decodes
    /// the answer into it. See ``createMessage(_:key:)`` for how each protocol era delivers the question.
    ///
    /// ```swift
    /// struct Contact: Decodable, Sendable, SchemaDescribed {
    ///     var email: String
    ///     var newsletter: Bool?
    ///     static let fields: [String: FieldSchema] = ["email": "Where we write to you"]
    /// }
    /// switch try await context.elicit("How can we reach you?", as: Contact.self) {
    /// case .accepted(let contact): …
    /// case .declined, .cancelled: …
    /// }
    /// ```
    ///
    /// Elicitation forms are flat: each property is a string (with `minLength`/`maxLength`, and a `format` for a
    /// `Date` (`date-time`) or a `URL` (`uri`)), a number or an integer (with `minimum`/`maximum`), a boolean, a
    /// string enum, or — from protocol 2025-11-25 — an array of string enum values (a multiple choice); optional
    /// properties are simply not `required`. Other keywords of ``FieldSchema`` (a `pattern`, …) are not part of
    /// elicitation forms (the specification's schema has no `pattern`): not sent, and not held against the answer — a
    /// handler checks them itself. An accepted answer is checked against the schema sent (``SchemaValidator``: types,
    /// required fields, enums, bounds and lengths) before it is decoded.
    /// - Parameters:
    ///   - message: what to ask.
    ///   - form: the form's type.
    ///   - key: the `inputRequests` key (stateless era); nil derives one from the call order.
    /// - Returns: the decoded form, or the user's decline or cancellation.
    /// - Throws: ``MCPError``: as ``elicit(_:key:)->Value``; -32603 when `form` is not a form elicitation allows (a
    ///   programming error: the message names the property); -32602 when the client's answer does not fit the form.
    public func elicit<Form: Decodable & Sendable>(
        _ message: String, as form: Form.Type, key: String? = nil
    ) async throws(MCPError) -> ElicitationAnswer<Form> {
        let requested: Value
        do {
            requested = try Self.formSchema(form, multipleChoice: protocolVersion >= .v2025_11_25)
        } catch let error as MCPError {
            throw error
        } catch {
            throw MCPError(code: MCPError.Code.internalError, message: "\(error)")
        }
        let reply = try await elicit(["message": .string(message), "requestedSchema": requested], key: key)
        switch reply["action"]?.stringValue {
        case "accept":
            let content = reply["content"] ?? [:]
            if let problem = SchemaValidator().firstViolation(of: content, against: requested, path: "content") {
                throw MCPError.invalidParams("The client's answer to the form \(Form.self) does not fit it: \(problem)")
            }
            do {
                return .accepted(try ValueDecoder(iso8601Dates: true).decode(Form.self, from: reply["content"] ?? [:]))
            } catch {
                throw MCPError.invalidParams(
                    "The client's answer to the form \(Form.self) does not fit it: \(MCPServer.describe(error))")
            }
        case "decline": return .declined
        case "cancel": return .cancelled
        default:
            throw MCPError.invalidParams(
                "The client answered the form \(Form.self) with action \(reply["action"] ?? .null); expected accept, decline or cancel")
        }
    }

    /// The `requestedSchema` of a form type (only the keywords elicitation allows; answers are checked against it),
    /// or an error naming the property elicitation does not allow.
    static func formSchema<Form: Decodable>(_ form: Form.Type, multipleChoice: Bool) throws -> Value {
        let schema = try TypeSchema.ofObject(form, optionalsAcceptNull: false)
        var requested: [String: Value] = [:]
        for (name, property) in schema["properties"]?.objectValue ?? [:] {
            func refuse(_ why: String) -> MCPError {
                MCPError(
                    code: MCPError.Code.internalError,
                    message: "\(Form.self) cannot be an elicitation form: its property \(name) \(why)")
            }
            var kept: [String: Value] = [:]
            let keywords: [String]
            switch property["type"]?.stringValue {
            case "string":
                if let format = property["format"]?.stringValue, !["email", "uri", "date", "date-time"].contains(format) {
                    throw refuse("has format \(format); forms allow email, uri, date and date-time")
                }
                if property["contentEncoding"] != nil { throw refuse("is binary data") }
                keywords = ["type", "title", "description", "minLength", "maxLength", "format", "enum", "default"]
            case "number", "integer":
                if property["enum"] != nil { throw refuse("is an enum of numbers; forms allow enums of strings") }
                keywords = ["type", "title", "description", "minimum", "maximum", "default"]
            case "boolean":
                keywords = ["type", "title", "description", "default"]
            case "array" where property["items"]?["type"] == "string" && property["items"]?["enum"] != nil:
                guard multipleChoice else {
                    throw refuse("is a multiple choice, which protocol versions before 2025-11-25 do not have")
                }
                keywords = ["type", "title", "description", "items", "minItems", "maxItems", "default"]
            case let type:
                throw refuse(
                    "is \(type.map { "of type \($0)" } ?? "of any type"); forms hold strings, numbers, integers, booleans, string enums and arrays of string enums")
            }
            for keyword in keywords { if let value = property[keyword] { kept[keyword] = value } }
            requested[name] = .object(kept)
        }
        var sent: [String: Value] = ["type": "object", "properties": .object(requested)]
        if let required = schema["required"] { sent["required"] = required }
        return .object(sent)
    }
}

extension RequestContext {
    /// Asks the client's model (`sampling/createMessage`), typed. See ``createMessage(_:key:)`` for how each
    /// protocol era delivers the question.
    ///
    /// ```swift
    /// let answer = try await context.sample([.user("Summarise: \(text)")], maxTokens: 200,
    ///                                       modelPreferences: .init(hints: ["claude"], speedPriority: 0.8))
    /// return .text(answer.text ?? "")
    /// ```
    /// - Parameters:
    ///   - messages: the conversation.
    ///   - maxTokens: the most tokens the model may produce.
    ///   - systemPrompt: a system prompt the client may use.
    ///   - modelPreferences: what the server prefers in a model.
    ///   - temperature: sampling temperature.
    ///   - stopSequences: sequences that end the answer.
    ///   - includeContext: which MCP context the client adds.
    ///   - key: the `inputRequests` key (stateless era); nil derives one from the call order.
    /// - Returns: the model's answer.
    /// - Throws: ``MCPError`` as ``createMessage(_:key:)``; -32602 when the client's result cannot be read.
    public func sample(
        _ messages: [Sampling.Message], maxTokens: Int, systemPrompt: String? = nil,
        modelPreferences: Sampling.ModelPreferences? = nil, temperature: Double? = nil, stopSequences: [String] = [],
        includeContext: Sampling.ContextInclusion? = nil, key: String? = nil
    ) async throws(MCPError) -> Sampling.Result {
        var params: [String: Value] = ["messages": .array(messages.map(\.value)), "maxTokens": .int(maxTokens)]
        if let systemPrompt { params["systemPrompt"] = .string(systemPrompt) }
        if let modelPreferences { params["modelPreferences"] = modelPreferences.value }
        if let temperature { params["temperature"] = .double(temperature) }
        if !stopSequences.isEmpty { params["stopSequences"] = .array(stopSequences.map(Value.string)) }
        if let includeContext { params["includeContext"] = .string(includeContext.rawValue) }
        return try Sampling.Result(try await createMessage(.object(params), key: key))
    }
}

/// A directory or file the client offers the server (`roots/list`).
public struct Root: Sendable, Hashable {
    /// Its URI (a `file://` URI in the specification's words).
    public var uri: String
    /// A display name.
    public var name: String?

    /// Creates a root.
    public init(uri: String, name: String? = nil) {
        self.uri = uri
        self.name = name
    }
}

extension RequestContext {
    /// The client's roots (`roots/list`), typed. See ``createMessage(_:key:)`` for how each protocol era delivers
    /// the question.
    /// - Parameter key: the `inputRequests` key (stateless era); nil derives one from the call order.
    /// - Returns: the roots, in the client's order.
    /// - Throws: ``MCPError`` as ``listRoots(key:)``; -32602 when a root has no URI.
    public func roots(key: String? = nil) async throws(MCPError) -> [Root] {
        let reply = try await listRoots(key: key)
        var roots: [Root] = []
        for root in reply["roots"]?.arrayValue ?? [] {
            guard let uri = root["uri"]?.stringValue else {
                throw MCPError.invalidParams("A root of the client's roots/list answer has no uri: \(root)")
            }
            roots.append(Root(uri: uri, name: root["name"]?.stringValue))
        }
        return roots
    }
}

/// A URL-mode elicitation (2025-11-25): the server sends the user to a page of its own — to enter a secret, pay,
/// or authorize a third party — so the answer never passes through the client.
public struct URLElicitation: Sendable, Hashable {
    /// Why the user should go there.
    public var message: String
    /// The page (the client shows its host and asks the user's consent before opening it).
    public var url: String
    /// Names this interaction in `notifications/elicitation/complete` and in the page's own bookkeeping.
    public var elicitationID: String

    /// Creates a URL elicitation.
    ///
    /// In the stateless era (2026-07-28) a handler runs again from the start when the client retries with its answer,
    /// so a default id differs between the rounds: give one derived from your own state (the user, the request's
    /// ``RequestContext/requestState``) when your page completes by it.
    /// - Parameters:
    ///   - message: why the user should go there.
    ///   - url: the page.
    ///   - elicitationID: its id; default: a random UUID.
    public init(message: String, url: String, elicitationID: String = UUID().uuidString.lowercased()) {
        self.message = message
        self.url = url
        self.elicitationID = elicitationID
    }

    /// The `elicitation/create` params (and an entry of a -32042 error's `elicitations`).
    public var value: Value {
        ["mode": "url", "message": .string(message), "url": .string(url), "elicitationId": .string(elicitationID)]
    }
}

/// The user's answer to a ``URLElicitation``.
public enum URLElicitationAnswer: String, Sendable, Hashable {
    /// The user agreed to open the page (not that the interaction there is complete).
    case accepted = "accept"
    /// The user refused.
    case declined = "decline"
    /// The user dismissed the question without choosing.
    case cancelled = "cancel"
}

extension RequestContext {
    /// Sends the user to a page (URL-mode `elicitation/create`, protocol 2025-11-25) and returns whether they
    /// agreed to open it. What they do there reaches the server out of band (the page is the server's own);
    /// tell the client when it is done with ``completeElicitation(_:)`` or
    /// ``MCPServer/notifyElicitationComplete(_:sessionID:)``.
    ///
    /// ```swift
    /// let link = URLElicitation(message: "Connect your calendar", url: "https://mcp.example.com/connect?s=\(state)")
    /// guard try await context.elicit(link) == .accepted else { return .text("Not connected") }
    /// ```
    /// - Parameters:
    ///   - elicitation: the page and why.
    ///   - key: the `inputRequests` key (stateless era); nil derives one from the call order.
    /// - Returns: the user's answer.
    /// - Throws: ``MCPError``: when the client did not declare URL-mode elicitation (`elicitation.url`): -32021
    ///   naming it (stateless era), -32600 (session era); -32602 when the client's answer has no known action;
    ///   as ``elicit(_:key:)->Value`` otherwise.
    public func elicit(_ elicitation: URLElicitation, key: String? = nil) async throws(MCPError) -> URLElicitationAnswer {
        let reply = try await elicit(elicitation.value, key: key)
        guard let action = reply["action"]?.stringValue, let answer = URLElicitationAnswer(rawValue: action) else {
            throw MCPError.invalidParams(
                "The client answered the URL elicitation with action \(reply["action"] ?? .null); expected accept, decline or cancel")
        }
        return answer
    }

    /// Tells the client that the URL elicitation `elicitationID` is complete
    /// (`notifications/elicitation/complete`), on this request's stream. A page that completes after the request
    /// ended uses ``MCPServer/notifyElicitationComplete(_:sessionID:)``.
    /// - Parameter elicitationID: the ``URLElicitation/elicitationID`` sent.
    public func completeElicitation(_ elicitationID: String) async {
        await notify(URLElicitation.completion(elicitationID))
    }
}

extension URLElicitation {
    /// `notifications/elicitation/complete` for `elicitationID`.
    static func completion(_ elicitationID: String) -> JSONRPCNotification {
        JSONRPCNotification(method: "notifications/elicitation/complete", params: ["elicitationId": .string(elicitationID)])
    }
}

extension MCPServer {
    /// Tells the session that started a URL elicitation that it is complete (`notifications/elicitation/complete`),
    /// on the session's standalone (`GET`) stream: the specification allows the notification only to the client that
    /// was asked. Call it in the worker that holds the session — its id's node prefix names it (nginx routes requests
    /// with an `Mcp-Session-Id` there; a page's own callback carries no such header, so route it by the session id
    /// you put in the page's URL, or forward it) — and read the result: another worker has no stream to send on.
    /// - Parameters:
    ///   - elicitationID: the ``URLElicitation/elicitationID`` sent.
    ///   - sessionID: the session that was asked (``RequestContext/session``'s id).
    /// - Returns: whether the notification went out on the session's open `GET` stream (false when this process has
    ///   no such stream, or no transport installed its sink).
    @discardableResult public func notifyElicitationComplete(_ elicitationID: String, sessionID: String) -> Bool {
        guard let sink = clientMessageSink.withLock({ $0 }) else { return false }
        return sink(sessionID, URLElicitation.completion(elicitationID).value)
    }
}

extension MCPError {
    /// -32042 `URLElicitationRequiredError` (2025-11-25): the request can go on only after the user has completed
    /// `elicitations` (the client may retry it then, after `notifications/elicitation/complete`).
    ///
    /// ```swift
    /// guard let token = tokens[user] else {
    ///     throw MCPError.urlElicitationRequired([URLElicitation(message: "Connect Example Co", url: connectURL)])
    /// }
    /// ```
    /// - Parameters:
    ///   - elicitations: the pages to visit (at least one).
    ///   - message: the error's message.
    public static func urlElicitationRequired(
        _ elicitations: [URLElicitation], message: String = "This request requires more information."
    ) -> MCPError {
        MCPError(
            code: Code.urlElicitationRequired, message: message,
            data: ["elicitations": .array(elicitations.map(\.value))])
    }
}
