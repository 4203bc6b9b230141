import Foundation
import Testing

@testable import MCPHandlers

/// ``TypeSchema``: JSON Schemas derived from `Decodable` types, and the typed tool registrations that use them.
@Suite struct TypeSchemaTests {
    enum Units: String, Codable, CaseIterable { case metric, imperial }
    enum Level: Int, Codable, CaseIterable { case low = 1, high = 3 }

    struct Place: Codable {
        var name: String
        var latitude: Double?
    }

    struct Everything: Decodable {
        var text: String
        var count: Int
        var small: UInt8
        var ratio: Double
        var flag: Bool
        var maybe: String?
        var units: Units
        var level: Level?
        var tags: [String]
        var places: [Place]?
        var home: Place
        var when: Date
        var link: URL?
        var id: UUID?
        var blob: Data?
        var anything: Value?
        var table: [String: Int]?
    }

    @Test func everyKindOfFieldHasItsSchema() throws {
        let schema = try TypeSchema.of(Everything.self)
        let place: Value = [
            "type": "object", "properties": ["name": ["type": "string"], "latitude": ["type": ["number", "null"]]],
            "required": ["name"],
        ]
        let expected: Value = [
            "type": "object",
            "properties": [
                "text": ["type": "string"],
                "count": ["type": "integer"],
                "small": ["type": "integer", "minimum": 0, "maximum": 255],
                "ratio": ["type": "number"],
                "flag": ["type": "boolean"],
                "maybe": ["type": ["string", "null"]],
                "units": ["type": "string", "enum": ["metric", "imperial"]],
                "level": ["type": ["integer", "null"], "enum": [1, 3, nil]],
                "tags": ["type": "array", "items": ["type": "string"]],
                "places": ["type": ["array", "null"], "items": place],
                "home": place,
                "when": ["type": "string", "format": "date-time"],
                "link": ["type": ["string", "null"], "format": "uri"],
                "id": ["type": ["string", "null"], "format": "uuid"],
                "blob": ["type": ["string", "null"], "contentEncoding": "base64"],
                "anything": [:],
                "table": ["type": ["object", "null"], "properties": [:]],
            ],
            "required": ["text", "count", "small", "ratio", "flag", "units", "tags", "home", "when"],
        ]
        #expect(schema == expected)
    }

    struct Forecast: Decodable, SchemaDescribed {
        var city: String
        var days: Int?
        var code: String?
        var hours: [Int]?
        var region: String?
        static let schemaDescription: String? = "A forecast request"
        static let fields: [String: FieldSchema] = [
            "city": "The city, in English",
            "days": .init("How many days", minimum: 1, maximum: 14, defaultValue: 3),
            "code": .init(minLength: 2, maxLength: 8, pattern: "^[A-Z]+$"),
            "hours": .init(minItems: 1, maxItems: 24),
            "region": .init(extra: ["x-mcp-header": "Region", "examples": ["eu"]]),
        ]
    }

