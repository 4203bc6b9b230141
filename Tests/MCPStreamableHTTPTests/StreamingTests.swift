import HTTPTypes
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

func callBody(_ tool: String, id: Int = 2, arguments: String = "{}", meta: String = "") -> String {
    #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":\#(arguments)\#(meta)}}"#
}

/// Attaches a collector to a streamed response.
func collect(_ response: HTTPServerResponse) throws -> CollectingSink {
    let stream = try #require(response.stream)
    let sink = CollectingSink()
    stream.attach(sink)
    return sink
}

@Suite struct PostStreamingTests {
    @Test func quickResultIsJSON() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("echo", arguments: #"{"text":"x"}"#))
        #expect(response.stream == nil)
        #expect(response.head.headerFields[.contentType] == "application/json")
    }

    @Test func notificationsSwitchToSSE() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("log3"))
        #expect(response.head.headerFields[.contentType] == "text/event-stream")
        #expect(response.head.headerFields[.cacheControl] == "no-cache, no-transform")
        #expect(response.head.headerFields[HTTPField.Name("X-Accel-Buffering")!] == "no")
        let sink = try collect(response)
        await sink.waitForFinish()
        let events = sink.events
        #expect(sink.text.hasPrefix("id: 1-0\nretry: 1000\ndata: \n\n"))
        #expect(events.map(\.id) == ["1-0", "1-1", "1-2", "1-3", "1-4"])
        #expect(events[1...3].map { $0.data?["params"]?["data"] } == ["step 1", "step 2", "step 3"])
        #expect(events[4].data?["id"] == 2)
        #expect(events[4].data?["result"]?["content"]?.arrayValue?.first?["text"] == "logged")
    }

    @Test func eventStreamOnlyClientsAlwaysGetSSE() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let response = await post(app, session: session, #"{"jsonrpc":"2.0","id":"p","method":"ping"}"#, accept: "text/event-stream")
        let sink = try collect(response)
        await sink.waitForFinish()
        #expect(sink.events.last?.data == ["jsonrpc": "2.0", "id": "p", "result": [:]])
    }

    @Test func jsonOnlyClientsGetJSONAndNoNotifications() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("log3"), accept: "application/json")
        #expect(response.stream == nil)
        #expect(try json(response)["result"]?["content"]?.arrayValue?.first?["text"] == "logged")
        let asked = await post(app, session: session, callBody("ask"), accept: "application/json")
        #expect(try json(asked)["error"] != nil)
    }

    @Test func jsonOnlyMode() async throws {
        let app = makeApp(endpoint: .init(responseMode: .jsonOnly))
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("log3"))
        #expect(response.stream == nil)
        #expect(try json(response)["result"] != nil)
        let get = await app.respond(
            to: request(.get, "/mcp", headers: [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)]))
        #expect(get.head.status == .methodNotAllowed)
        #expect(get.head.headerFields[.allow] == "DELETE, POST")
    }

    @Test func slowHandlersAreStreamedAfterTheThreshold() async throws {
        let app = makeApp(endpoint: .init(streamingThreshold: .milliseconds(20)))
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("slow"))
        let sink = try collect(response)
        await sink.waitForFinish()
        #expect(sink.events.first?.id == "1-0")
        #expect(sink.events.last?.data?["result"]?["content"]?.arrayValue?.first?["text"] == "done")
    }

    @Test func samplingRoundTrip() async throws {
        let app = makeApp()
        let session = try await openSession(app, version: "2025-11-25", capabilities: #"{"sampling":{}}"#)
        let response = await post(app, session: session, callBody("ask", id: 7))
        let sink = try collect(response)
        await sink.waitFor { $0.count >= 2 }
        let ask = try #require(sink.events.last?.data)
        #expect(ask["method"] == "sampling/createMessage")
        let askID = try #require(ask["id"])
        #expect(askID.stringValue?.hasPrefix("srv-") == true)
        let answer = await post(
            app, session: session,
            #"{"jsonrpc":"2.0","id":\#(askID),"result":{"role":"assistant","content":{"type":"text","text":"hello"},"model":"m"}}"#)
        #expect(answer.head.status == .accepted)
        await sink.waitForFinish()
        #expect(sink.events.last?.data?["id"] == 7)
        #expect(sink.events.last?.data?["result"]?["content"]?.arrayValue?.first?["text"] == "reply: hello")
    }

    @Test func samplingWithoutCapabilityFails() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("ask"))
        #expect(try json(response)["error"]?["code"] == -32600)
    }

    @Test func disconnectCancelsTheHandlerAfterTheGracePeriod() async throws {
        let app = makeApp(endpoint: .init(streamingThreshold: .milliseconds(10), resumeGracePeriod: .milliseconds(20)))
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("forever"))
        let stream = try #require(response.stream)
        let sink = CollectingSink()
        stream.attach(sink)
        #expect(app.endpoint.server.inFlightRequestCount == 1)
        stream.clientDisconnected()
        #expect(stream.isClosed)
        #expect(!stream.write([1]))
        for _ in 0..<200 where app.endpoint.server.inFlightRequestCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(app.endpoint.server.inFlightRequestCount == 0)
    }

    @Test func cancelledRequestGetsNoResponseEvent() async throws {
        let app = makeApp(endpoint: .init(streamingThreshold: .milliseconds(10)))
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("forever", id: 9))
        let sink = try collect(response)
        let cancel = await post(
            app, session: session, #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#)
        #expect(cancel.head.status == .accepted)
        await sink.waitForFinish()
        #expect(sink.isFinished)
        #expect(sink.events.allSatisfy { $0.data?["id"] == nil })
    }
}

