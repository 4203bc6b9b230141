import Foundation
import Synchronization
import Testing

@testable import MCPHandlers

/// URL-mode elicitation (2025-11-25), typed: the request, the answers, the completion notification and the -32042
/// error that asks for one.
@Suite struct URLElicitationTests {
    let link = URLElicitation(message: "Connect your calendar", url: "https://calendar.example.com/c", elicitationID: "e-1")

    func urlCapableContext(_ reply: Result<Value, MCPError>, capabilities: Value = ["elicitation": ["url": [:]]])
        async throws -> (RequestContext, RecordingOutbound)
    {
        let server = makeServer()
        let session = try await initialize(server, capabilities: capabilities)
        let outbound = RecordingOutbound(reply: reply)
        return (context(session, outbound: outbound), outbound)
    }

    @Test(arguments: [("accept", URLElicitationAnswer.accepted), ("decline", .declined), ("cancel", .cancelled)])
    func theUserAnswerIsTyped(_ action: String, _ expected: URLElicitationAnswer) async throws {
        let (ctx, outbound) = try await urlCapableContext(.success(["action": .string(action)]))
        #expect(try await ctx.elicit(link) == expected)
        let sent = try #require(outbound.notifications.first)
        #expect(sent.method == "elicitation/create")
        #expect(
            sent.params
                == ["mode": "url", "message": "Connect your calendar", "url": "https://calendar.example.com/c",
                    "elicitationId": "e-1"])
    }

    @Test func aClientWithoutURLModeIsNotAskedAndTheErrorSaysWhatToDo() async throws {
        // `elicitation: {}` means form mode only.
        let (ctx, outbound) = try await urlCapableContext(.success(["action": "accept"]), capabilities: ["elicitation": [:]])
        let error = await #expect(throws: MCPError.self) { try await ctx.elicit(link) }
        #expect(error?.code == MCPError.Code.invalidRequest)
        #expect(error?.message.contains("urlElicitationRequired") == true)
        #expect(outbound.notifications.isEmpty)
    }

    @Test func aStatelessClientWithoutURLModeIsMinus32021NamingIt() async throws {
        let server = Stateless.server()
        server.registerTool(Tool(name: "connect")) { _, context in
            _ = try await context.elicit(URLElicitation(message: "m", url: "https://a.example"))
            return .text("asked")
        }
        let outcome = await server.handleStateless(
            Stateless.request("tools/call", ["name": "connect"], meta: Stateless.meta(capabilities: ["elicitation": [:]])),
            headers: nil, user: nil)
        #expect(Stateless.error(outcome)?.code == MCPError.Code.missingRequiredClientCapability)
        #expect(Stateless.error(outcome)?.data?["requiredCapabilities"] == ["elicitation": ["url": [:]]])
    }

    @Test func aClientOfOneModeIsNotAskedInTheOther() async throws {
        struct Name: Decodable, Sendable { var name: String }
        // URL mode only: no form.
        let (urlOnly, sent) = try await urlCapableContext(.success(["action": "accept", "content": ["name": "Ada"]]))
        let error = await #expect(throws: MCPError.self) { try await urlOnly.elicit("Name?", as: Name.self) }
        #expect(error?.code == MCPError.Code.invalidRequest)
        #expect(error?.message.contains("form-mode") == true)
        #expect(sent.notifications.isEmpty)
        // Forms declared explicitly, or by an empty object.
        for capabilities: Value in [["elicitation": ["form": [:]]], ["elicitation": [:]], ["elicitation": ["form": [:], "url": [:]]]] {
            let (ctx, _) = try await urlCapableContext(
                .success(["action": "accept", "content": ["name": "Ada"]]), capabilities: capabilities)
            #expect(try await ctx.elicit("Name?", as: Name.self).form?.name == "Ada")
        }
    }

    @Test func anUnknownActionIsInvalidParams() async throws {
        let (ctx, _) = try await urlCapableContext(.success(["action": "later"]))
        let error = await #expect(throws: MCPError.self) { try await ctx.elicit(link) }
        #expect(error?.code == MCPError.Code.invalidParams)
        #expect(error?.message.contains("later") == true)
    }

    @Test func eachElicitationGetsItsOwnID() {
        let first = URLElicitation(message: "m", url: "https://a.example")
        let second = URLElicitation(message: "m", url: "https://a.example")
        #expect(first.elicitationID != second.elicitationID)
        #expect(UUID(uuidString: first.elicitationID) != nil)
    }

    @Test func completionGoesOnTheRequestsStreamOrToTheSession() async throws {
        let (ctx, outbound) = try await urlCapableContext(.success([:]))
        await ctx.completeElicitation("e-1")
        #expect(outbound.notifications.map(\.method) == ["notifications/elicitation/complete"])
        #expect(outbound.notifications.first?.params == ["elicitationId": "e-1"])

        let server = makeServer()
        #expect(!server.notifyElicitationComplete("e-2", sessionID: "s-1"))  // no transport yet
        // The transport's sink says whether the session has a stream here: the answer is passed on.
        let delivered = Mutex<[(String, Value)]>([])
        server.setClientMessageSink { sessionID, message in
            delivered.withLock { $0.append((sessionID, message)) }
            return sessionID == "s-1"
        }
        #expect(server.notifyElicitationComplete("e-2", sessionID: "s-1"))
        #expect(!server.notifyElicitationComplete("e-3", sessionID: "elsewhere"))
        let first = try #require(delivered.withLock { $0.first })
        #expect(first.0 == "s-1")
        #expect(
            first.1 == ["jsonrpc": "2.0", "method": "notifications/elicitation/complete", "params": ["elicitationId": "e-2"]])
    }

    @Test func aToolThatNeedsAPageAnswersMinus32042WithIt() async throws {
        let server = makeServer()
        server.registerTool(Tool(name: "events")) { _, _ in
            throw MCPError.urlElicitationRequired([link], message: "Connect your calendar first.")
        }
        let session = try await initialize(server, capabilities: ["elicitation": ["url": [:]]])
        let error = try #require(failure(await call(server, "tools/call", ["name": "events"], session: session)))
        #expect(error.code == -32042)
        #expect(error.message == "Connect your calendar first.")
        #expect(error.data == ["elicitations": [link.value]])
    }
}