    @Test func descriptionsAndBoundsSitNextToTheFields() throws {
        let schema = try TypeSchema.of(Forecast.self)
        #expect(schema["description"] == "A forecast request")
        #expect(schema["properties"]?["city"] == ["type": "string", "description": "The city, in English"])
        #expect(
            schema["properties"]?["days"]
                == ["type": ["integer", "null"], "description": "How many days", "minimum": 1, "maximum": 14, "default": 3])
        #expect(
            schema["properties"]?["code"]
                == ["type": ["string", "null"], "minLength": 2, "maxLength": 8, "pattern": "^[A-Z]+$"])
        #expect(
            schema["properties"]?["hours"]
                == ["type": ["array", "null"], "items": ["type": "integer"], "minItems": 1, "maxItems": 24])
        #expect(schema["properties"]?["region"] == ["type": ["string", "null"], "x-mcp-header": "Region", "examples": ["eu"]])
        #expect(schema["required"] == ["city"])
        // The bounds are enforced: the validator checks arguments against the derived schema.
        let validator = SchemaValidator()
        #expect(validator.firstViolation(of: ["city": "Oslo", "days": 20], against: schema) == "arguments.days must be ≤ 14.0")
        #expect(validator.firstViolation(of: ["days": 2], against: schema) == "arguments.city is required")
        #expect(validator.firstViolation(of: ["city": "Oslo", "days": 2], against: schema) == nil)
        // An optional field also takes null, as the decoder reads it (nil).
        #expect(validator.firstViolation(of: ["city": "Oslo", "days": nil], against: schema) == nil)
    }

    struct Misspelt: Decodable, SchemaDescribed {
        var city: String
        static let fields: [String: FieldSchema] = ["cty": "The city"]
    }

    struct BadPattern: Decodable, SchemaDescribed {
        var code: String
        static let fields: [String: FieldSchema] = ["code": .init(pattern: "([A-Z")]
    }

    @Test func aPatternThatIsNotARegularExpressionIsAnError() {
        do {
            _ = try TypeSchema.of(BadPattern.self)
            Issue.record("accepted the pattern ([A-Z")
        } catch {
            #expect(error.description.contains("\"code\", ([A-Z, is not a regular expression"))
        }
    }

    @Test func aFieldThatIsNotDecodedIsAnError() {
        #expect(throws: TypeSchemaError.self) { try TypeSchema.of(Misspelt.self) }
        do {
            _ = try TypeSchema.of(Misspelt.self)
        } catch {
            #expect(error.description.contains("\"cty\""))
        }
    }

    struct Renamed: Decodable {
        var firstName: String
        var lastName: String?
        enum CodingKeys: String, CodingKey {
            case firstName = "first_name"
            case lastName = "last_name"
        }
    }

    @Test func propertiesAreNamedAsTheCodingKeysSpellThem() throws {
        let schema = try TypeSchema.of(Renamed.self)
        #expect(schema["properties"]?.objectValue?.keys.sorted() == ["first_name", "last_name"])
        #expect(schema["required"] == ["first_name"])
    }

    final class Node: Decodable {
        var label: String
        var children: [Node]
        var parent: Node?
    }

    /// Three optional references to itself: followed naively, 16 levels would make 3^16 schemas.
    final class Expression: Decodable {
        var name: String?
        var and: Expression?
        var or: Expression?
        var not: Expression?
        var terms: [Expression]?
    }

    struct Holder: Decodable {
        var root: Expression
        var others: Set<String>
    }

    @Test func aTypeThatContainsItselfIsDescribedOnce() throws {
        let node: Value = [
            "type": "object",
            "properties": ["label": ["type": "string"], "children": ["type": "array", "items": [:]], "parent": [:]],
            "required": ["label", "children"],
        ]
        #expect(try TypeSchema.of(Node.self) == node)
        let holder = try TypeSchema.of(Holder.self)
        let expression = try #require(holder["properties"]?["root"])
        #expect(expression["properties"]?["and"] == [:])
        #expect(expression["properties"]?["terms"] == ["type": ["array", "null"], "items": [:]])
        #expect(holder["properties"]?["others"] == ["type": "array", "items": ["type": "string"]])
        #expect(JSONWriter.encode(holder).count < 1000)
    }

    /// A hand-written decoder that tests a key before reading it (a default otherwise) makes it optional; a class
    /// reads its superclass's data under "super", as the decoders do.
    class Base: Decodable {
        var id: String
    }

    final class Derived: Base {
        var extra: Int
        var mode: String
        enum Keys: String, CodingKey { case extra, mode }
        required init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            extra = try container.decode(Int.self, forKey: .extra)
            mode = container.contains(.mode) ? try container.decode(String.self, forKey: .mode) : "fast"
            try super.init(from: try container.superDecoder())
        }
    }

    @Test func testedKeysAreOptionalAndASuperclassIsUnderSuper() throws {
        let schema = try TypeSchema.of(Derived.self)
        #expect(schema["required"] == ["extra", "super"])
        #expect(schema["properties"]?["mode"] == ["type": ["string", "null"]])
        #expect(schema["properties"]?["super"] == ["type": "object", "properties": ["id": ["type": "string"]], "required": ["id"]])
        // The schema describes what the decoder reads.
        let value: Value = ["extra": 1, "super": ["id": "x"]]
        #expect(SchemaValidator().firstViolation(of: value, against: schema) == nil)
        #expect(try ValueDecoder().decode(Derived.self, from: value).id == "x")
    }

    struct NoArguments: Decodable {}

    @Test func aToolWithoutArgumentsOrWithAnyObjectRegisters() async throws {
        let server = MCPServer(name: "t", version: "1")
        server.registerTool(name: "ping") { (_: NoArguments, _) in .text("pong") }
        server.registerTool(name: "raw") { (arguments: Value, _) in .text("\(arguments.objectValue?.count ?? -1)") }
        #expect(server.registeredTools.first { $0.name == "ping" }?.inputSchema == ["type": "object", "properties": [:]])
        #expect(server.registeredTools.first { $0.name == "raw" }?.inputSchema == ["type": "object"])
        let raw = try await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/call", params: ["name": "raw", "arguments": ["a": 1, "b": 2]]),
            context: context(nil)
        ).get()
        #expect(raw["content"]?[0]?["text"] == "2")
    }

    struct Positive: Decodable {
        var value: Int
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            value = try container.decode(Int.self)
            guard value > 0 else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be positive")
            }
        }
    }

    @Test func aTypeThatRefusesEveryPlaceholderOrIsNoObjectIsAnError() throws {
        #expect(throws: TypeSchemaError.self) { try TypeSchema.of(Positive.self) }
        #expect(try TypeSchema.of(String.self) == ["type": "string"])
        #expect(throws: TypeSchemaError.self) { try TypeSchema.ofObject(String.self) }
        #expect(try TypeSchema.of([Units].self) == ["type": "array", "items": ["type": "string", "enum": ["metric", "imperial"]]])
    }

    /// A hand-written `init(from:)` with nested containers is described by what it asks for.
    struct HandWritten: Decodable {
        enum Keys: String, CodingKey { case inner, list, flag, name, matrix }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            let inner = try container.nestedContainer(keyedBy: Keys.self, forKey: .inner)
            _ = try inner.decode(String.self, forKey: .name)
            var list = try container.nestedUnkeyedContainer(forKey: .list)
            while !list.isAtEnd { _ = try list.decode(Int.self) }
            var matrix = try container.nestedUnkeyedContainer(forKey: .matrix)
            while !matrix.isAtEnd {
                var row = try matrix.nestedUnkeyedContainer()
                while !row.isAtEnd { _ = try row.decode(Double.self) }
            }
            _ = try container.decodeIfPresent(Bool.self, forKey: .flag)
        }
    }

    @Test func nestedContainersOfAHandWrittenDecoderAreFollowed() throws {
        let expected: Value = [
            "type": "object",
            "properties": [
                "inner": ["type": "object", "properties": ["name": ["type": "string"]], "required": ["name"]],
                "list": ["type": "array", "items": ["type": "integer"]],
                "matrix": ["type": "array", "items": ["type": "array", "items": ["type": "number"]]],
                "flag": ["type": ["boolean", "null"]],
            ],
            "required": ["inner", "list", "matrix"],
        ]
        #expect(try TypeSchema.of(HandWritten.self) == expected)
    }

    // MARK: Typed tools

    struct Booking: Decodable, SchemaDescribed {
        var guest: String
        var nights: Int
        var arrival: Date
        static let fields: [String: FieldSchema] = ["nights": .init(minimum: 1, maximum: 30)]
    }

    struct Confirmation: Codable {
        var reference: String
        var departure: Date
        var units: Units
    }

    func call(_ server: MCPServer, _ name: String, _ arguments: Value) async -> Result<Value, MCPError> {
        await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/call", params: ["name": .string(name), "arguments": arguments]),
            context: context(nil))
    }

    @Test func aTypedToolListsItsDerivedSchemasAndAnswersWithStructuredContent() async throws {
        let server = MCPServer(name: "t", version: "1")
        server.registerTool(name: "book", description: "Books a room") { (booking: Booking, _) -> Confirmation in
            Confirmation(
                reference: "R-\(booking.guest)", departure: booking.arrival.addingTimeInterval(Double(booking.nights) * 86_400),
                units: .metric)
        }
        let tool = try #require(server.registeredTools.first { $0.name == "book" })
        #expect(tool.inputSchema["required"] == ["guest", "nights", "arrival"])
        #expect(tool.inputSchema["properties"]?["arrival"] == ["type": "string", "format": "date-time"])
        #expect(tool.inputSchema["properties"]?["nights"] == ["type": "integer", "minimum": 1, "maximum": 30])
        #expect(tool.outputSchema?["required"] == ["reference", "departure", "units"])

        let result = try await call(server, "book", ["guest": "Ada", "nights": 2, "arrival": "2026-12-24T15:00:00Z"]).get()
        let structured: Value = ["reference": "R-Ada", "departure": "2026-12-26T15:00:00Z", "units": "metric"]
        #expect(result["structuredContent"] == structured)
        // The text block carries the same JSON.
        let text = try #require(result["content"]?[0]?["text"]?.stringValue)
        #expect(try JSONParser().parse(Array(text.utf8)) == structured)
        // The structured content conforms to the output schema it announced.
        #expect(SchemaValidator().firstViolation(of: structured, against: tool.outputSchema ?? [:]) == nil)
        // Fractional seconds are ISO 8601 too.
        let fractional = try await call(server, "book", ["guest": "Bo", "nights": 1, "arrival": "2026-12-24T15:00:00.250Z"]).get()
        #expect(fractional["structuredContent"]?["reference"] == "R-Bo")
    }

    @Test func argumentsOutsideTheDerivedSchemaAreRefusedWithTheField() async throws {
        let server = MCPServer(name: "t", version: "1")
        server.registerTool(name: "book") { (booking: Booking, _) in .text(booking.guest) }
        let tooMany = await call(server, "book", ["guest": "Ada", "nights": 31, "arrival": "2026-12-24T15:00:00Z"])
        guard case .failure(let error) = tooMany else {
            Issue.record("accepted 31 nights")
            return
        }
        #expect(error.code == MCPError.Code.invalidParams)
        #expect(error.message.contains("nights"))
        let missing = await call(server, "book", ["guest": "Ada", "nights": 2])
        guard case .failure(let absent) = missing else {
            Issue.record("accepted without arrival")
            return
        }
        #expect(absent.message.contains("arrival"))
        // A date that is no ISO 8601 text passes the schema's type (a string) but not the decoder.
        let badDate = await call(server, "book", ["guest": "Ada", "nights": 2, "arrival": "Christmas"])
        guard case .failure(let notADate) = badDate else {
            Issue.record("accepted a date that is not ISO 8601")
            return
        }
        #expect(notADate.message.contains("ISO8601"))
    }
}