@Suite struct StandaloneStreamTests {
    func get(_ app: MCPApplication, session: String?, lastEventID: String? = nil, accept: String? = "text/event-stream")
        async -> HTTPServerResponse
    {
        var headers: [(String, String)] = []
        if let accept { headers.append(("Accept", accept)) }
        if let session { headers.append(("Mcp-Session-Id", session)) }
        if let lastEventID { headers.append(("Last-Event-ID", lastEventID)) }
        return await app.respond(to: request(.get, "/mcp", headers: headers))
    }

    @Test func getStreamCarriesServerMessagesToExactlyOneStream() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let first = try collect(await get(app, session: session))
        let second = try collect(await get(app, session: session))
        #expect(first.events.first?.id == "1-0")
        #expect(second.events.first?.id == "2-0")
        let subscribe = await post(
            app, session: session, #"{"jsonrpc":"2.0","id":3,"method":"resources/subscribe","params":{"uri":"test://r"}}"#)
        #expect(try json(subscribe)["result"] == [:])
        #expect(await app.endpoint.server.notifyResourceUpdated(uri: "test://r") == 1)
        app.endpoint.server.registerTool(Tool(name: "late")) { _, _ in .text("late") }
        let all = { (first.events + second.events).compactMap { $0.data?["method"]?.stringValue } }
        for _ in 0..<100 where all().count < 2 { try await Task.sleep(for: .milliseconds(2)) }
        #expect(all().sorted() == ["notifications/resources/updated", "notifications/tools/list_changed"])
        let deleted = await app.respond(to: request(.delete, "/mcp", headers: [("Mcp-Session-Id", session)]))
        #expect(deleted.head.status == .ok)
        await first.waitForFinish()
        await second.waitForFinish()
        #expect(first.isFinished && second.isFinished)
    }

