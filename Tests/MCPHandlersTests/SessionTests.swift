import Testing

@testable import MCPHandlers

@Suite struct SessionIDGeneratorTests {
    @Test func defaultIDsAreRandomBase62WithNode() async {
        let generator = SessionIDGenerator(nodeID: "w1")
        var ids: [String] = []
        for _ in 0..<1000 { ids.append(await generator.next(isTaken: { _ in false }).id) }
        #expect(Set(ids).count == 1000)
        for id in ids {
            #expect(id.hasPrefix("w1."))
            #expect(id.count == 25)
            #expect(id.dropFirst(3).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        }
        #expect(SessionIDGenerator().defaultID().count == 22)
    }

    @Test func customIDIsUsedWhenValid() async {
        let generator = SessionIDGenerator(custom: { "session-42" })
        let (id, rejection) = await generator.next(isTaken: { _ in false })
        #expect(id == "session-42")
        #expect(rejection == nil)
    }

    @Test(arguments: ["", "has space", "tab\t", "é", String(repeating: "x", count: 256), "new\nline"])
    func invalidCustomIDFallsBack(_ bad: String) async {
        let generator = SessionIDGenerator(nodeID: "n", custom: { bad })
        let (id, rejection) = await generator.next(isTaken: { _ in false })
        #expect(rejection == .invalid)
        #expect(id.hasPrefix("n."))
        #expect(SessionIDGenerator.isValid(id))
    }

    @Test func duplicateAndThrowingFallBack() async {
        struct Nope: Error {}
        let dup = await SessionIDGenerator(custom: { "same" }).next(isTaken: { $0 == "same" })
        #expect(dup.rejection == .duplicate)
        #expect(dup.id != "same")
        let threw = await SessionIDGenerator(custom: { throw Nope() }).next(isTaken: { _ in false })
        if case .threw = threw.rejection {} else { Issue.record("expected .threw") }
        #expect(SessionIDGenerator.isValid(threw.id))
    }

    @Test func validity() {
        #expect(SessionIDGenerator.isValid("!~azAZ09"))
        #expect(SessionIDGenerator.isValid(String(repeating: "x", count: 255)))
    }
}

@Suite struct SessionStoreTests {
    func session(_ id: String, now: Double = 0) -> Session {
        Session(id: id, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: nil, now: now)
    }

    @Test func insertLookupRemove() {
        let store = InMemorySessionStore(capacity: 2)
        #expect(store.insert(session("a")))
        #expect(!store.insert(session("a")))
        #expect(store.insert(session("b")))
        #expect(store.isFull)
        #expect(!store.insert(session("c")))
        #expect(store.count == 2)
        #expect(store.session(id: "a")?.id == "a")
        #expect(store.remove(id: "a")?.id == "a")
        #expect(store.remove(id: "a") == nil)
        #expect(!store.contains(id: "a"))
        #expect(!store.isFull)
    }

    @Test func idleExpiryCountsInFlightAsActivity() {
        let store = InMemorySessionStore()
        let idle = session("idle", now: 0)
        let busy = session("busy", now: 0)
        let recent = session("recent", now: 0)
        _ = store.insert(idle)
        _ = store.insert(busy)
        _ = store.insert(recent)
        busy.beginActivity()
        recent.beginActivity()
        recent.endActivity(now: 90)
        #expect(idle.idleTime(now: 100) == 100)
        #expect(busy.idleTime(now: 100) == 0)
        #expect(store.removeIdle(olderThan: 50, now: 100).map(\.id) == ["idle"])
        #expect(!store.contains(id: "idle"))
        #expect(store.contains(id: "busy") && store.contains(id: "recent"))
        busy.endActivity(now: 100)
        #expect(store.removeIdle(olderThan: 50, now: 160).count == 2)
        #expect(store.count == 0)
    }