/// ``RequestContext/elicit(_:as:key:)``: a form's schema from its type, the answer decoded into it.
@Suite struct TypedElicitationTests {
    struct Contact: Decodable, Sendable, SchemaDescribed {
        enum Topic: String, Decodable, Sendable, CaseIterable { case news, offers, events }
        var email: String
        var newsletter: Bool?
        var topics: [Topic]?
        var callAt: Date?
        static let fields: [String: FieldSchema] = ["email": .init("Where we write to you", minLength: 3, pattern: "@")]
    }

    struct Nested: Decodable, Sendable {
        struct Address: Decodable, Sendable { var street: String }
        var address: Address
    }

    func capableContext(_ reply: Result<Value, MCPError>) async throws -> (RequestContext, RecordingOutbound) {
        let server = makeServer()
        let session = try await initialize(server, capabilities: ["elicitation": [:]])
        let outbound = RecordingOutbound(reply: reply)
        return (context(session, outbound: outbound), outbound)
    }

    @Test func anAcceptedFormIsDecodedFromTheAnswer() async throws {
        let (ctx, outbound) = try await capableContext(
            .success([
                "action": "accept",
                "content": ["email": "ada@example.com", "topics": ["news", "events"], "callAt": "2026-12-24T10:00:00Z"],
            ]))
        let answer = try await ctx.elicit("How can we reach you?", as: Contact.self)
        let contact = try #require(answer.form)
        #expect(contact.email == "ada@example.com")
        #expect(contact.newsletter == nil)
        #expect(contact.topics == [.news, .events])
        #expect(contact.callAt == Date(timeIntervalSince1970: 1_798_106_400))
        let sent = try #require(outbound.notifications.first)
        #expect(sent.method == "elicitation/create")
        #expect(sent.params?["message"] == "How can we reach you?")
        let schema = try #require(sent.params?["requestedSchema"])
        #expect(schema["required"] == ["email"])
        // A pattern is not a keyword of elicitation forms (the specification's schema has none): not sent.
        #expect(schema["properties"]?["email"] == ["type": "string", "description": "Where we write to you", "minLength": 3])
        #expect(schema["properties"]?["topics"] == ["type": "array", "items": ["type": "string", "enum": ["news", "offers", "events"]]])
        #expect(schema["properties"]?["callAt"] == ["type": "string", "format": "date-time"])
    }