    @Test func resumeReplaysExactlyTheMissedEvents() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let original = try collect(await post(app, session: session, callBody("log3")))
        await original.waitForFinish()
        let resumed = try collect(await get(app, session: session, lastEventID: "1-2"))
        await resumed.waitForFinish()
        #expect(resumed.events.map(\.id) == ["1-2", "1-3", "1-4"])
        #expect(resumed.events.last?.data?["result"] != nil)
    }

    @Test func reconnectionDeliversTheResultOnResume() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let response = await post(app, session: session, callBody("reconnect", id: 5))
        let first = try collect(response)
        await first.waitForFinish()
        #expect(first.events.map(\.id) == ["1-0"])
        let resumed = try collect(await get(app, session: session, lastEventID: "1-0"))
        await resumed.waitForFinish()
        #expect(resumed.events.last?.data?["id"] == 5)
        #expect(resumed.events.last?.data?["result"]?["content"]?.arrayValue?.first?["text"] == "after reconnect")
    }

    @Test(arguments: [
        (nil as String?, "text/event-stream" as String?, 400), ("unknown", "text/event-stream", 404),
        ("VALID", "application/json", 406), ("VALID", nil, 406),
    ])
    func getRefusals(_ session: String?, _ accept: String?, _ status: Int) async throws {
        let app = makeApp()
        let real = try await openSession(app)
        let id = session == "VALID" ? real : session == "unknown" ? "t1.unknown" : nil
        #expect(await get(app, session: id, accept: accept).head.status.code == status)
    }

    @Test(arguments: ["garbage", "9-1", "1-x", "0-0"])
    func badLastEventIDIs400(_ lastEventID: String) async throws {
        let app = makeApp()
        let session = try await openSession(app)
        #expect(await get(app, session: session, lastEventID: lastEventID).head.status == .badRequest)
    }

    @Test func streamsCountAsActivity() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let response = await get(app, session: session)
        let stored = try #require(try await app.endpoint.server.sessions.session(id: session))
        #expect(stored.idleTime(now: .greatestFiniteMagnitude) == 0)
        response.stream?.clientDisconnected()
        #expect(stored.idleTime(now: .greatestFiniteMagnitude) > 0)
    }
}

@Suite struct BatchTests {
    let batch = #"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":"b","method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":3,"method":"initialize"},{"bad":true}]"#

    @Test func batchesIn20250326() async throws {
        let app = makeApp()
        let session = try await openSession(app, version: "2025-03-26")
        let response = await post(app, session: session, batch)
        let answers = try #require(try json(response).arrayValue)
        #expect(answers.count == 4)
        #expect(answers[0] == ["jsonrpc": "2.0", "id": 1, "result": [:]])
        #expect(answers[1]["id"] == "b")
        #expect(answers[2]["error"]?["code"] == -32600)
        #expect(answers[3]["error"]?["code"] == -32600)
        let onlyNotifications = await post(
            app, session: session, #"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#)
        #expect(onlyNotifications.head.status == .accepted)
        #expect(await post(app, session: session, "[]").head.status == .badRequest)
    }

    @Test func batchesAreBoundedInLength() async throws {
        var settings = MCPEndpoint.Configuration.inProcessTests
        settings.maxBatchSize = 3
        let app = makeApp(endpoint: settings)
        let session = try await openSession(app, version: "2025-03-26")
        func pings(_ n: Int) -> String {
            "[" + (1...n).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"ping"}"# }.joined(separator: ",") + "]"
        }
        let fits = await post(app, session: session, pings(3))
        #expect(try #require(try json(fits).arrayValue).count == 3)
        let tooLong = await post(app, session: session, pings(4))
        #expect(tooLong.head.status == .badRequest)
        #expect(try json(tooLong)["error"]?["code"] == -32600)
        #expect(try json(tooLong)["error"]?["message"]?.stringValue?.contains("limit of 3") == true)
        #expect(MCPEndpoint.Configuration().maxBatchSize == 100)
    }

    @Test func batchesRefusedElsewhere() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        #expect(await post(app, session: session, batch).head.status == .badRequest)
        #expect(await post(app, session: nil, batch).head.status == .badRequest)
        #expect(await post(app, session: "t1.unknown", batch).head.status == .notFound)
    }
}