    @Test func subscriptionsAndLevel() {
        let s = session("s")
        s.setSubscribed("test://a", true)
        s.setSubscribed("test://b", true)
        s.setSubscribed("test://a", false)
        #expect(s.subscriptions == ["test://b"])
        #expect(s.logLevel == nil)
        s.logLevel = .error
        #expect(s.logLevel == .error)
        #expect(LoggingLevel.debug < .emergency)
        #expect(LoggingLevel.allCases.count == 8)
    }
}

@Suite struct SchemaValidatorTests {
    @Test func aPatternIsMatchedAnywhereUnlessAnchoredAndABrokenOneNeverRejects() {
        let v = SchemaValidator()
        let code: Value = ["type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"]
        #expect(v.firstViolation(of: "ABC-42", against: code) == nil)
        #expect(v.firstViolation(of: "abc-42", against: code, path: "arguments.code") == "arguments.code must match the pattern ^[A-Z]{3}-[0-9]+$")
        #expect(v.firstViolation(of: "xABC-42", against: code) != nil)
        // Unanchored: anywhere in the string (JSON Schema's rule), Unicode included.
        #expect(v.firstViolation(of: "naïve@例え.jp", against: ["type": "string", "pattern": "@"]) == nil)
        #expect(v.firstViolation(of: "nobody", against: ["type": "string", "pattern": "@"]) != nil)
        // The server's own mistake does not turn clients away.
        #expect(v.firstViolation(of: "anything", against: ["type": "string", "pattern": "(unclosed"]) == nil)
        #expect(SchemaValidator.regex("(unclosed") == nil)
        // ECMA-262's meaning, not ICU's: `$` is the very end, `\d` and `\w` are ASCII.
        #expect(v.firstViolation(of: "ABC-42\n", against: code) != nil)
        #expect(v.firstViolation(of: "ABC-42\u{2028}", against: code) != nil)
        #expect(v.firstViolation(of: "١٢", against: ["type": "string", "pattern": "^\\d+$"]) != nil)
        #expect(v.firstViolation(of: "12", against: ["type": "string", "pattern": "^\\d+$"]) == nil)
        #expect(v.firstViolation(of: "é", against: ["type": "string", "pattern": "^\\w$"]) != nil)
        #expect(v.firstViolation(of: "a$", against: ["type": "string", "pattern": "^a[$]$"]) == nil)
        #expect(v.firstViolation(of: "a$", against: ["type": "string", "pattern": "^a\\$$"]) == nil)
        #expect(v.firstViolation(of: "7", against: ["type": "string", "pattern": "^[\\d]$"]) == nil)
        #expect(v.firstViolation(of: "[", against: ["type": "string", "pattern": "^[[]$"]) == nil)
        #expect(SchemaValidator.icuPattern("^\\d[\\w-]$") == "^[0-9][A-Za-z0-9_-](?![\\s\\S])")
        // Not a string: the keyword does not apply.
        #expect(v.firstViolation(of: 7, against: ["pattern": "^x$"]) == nil)
    }

    @Test func typedToolsCheckTheirFieldsPatterns() async throws {
        struct Order: Decodable, SchemaDescribed {
            var code: String
            static let fields: [String: FieldSchema] = ["code": .init("An order code", pattern: "^[A-Z]{3}-[0-9]+$")]
        }
        let server = makeServer()
        server.registerTool(name: "order") { (order: Order, _) in .text(order.code) }
        let ok = try await call(server, "tools/call", ["name": "order", "arguments": ["code": "ABC-1"]]).get()
        #expect(ok["content"]?.arrayValue?.first?["text"] == "ABC-1")
        let refused = failure(await call(server, "tools/call", ["name": "order", "arguments": ["code": "abc"]]))
        #expect(refused?.code == MCPError.Code.invalidParams)
        #expect(refused?.message.contains("arguments.code must match the pattern") == true)
    }

    let schema: Value = [
        "type": "object",
        "properties": [
            "name": ["type": "string", "minLength": 1, "maxLength": 5],
            "age": ["type": "integer", "minimum": 0, "maximum": 150],
            "score": ["type": "number"],
            "tags": ["type": "array", "items": ["type": "string"]],
            "status": ["type": "string", "enum": ["a", "b"]],
            "maybe": ["type": ["string", "null"]],
            "flag": ["type": "boolean"],
        ],
        "required": ["name"],
        "additionalProperties": false,
    ]

    @Test func acceptsConformingValues() {
        let v = SchemaValidator()
        #expect(v.firstViolation(of: ["name": "bob"], against: schema) == nil)
        #expect(
            v.firstViolation(
                of: ["name": "bob", "age": 3.0, "score": 1, "tags": ["x"], "status": "a", "maybe": nil, "flag": true],
                against: schema) == nil)
        #expect(v.firstViolation(of: "anything", against: true) == nil)
    }

