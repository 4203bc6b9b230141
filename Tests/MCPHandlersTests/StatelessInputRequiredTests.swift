import Foundation
import Testing

@testable import MCPHandlers

@Suite struct StatelessInputRequiredTests {
    private func callTool(
        _ server: MCPServer, _ name: String, inputResponses: Value? = nil, requestState: Value? = nil,
        user: String? = nil, arguments: Value = [:], id: Int = 1
    ) async -> StatelessOutcome {
        var params: [String: Value] = ["name": .string(name), "arguments": arguments]
        if let inputResponses { params["inputResponses"] = inputResponses }
        if let requestState { params["requestState"] = requestState }
        return await server.handleStateless(
            Stateless.request("tools/call", params, id: .number(id)), headers: nil, user: user)
    }

    @Test func firstCallAsksThenRetryCompletes() async throws {
        let server = Stateless.server()
        let first = try Stateless.value(await callTool(server, "greet"))
        #expect(first["resultType"] == "input_required")
        #expect(first["inputRequests"]?["user_name"]?["method"] == "elicitation/create")
        #expect(first["inputRequests"]?["user_name"]?["params"]?["message"] == "What is your name?")
        let state = try #require(first["requestState"]?.stringValue)
        let second = try Stateless.value(
            await callTool(
                server, "greet", inputResponses: ["user_name": Stateless.accept(["name": "Ada"])],
                requestState: .string(state), id: 2))
        #expect(second["resultType"] == "complete")
        #expect(second["content"]?[0]?["text"] == "Hello, Ada!")
    }

    @Test func rawClientRequestsBecomeInputRequests() async throws {
        let server = Stateless.server()
        let first = try Stateless.value(await callTool(server, "raw_request"))
        #expect(first["inputRequests"]?["sampling-1"]?["method"] == "sampling/createMessage")
        let done = try Stateless.value(
            await callTool(
                server, "raw_request",
                inputResponses: ["sampling-1": ["role": "assistant", "content": ["type": "text", "text": "yo"]]],
                requestState: first["requestState"], id: 2))
        #expect(done["content"]?[0]?["text"] == "yo")
    }

    @Test func retryWithoutTheAnswerAsksAgain() async throws {
        let server = Stateless.server()
        let first = try Stateless.value(await callTool(server, "greet"))
        let again = try Stateless.value(
            await callTool(server, "greet", inputResponses: [:], requestState: first["requestState"], id: 2))
        #expect(again["resultType"] == "input_required")
        #expect(again["inputRequests"]?["user_name"] != nil)
    }

    @Test func batchedRequestsAreListedTogether() async throws {
        let server = Stateless.server()
        let first = try Stateless.value(await callTool(server, "batch"))
        let requests = try #require(first["inputRequests"]?.objectValue)
        #expect(Set(requests.keys) == ["e", "s", "r"])
        #expect(requests["r"]?["method"] == "roots/list")
        #expect(requests["s"]?["method"] == "sampling/createMessage")
        let done = try Stateless.value(
            await callTool(
                server, "batch",
                inputResponses: [
                    "e": Stateless.accept(["name": "x"]), "s": ["role": "assistant", "content": ["type": "text", "text": "t"]],
                    "r": ["roots": []],
                ], requestState: first["requestState"], id: 2))
        #expect(done["content"]?[0]?["text"] == "e,r,s")
    }

    @Test func multiRoundCarriesAnswersAndHandlerState() async throws {
        let server = Stateless.server()
        let round1 = try Stateless.value(await callTool(server, "two_steps"))
        #expect(round1["inputRequests"]?.objectValue?.keys.sorted() == ["step1"])
        let round2 = try Stateless.value(
            await callTool(
                server, "two_steps", inputResponses: ["step1": Stateless.accept(["v": "A"])],
                requestState: round1["requestState"], id: 2))
        #expect(round2["resultType"] == "input_required")
        #expect(round2["inputRequests"]?.objectValue?.keys.sorted() == ["step2"])
        #expect(round2["requestState"] != round1["requestState"])
        // The client sends only the latest round's answers; step1 comes from the state.
        let round3 = try Stateless.value(
            await callTool(
                server, "two_steps", inputResponses: ["step2": Stateless.accept(["v": "B"])],
                requestState: round2["requestState"], id: 3))
        #expect(round3["content"]?[0]?["text"] == "A+B round 3")
    }

    @Test func answersToKeysNotAskedAreIgnored() async throws {
        let server = Stateless.server()
        let round1 = try Stateless.value(await callTool(server, "two_steps"))
        let round2 = try Stateless.value(
            await callTool(
                server, "two_steps",
                inputResponses: ["step1": Stateless.accept(["v": "A"]), "step2": Stateless.accept(["v": "sneaky"])],
                requestState: round1["requestState"], id: 2))
        #expect(round2["resultType"] == "input_required")
        #expect(round2["inputRequests"]?["step2"] != nil)
    }