@Suite struct CORSTests {
    func preflight(_ app: MCPApplication, origin: String) async -> HTTPServerResponse {
        await app.respond(
            to: request(
                .options, "/mcp",
                headers: [("Origin", origin), ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "content-type, mcp-session-id")]))
    }

    @Test func preflightForAllowedOrigin() async {
        let response = await preflight(makeApp(), origin: "http://localhost:5173")
        let fields = response.head.headerFields
        #expect(response.head.status == .noContent)
        #expect(fields[.accessControlAllowOrigin] == "http://localhost:5173")
        #expect(fields[.accessControlAllowMethods] == "DELETE, GET, POST, OPTIONS")
        for header in ["Authorization", "Content-Type", "Mcp-Session-Id", "MCP-Protocol-Version", "Last-Event-ID"] {
            #expect(fields[.accessControlAllowHeaders]?.contains(header) == true)
        }
        #expect(fields[.accessControlMaxAge] == "600")
        #expect(fields[.accessControlAllowCredentials] == nil)
    }

    @Test func preflightForForeignOriginIs403() async {
        #expect(await preflight(makeApp(), origin: "https://evil.example").head.status == .forbidden)
    }

    @Test func configuredOriginsAndCredentials() async throws {
        let app = makeApp(cors: CORSPolicy(allowedOrigins: ["https://app.example"], allowCredentials: true, maxAge: 60))
        let ok = await preflight(app, origin: "https://app.example")
        #expect(ok.head.headerFields[.accessControlAllowCredentials] == "true")
        #expect(ok.head.headerFields[.accessControlMaxAge] == "60")
        #expect(await preflight(app, origin: "http://localhost").head.status == .forbidden)
    }

    @Test func actualResponsesExposeHeaders() async throws {
        let app = makeApp()
        let response = await app.respond(
            to: request(.post, "/mcp", headers: jsonHeaders + [("Origin", "http://127.0.0.1:3000")], body: initializeBody))
        let fields = response.head.headerFields
        #expect(fields[.accessControlAllowOrigin] == "http://127.0.0.1:3000")
        #expect(fields[.accessControlExposeHeaders] == "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate")
        #expect(fields[.vary] == "Origin")
        let plain = await app.respond(to: request(.get, "/health"))
        #expect(plain.head.headerFields[.accessControlAllowOrigin] == nil)
    }

    @Test func optionsWithoutPreflightListsMethods() async {
        let response = await makeApp().respond(to: request(.options, "/health"))
        #expect(response.head.status == .noContent)
        #expect(response.head.headerFields[.allow] == "GET, OPTIONS")
        #expect(await makeApp().respond(to: request(.options, "/nope")).head.status == .notFound)
    }
}

@Suite struct WireFormatTests {
    @Test func serverSentEvents() {
        #expect(String(decoding: ServerSentEvent.event(id: "1-0", data: [], retry: 500), as: UTF8.self) == "id: 1-0\nretry: 500\ndata: \n\n")
        #expect(String(decoding: ServerSentEvent.message(["a": 1], id: nil), as: UTF8.self) == "data: {\"a\":1}\n\n")
        #expect(ServerSentEvent.keepAlive == Array(": ping\n\n".utf8))
    }

    @Test func eventIDs() {
        #expect(SessionStreams.parseEventID("12-3")! == (12, 3))
    }

    @Test func responseStreamBuffersUntilAttached() async {
        let stream = ResponseStream()
        #expect(stream.write([1]))
        stream.finish()
        #expect(!stream.write([2]))
        let sink = CollectingSink()
        stream.attach(sink)
        #expect(sink.isFinished && sink.text == "\u{01}")
        await stream.waitUntilFinished()
        let closed = ResponseStream()
        closed.clientDisconnected()
        let ran = CollectingSink()
        closed.onClose { ran.finish() }
        #expect(ran.isFinished)
        closed.clientDisconnected()
        await closed.waitUntilFinished()
    }
}