    static let violations: [(Value, String)] = [
        (["age": 1], "arguments.name is required"),
        (["name": 1], "arguments.name must be of type string, got integer"),
        (["name": ""], "arguments.name is shorter than 1"),
        (["name": "toolong"], "arguments.name is longer than 5"),
        (["name": "a", "age": 1.5], "arguments.age must be of type integer, got number"),
        (["name": "a", "age": -1], "arguments.age must be ≥ 0.0"),
        (["name": "a", "age": 200], "arguments.age must be ≤ 150.0"),
        (["name": "a", "tags": ["x", 2]], "arguments.tags[1] must be of type string, got integer"),
        (["name": "a", "status": "c"], #"arguments.status must be one of ["a","b"]"#),
        (["name": "a", "extra": 1], "arguments.extra is not allowed"),
        (["name": "a", "maybe": 1], "arguments.maybe must be of type string or null, got integer"),
        ("x", "arguments must be of type object, got string"),
    ]

    @Test(arguments: violations)
    func reportsTheFirstViolation(_ value: Value, _ message: String) {
        #expect(SchemaValidator().firstViolation(of: value, against: schema) == message)
    }
}

@Suite struct ProtocolTypeTests {
    @Test func contentValues() {
        #expect(Content.text("t").value == ["type": "text", "text": "t"])
        #expect(Content.audio(data: "d", mimeType: "audio/wav").value["type"] == "audio")
        #expect(Content.image(data: "d", mimeType: "image/png").value["mimeType"] == "image/png")
        let blob = Content.resource(.blob("AA==", uri: "u", mimeType: "image/png")).value
        #expect(blob["resource"]?["blob"] == "AA==")
        let link = Content.resourceLink(uri: "u", name: "n", mimeType: "text/plain", description: "d").value
        #expect(link["type"] == "resource_link" && link["description"] == "d" && link["mimeType"] == "text/plain")
        #expect(ToolResult.error("x").value["isError"] == true)
        #expect(Implementation(name: "n", version: "1", title: "T").value["title"] == "T")
        #expect(Implementation(["name": "n"]) == nil)
    }

    @Test func versions() {
        #expect(ProtocolVersion.v2025_03_26.allowsBatches)
        #expect(!ProtocolVersion.v2025_11_25.allowsBatches)
        #expect(ProtocolVersion.v2024_11_05 < .v2025_11_25)
        #expect(ProtocolVersion.negotiate(requested: nil) == .v2025_11_25)
        #expect(ProtocolVersion.assumedWhenMissing.description == "2025-03-26")
    }
}

@Suite struct ShardedSessionStoreTests {
    func session(_ id: String, now: Double = 0) -> Session {
        Session(id: id, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: nil, now: now)
    }

    @Test func capacityHoldsAcrossShards() {
        let store = InMemorySessionStore(capacity: 50)
        var accepted = 0
        for i in 0..<200 where store.insert(session("n1.id\(i)")) { accepted += 1 }
        #expect(accepted == 50)
        #expect(store.count == 50)
        #expect(store.isFull)
        #expect(store.remove(id: "n1.id0")?.id == "n1.id0")
        #expect(store.count == 49)
        #expect(!store.isFull)
        #expect(store.insert(session("n1.other")))
        #expect(!store.insert(session("n1.another")))
    }

    @Test func concurrentInsertsNeverExceedTheCapacity() async {
        let store = InMemorySessionStore(capacity: 1_000)
        let accepted = await withTaskGroup(of: Int.self) { group in
            for t in 0..<8 {
                group.addTask {
                    var n = 0
                    for i in 0..<400 where store.insert(self.session("t\(t).\(i)")) { n += 1 }
                    return n
                }
            }
            return await group.reduce(0, +)
        }
        #expect(accepted == 1_000)
        #expect(store.count == 1_000)
        let removed = store.removeIdle(olderThan: 0, now: 10)
        #expect(removed.count == 1_000)
        #expect(store.count == 0)
        #expect(store.session(id: "t0.0") == nil)
    }
}

@Suite struct RandomBase62Tests {
    @Test func lengthAlphabetAndSpread() {
        let alphabet = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        #expect(SessionIDGenerator.randomBase62(count: 0) == "")
        for count in [1, 7, 8, 9, 22, 64] {
            let s = SessionIDGenerator.randomBase62(count: count)
            #expect(s.count == count)
            #expect(s.allSatisfy(alphabet.contains))
        }
        // 62,000 characters: each of the 62 should come about 1,000 times (bounds far outside chance).
        var counts: [Character: Int] = [:]
        for _ in 0..<1_000 {
            for c in SessionIDGenerator.randomBase62(count: 62) { counts[c, default: 0] += 1 }
        }
        #expect(counts.count == 62)
        #expect(counts.values.allSatisfy { $0 > 750 && $0 < 1_250 })
        let ids = Set((0..<1_000).map { _ in SessionIDGenerator(nodeID: "w1").defaultID() })
        #expect(ids.count == 1_000)
        #expect(ids.allSatisfy { $0.hasPrefix("w1.") && $0.count == 25 })
    }
}