    @Test func aDeclineOrCancelIsSaidSo() async throws {
        let (declining, _) = try await capableContext(.success(["action": "decline"]))
        guard case .declined = try await declining.elicit("?", as: Contact.self) else {
            Issue.record("not declined")
            return
        }
        let (cancelling, _) = try await capableContext(.success(["action": "cancel"]))
        guard case .cancelled = try await cancelling.elicit("?", as: Contact.self) else {
            Issue.record("not cancelled")
            return
        }
    }

    @Test func anAnswerThatDoesNotFitTheFormIsAnInvalidParamsError() async throws {
        let (missing, _) = try await capableContext(.success(["action": "accept", "content": ["newsletter": true]]))
        let error = await #expect(throws: MCPError.self) { try await missing.elicit("?", as: Contact.self) }
        #expect(error?.code == MCPError.Code.invalidParams)
        #expect(error?.message.contains("email") == true)
        let (odd, _) = try await capableContext(.success(["action": "maybe"]))
        let oddError = await #expect(throws: MCPError.self) { try await odd.elicit("?", as: Contact.self) }
        #expect(oddError?.code == MCPError.Code.invalidParams)
    }

    struct Ticket: Decodable, Sendable {
        var id: UUID
    }

    struct Choices: Decodable, Sendable {
        var topics: [Contact.Topic]
    }