    @Test func tamperedStateIsRejected() async throws {
        let server = Stateless.server()
        let first = try Stateless.value(await callTool(server, "greet"))
        let state = try #require(first["requestState"]?.stringValue)
        let parts = state.split(separator: ".").map(String.init)
        var payload = try #require(Base64URL.decode(parts[1]))
        payload[payload.count / 2] ^= 0x01
        let forged = "\(parts[0]).\(Base64URL.encode(payload)).\(parts[2])"
        for bad in [forged, state + "x", "garbage", String(state.dropLast(2))] {
            let outcome = await callTool(
                server, "greet", inputResponses: ["user_name": Stateless.accept(["name": "Eve"])],
                requestState: .string(bad), id: 2)
            #expect(Stateless.error(outcome)?.code == MCPError.Code.invalidParams, "\(bad)")
            #expect(outcome.disposition == .rejected)
        }
        // A state from another key (another deployment) fails as well.
        let other = MCPServer(
            configuration: .init(serverInfo: .init(name: "o", version: "1"), requestStateKey: Array(repeating: 9, count: 32)))
        other.registerTool(Tool(name: "greet")) { _, context in
            _ = try await context.elicit(["message": "?"], key: "user_name")
            return .text("no")
        }
        let foreign = await other.handleStateless(
            Stateless.request("tools/call", ["name": "greet", "requestState": .string(state)]), headers: nil, user: nil)
        #expect(Stateless.error(foreign)?.code == MCPError.Code.invalidParams)
    }

    @Test func expiredStateIsRejected() async throws {
        let clock = TestClock()
        let server = Stateless.server(clock: clock)
        let first = try Stateless.value(await callTool(server, "greet"))
        clock.advance(61)
        let outcome = await callTool(
            server, "greet", inputResponses: ["user_name": Stateless.accept(["name": "Ada"])],
            requestState: first["requestState"], id: 2)
        #expect(Stateless.error(outcome)?.code == MCPError.Code.invalidParams)
        #expect(Stateless.error(outcome)?.message.contains("expired") == true)
    }

    @Test func stateIsBoundToToolArgumentsAndUser() async throws {
        let server = Stateless.server()
        let first = try Stateless.value(await callTool(server, "greet", user: "alice"))
        let state = first["requestState"]
        let answers: Value = ["user_name": Stateless.accept(["name": "Ada"])]
        let otherUser = await callTool(server, "greet", inputResponses: answers, requestState: state, user: "bob")
        #expect(Stateless.error(otherUser)?.code == MCPError.Code.invalidParams)
        let otherTool = await callTool(server, "batch", inputResponses: answers, requestState: state, user: "alice")
        #expect(Stateless.error(otherTool)?.code == MCPError.Code.invalidParams)
        let otherArguments = await callTool(
            server, "greet", inputResponses: answers, requestState: state, user: "alice", arguments: ["x": 1])
        #expect(Stateless.error(otherArguments)?.code == MCPError.Code.invalidParams)
        let same = await callTool(server, "greet", inputResponses: answers, requestState: state, user: "alice")
        #expect(try Stateless.value(same)["content"]?[0]?["text"] == "Hello, Ada!")
    }

    @Test func promptsCanAskToo() async throws {
        let server = Stateless.server()
        let first = try Stateless.value(
            await server.handleStateless(Stateless.request("prompts/get", ["name": "ask_prompt"]), headers: nil, user: nil))
        #expect(first["resultType"] == "input_required")
        #expect(first["inputRequests"]?["who"] != nil)
        let done = try Stateless.value(
            await server.handleStateless(
                Stateless.request(
                    "prompts/get",
                    ["name": "ask_prompt", "inputResponses": ["who": Stateless.accept(["name": "Bo"])],
                        "requestState": first["requestState"] ?? .null]),
                headers: nil, user: nil))
        #expect(done["messages"]?[0]?["content"]?["text"] == "Hi Bo")
        // Lists never answer input_required.
        let list = try Stateless.value(
            await server.handleStateless(Stateless.request("prompts/list"), headers: nil, user: nil))
        #expect(list["resultType"] == "complete")
    }

    @Test func sameToolAsksDirectlyInTheSessionEra() async throws {
        let server = Stateless.server()
        let session = try await initialize(server, capabilities: Stateless.allCapabilities)
        let outbound = ScriptedOutbound(answers: [
            "elicitation/create": Stateless.accept(["name": "Ada", "v": "A"]),
            "sampling/createMessage": ["role": "assistant", "content": ["type": "text", "text": "t"]],
            "roots/list": ["roots": []],
        ])
        let greet = await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/call", params: ["name": "greet"]),
            context: context(session, outbound: outbound))
        #expect(try greet.get()["content"]?[0]?["text"] == "Hello, Ada!")
        #expect(outbound.methods == ["elicitation/create"])
        let batch = await server.handle(
            JSONRPCRequest(id: .number(2), method: "tools/call", params: ["name": "batch"]),
            context: context(session, outbound: outbound))
        #expect(try batch.get()["content"]?[0]?["text"] == "e,r,s")
        #expect(outbound.methods == ["elicitation/create", "elicitation/create", "sampling/createMessage", "roots/list"])
        let steps = await server.handle(
            JSONRPCRequest(id: .number(3), method: "tools/call", params: ["name": "two_steps"]),
            context: context(session, outbound: outbound))
        #expect(try steps.get()["content"]?[0]?["text"] == "-+A round 1")
    }
}