/// Icons (2025-11-25) on every object that has them, and typed registration passing them on.
@Suite struct IconTests {
    let icon = Icon(src: "https://example.com/sun.svg", mimeType: "image/svg+xml", sizes: ["any"], theme: .dark)

    @Test func anIconListsOnlyWhatIsSet() {
        #expect(Icon(src: "data:image/png;base64,AA==").value == ["src": "data:image/png;base64,AA=="])
        #expect(
            icon.value == ["src": "https://example.com/sun.svg", "mimeType": "image/svg+xml", "sizes": ["any"], "theme": "dark"])
    }

    @Test func everyDescribedObjectCarriesItsIcons() {
        let icons: Value = [icon.value]
        #expect(Tool(name: "t", icons: [icon]).value["icons"] == icons)
        #expect(Prompt(name: "p", icons: [icon]).value["icons"] == icons)
        #expect(Resource(uri: "r://1", name: "r", icons: [icon]).value["icons"] == icons)
        #expect(ResourceTemplate(uriTemplate: "r://{id}", name: "r", icons: [icon]).value["icons"] == icons)
        let implementation = Implementation(name: "s", version: "1", icons: [icon], websiteURL: "https://example.com")
        #expect(implementation.value["icons"] == icons)
        #expect(implementation.value["websiteUrl"] == "https://example.com")
        // None: no member at all.
        #expect(Tool(name: "t").value["icons"] == nil)
        #expect(Implementation(name: "s", version: "1").value["websiteUrl"] == nil)
    }

    @Test func theRegistrationsByFieldsTakeIcons() async throws {
        let server = makeServer()
        server.registerPrompt(name: "p", icons: [icon]) { _, _ in [] }
        server.registerResource(uri: "r://1", name: "r", icons: [icon]) { _, _ in [] }
        server.registerResourceTemplate(uriTemplate: "r://{id}/x", name: "t", icons: [icon]) { _, _, _ in [] }
        let icons: Value = [icon.value]
        #expect(try await call(server, "prompts/list").get()["prompts"]?.arrayValue?.first?["icons"] == icons)
        #expect(try await call(server, "resources/list").get()["resources"]?.arrayValue?.first?["icons"] == icons)
        let templates = try await call(server, "resources/templates/list").get()["resourceTemplates"]?.arrayValue
        #expect(templates?.first?["icons"] == icons)
    }

    struct Query: Decodable { var city: String }
    struct Answer: Codable { var city: String }

    @Test func typedToolsListTheirIcons() async throws {
        let server = makeServer()
        server.registerTool(name: "plain", icons: [icon]) { (_: Query, _) in .text("ok") }
        server.registerTool(name: "typed", icons: [icon]) { (query: Query, _) in Answer(city: query.city) }
        let listed = try await call(server, "tools/list").get()
        let tools = listed["tools"]?.arrayValue ?? []
        for name in ["plain", "typed"] {
            let tool = try #require(tools.first { $0["name"] == .string(name) })
            #expect(tool["icons"] == [icon.value])
        }
    }
}

/// The official Swift SDK's names resolve to this library's types.
@Suite struct OfficialSDKNameTests {
    @Test func theSDKsNamesAreThisLibrarysTypes() {
        let result: CallTool.Result = .text("ok")
        let block: Tool.Content = .text("ok")
        #expect(result.content == [block])
        let argument: Prompt.Argument = .init(name: "code", required: true)
        let message: Prompt.Message = .user(.text("hi"))
        #expect(Prompt(name: "p", arguments: [argument]).arguments.first?.name == "code")
        #expect(message.role == .user)
        let contents: Resource.Content = .text("x", uri: "r://1")
        let template: Resource.Template = .init(uriTemplate: "r://{id}", name: "r")
        #expect(contents.uri == "r://1")
        #expect(template.uriTemplate == "r://{id}")
    }
}