    struct EmailOnly: Decodable, Sendable, SchemaDescribed {
        var email: String
        static let fields: [String: FieldSchema] = ["email": .init(pattern: "@")]
    }

    @Test func whatFormsDoNotAllowIsRefusedAndAnAnswerIsChecked() async throws {
        let (ctx, outbound) = try await capableContext(.success(["action": "accept", "content": ["email": "ab"]]))
        // The answer is checked against the form's schema before it is decoded.
        let error = await #expect(throws: MCPError.self) { try await ctx.elicit("?", as: Contact.self) }
        #expect(error?.code == MCPError.Code.invalidParams)
        // A format forms do not have.
        let uuid = await #expect(throws: MCPError.self) { try await ctx.elicit("?", as: Ticket.self) }
        #expect(uuid?.message.contains("format uuid") == true)
        #expect(outbound.notifications.count == 1)
        // A multiple choice only from 2025-11-25.
        let server = makeServer()
        let older = try await initialize(server, version: "2025-06-18", capabilities: ["elicitation": [:]])
        let olderContext = context(older, outbound: RecordingOutbound(reply: .success(["action": "decline"])))
        let choice = await #expect(throws: MCPError.self) { try await olderContext.elicit("?", as: Choices.self) }
        #expect(choice?.message.contains("2025-11-25") == true)
        // The answer is held to what the client was shown: a pattern it never saw does not refuse it.
        let recording = RecordingOutbound(reply: .success(["action": "accept", "content": ["email": "no-at-sign"]]))
        let patternless = context(older, outbound: recording)
        let answer = try await patternless.elicit("?", as: EmailOnly.self)
        #expect(answer.form?.email == "no-at-sign")
        let sent = try #require(recording.notifications.first?.params?["requestedSchema"])
        #expect(sent == ["type": "object", "properties": ["email": ["type": "string"]], "required": ["email"]])
    }

    @Test func aNestedFormIsRefusedBeforeAnythingIsSent() async throws {
        let (ctx, outbound) = try await capableContext(.success(["action": "accept", "content": [:]]))
        let error = await #expect(throws: MCPError.self) { try await ctx.elicit("?", as: Nested.self) }
        #expect(error?.code == MCPError.Code.internalError)
        #expect(error?.message.contains("address") == true)
        #expect(outbound.notifications.isEmpty)
    }
}

/// Typed sampling and roots: what is sent, and what is read back.
@Suite struct TypedSamplingAndRootsTests {
    func capableContext(_ reply: Result<Value, MCPError>) async throws -> (RequestContext, RecordingOutbound) {
        let server = makeServer()
        let session = try await initialize(server, capabilities: ["sampling": [:], "roots": [:]])
        let outbound = RecordingOutbound(reply: reply)
        return (context(session, outbound: outbound), outbound)
    }

    @Test func aSampleSendsTheTypedRequestAndReadsTheAnswer() async throws {
        let (ctx, outbound) = try await capableContext(
            .success([
                "role": "assistant", "model": "m-1", "stopReason": "endTurn",
                "content": ["type": "text", "text": "A short summary."],
            ]))
        let answer = try await ctx.sample(
            [.user("Summarise this"), .assistant("Which part?"), Sampling.Message(role: .user, content: [.text("All"), .image(data: "AA==", mimeType: "image/png")])],
            maxTokens: 200, systemPrompt: "Be brief",
            modelPreferences: .init(hints: ["claude"], costPriority: 2, speedPriority: 0.8), temperature: 0.5,
            stopSequences: ["END"], includeContext: .thisServer)
        #expect(answer.text == "A short summary.")
        #expect(answer.model == "m-1")
        #expect(answer.role == .assistant)
        #expect(answer.stopReason == "endTurn")
        let sent = try #require(outbound.notifications.first)
        #expect(sent.method == "sampling/createMessage")
        let expected: Value = [
            "messages": [
                ["role": "user", "content": ["type": "text", "text": "Summarise this"]],
                ["role": "assistant", "content": ["type": "text", "text": "Which part?"]],
                ["role": "user", "content": [["type": "text", "text": "All"], ["type": "image", "data": "AA==", "mimeType": "image/png"]]],
            ],
            "maxTokens": 200, "systemPrompt": "Be brief",
            "modelPreferences": ["hints": [["name": "claude"]], "costPriority": 1.0, "speedPriority": 0.8],
            "temperature": 0.5, "stopSequences": ["END"], "includeContext": "thisServer",
        ]
        #expect(sent.params == expected)
    }

    @Test func anUnreadableSamplingResultIsAnInvalidParamsError() async throws {
        for reply: Value in [
            ["model": "m", "content": ["type": "text", "text": "x"]],
            ["role": "assistant", "content": ["type": "text", "text": "x"]],
            ["role": "assistant", "model": "m"],
            ["role": "assistant", "model": "m", "content": [["type": "video", "data": "x"]]],
        ] {
            let (ctx, _) = try await capableContext(.success(reply))
            let error = await #expect(throws: MCPError.self) { try await ctx.sample([.user("?")], maxTokens: 10) }
            #expect(error?.code == MCPError.Code.invalidParams)
        }
        let (audio, _) = try await capableContext(
            .success(["role": "assistant", "model": "m", "content": [["type": "audio", "data": "AA==", "mimeType": "audio/wav"]]]))
        let heard = try await audio.sample([.user("Sing")], maxTokens: 10)
        #expect(heard.content == [.audio(data: "AA==", mimeType: "audio/wav")])
        #expect(heard.text == nil)
    }

    @Test func rootsAreReadInTheClientsOrder() async throws {
        let (ctx, outbound) = try await capableContext(
            .success(["roots": [["uri": "file:///home/ada/project", "name": "project"], ["uri": "file:///tmp"]]]))
        #expect(try await ctx.roots() == [Root(uri: "file:///home/ada/project", name: "project"), Root(uri: "file:///tmp")])
        #expect(outbound.notifications.first?.method == "roots/list")
        let (bad, _) = try await capableContext(.success(["roots": [["name": "no uri"]]]))
        let error = await #expect(throws: MCPError.self) { try await bad.roots() }
        #expect(error?.code == MCPError.Code.invalidParams)
    }
}
