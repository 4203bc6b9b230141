import Testing

@testable import MCPHandlers

@Suite struct StatelessProtocolTests {
    @Test func versionEras() {
        #expect(ProtocolVersion.v2026_07_28.era == .stateless)
        #expect(ProtocolVersion.v2025_11_25.era == .session)
        #expect(ProtocolVersion.statelessEra == [.v2026_07_28])
    }

    @Test func discoverAdvertisesVersionsCapabilitiesAndIdentity() async throws {
        let server = Stateless.server()
        let outcome = await server.handleStateless(Stateless.request("server/discover"), headers: nil, user: nil)
        #expect(outcome.disposition == .result)
        let result = try Stateless.value(outcome)
        #expect(result["supportedVersions"] == ["2026-07-28"])
        #expect(result["capabilities"]?["tools"] != nil)
        #expect(result["instructions"] == "be nice")
        #expect(result["resultType"] == "complete")
        #expect(result["ttlMs"] == 0)
        #expect(result["cacheScope"] == "private")
        #expect(result["_meta"]?[StatelessRequestMeta.serverInfoKey]?["name"] == "stateless-test")
    }

    @Test func metaIsParsed() throws {
        let meta = try StatelessRequestMeta(
            params: ["_meta": Stateless.meta(logLevel: "warning", progressToken: "p1")])
        #expect(meta.protocolVersion == "2026-07-28")
        #expect(meta.clientInfo?.name == "tester")
        #expect(meta.clientCapabilities["sampling"] != nil)
        #expect(meta.logLevel == .warning)
        #expect(meta.progressToken == "p1")
        #expect(StatelessRequestMeta.isPresent(in: ["_meta": Stateless.meta()]))
        #expect(!StatelessRequestMeta.isPresent(in: ["_meta": ["progressToken": 1]]))
    }

    @Test(arguments: [
        Value.object([:]),
        ["_meta": [:]],
        ["_meta": [StatelessRequestMeta.protocolVersionKey: "2026-07-28"]],
        ["_meta": [StatelessRequestMeta.clientCapabilitiesKey: [:]]],
        ["_meta": [StatelessRequestMeta.protocolVersionKey: 5, StatelessRequestMeta.clientCapabilitiesKey: [:]]],
    ])
    func missingRequiredMetaIsInvalidParams(params: Value) async {
        let server = Stateless.server()
        let outcome = await server.handleStateless(
            JSONRPCRequest(id: .number(3), method: "tools/list", params: params), headers: nil, user: nil)
        #expect(Stateless.error(outcome)?.code == MCPError.Code.invalidParams)
        #expect(outcome.disposition == .rejected)
    }

    @Test func unsupportedVersionListsSupported() async {
        let server = Stateless.server()
        let outcome = await server.handleStateless(
            Stateless.request("tools/list", meta: Stateless.meta(version: "1900-01-01")), headers: nil, user: nil)
        let error = Stateless.error(outcome)
        #expect(error?.code == -32022)
        #expect(error?.data?["supported"] == ["2026-07-28"])
        #expect(error?.data?["requested"] == "1900-01-01")
        #expect(outcome.disposition == .rejected)
        // A session-era version in _meta is not served statelessly either.
        let legacy = await server.handleStateless(
            Stateless.request("tools/list", meta: Stateless.meta(version: "2025-11-25")), headers: nil, user: nil)
        #expect(Stateless.error(legacy)?.code == -32022)
    }

    @Test(arguments: [
        (StatelessHeaders(protocolVersion: "2026-07-28", method: "tools/call", name: "echo"), nil as Int?),
        (StatelessHeaders(protocolVersion: "2026-07-28", method: "tools/call", name: "=?base64?ZWNobw==?="), nil),
        (StatelessHeaders(protocolVersion: nil, method: "tools/call", name: "echo"), -32020),
        (StatelessHeaders(protocolVersion: "2025-11-25", method: "tools/call", name: "echo"), -32020),
        (StatelessHeaders(protocolVersion: "2026-07-28", method: "tools/list", name: "echo"), -32020),
        (StatelessHeaders(protocolVersion: "2026-07-28", method: nil, name: "echo"), -32020),
        (StatelessHeaders(protocolVersion: "2026-07-28", method: "tools/call", name: nil), -32020),
        (StatelessHeaders(protocolVersion: "2026-07-28", method: "tools/call", name: "other"), -32020),
        (StatelessHeaders(protocolVersion: "2026-07-28", method: "tools/call", name: "=?base64?!!?="), -32020),
    ])
    func headersMustMatchBody(headers: StatelessHeaders, code: Int?) async {
        let server = Stateless.server()
        let outcome = await server.handleStateless(
            Stateless.request("tools/call", ["name": "echo", "arguments": ["text": "hi"]]), headers: headers,
            user: nil)
        #expect(Stateless.error(outcome)?.code == code)
        #expect(outcome.disposition == (code == nil ? .result : .rejected))
    }

    @Test(arguments: [
        (["region": "us-west1"], ["Region": "us-west1"], nil as Int?),
        (["region": "us-west1", "n": 42], ["region": "us-west1", "Count": "42.0"], nil),
        (["region": "日本"], ["REGION": "=?base64?5pel5pys?="], nil),
        (["region": "us-west1"], [:], -32020),
        (["region": "us-west1"], ["Region": "eu"], -32020),
        ([:], ["Region": "eu"], -32020),
        (["region": "us-west1", "n": 42], ["Region": "us-west1", "Count": "43"], -32020),
    ] as [(Value, [String: String], Int?)])
    func paramHeadersMustMatchAnnotatedArguments(arguments: Value, params: [String: String], code: Int?) async {
        let server = Stateless.server()
        server.registerTool(
            Tool(
                name: "sql",
                inputSchema: [
                    "type": "object",
                    "properties": [
                        "region": ["type": "string", "x-mcp-header": "Region"],
                        "n": ["type": "integer", "x-mcp-header": "Count"],
                    ],
                ])
        ) { _, _ in .text("ok") }
        let outcome = await server.handleStateless(
            Stateless.request("tools/call", ["name": "sql", "arguments": arguments]),
            headers: StatelessHeaders(protocolVersion: "2026-07-28", method: "tools/call", name: "sql", params: params),
            user: nil)
        #expect(Stateless.error(outcome)?.code == code)
    }

    @Test func resourceReadNameHeaderIsTheURI() async {
        let server = Stateless.server()
        let ok = await server.handleStateless(
            Stateless.request("resources/read", ["uri": "test://doc"]),
            headers: StatelessHeaders(protocolVersion: "2026-07-28", method: "resources/read", name: "test://doc"),
            user: nil)
        #expect(ok.disposition == .result)
        let wrong = await server.handleStateless(
            Stateless.request("resources/read", ["uri": "test://doc"]),
            headers: StatelessHeaders(protocolVersion: "2026-07-28", method: "resources/read", name: "test://x"),
            user: nil)
        #expect(Stateless.error(wrong)?.code == -32020)
    }

    @Test(arguments: ["no/such/method", "ping", "initialize", "logging/setLevel", "resources/subscribe"])
    func unknownAndSessionOnlyMethodsAre404(method: String) async {
        let server = Stateless.server()
        let outcome = await server.handleStateless(Stateless.request(method), headers: nil, user: nil)
        #expect(Stateless.error(outcome)?.code == MCPError.Code.methodNotFound)
        #expect(outcome.disposition == .unknownMethod)
    }

    @Test func toolCallCompletesWithResultType() async throws {
        let server = Stateless.server()
        let outcome = await server.handleStateless(
            Stateless.request("tools/call", ["name": "echo", "arguments": ["text": "hi"]]), headers: nil, user: nil)
        let result = try Stateless.value(outcome)
        #expect(result["resultType"] == "complete")
        #expect(result["content"]?[0]?["text"] == "hi")
        #expect(result["ttlMs"] == nil)
        #expect(result["_meta"]?[StatelessRequestMeta.serverInfoKey]?["version"] == "9.9")
        #expect(String(decoding: outcome.body, as: UTF8.self).contains("\"resultType\":\"complete\""))
    }

    @Test func cachingHintsOnCacheableResults() async throws {
        let hints = CacheHints(
            tools: CacheHint(ttlMs: 60_000, scope: .public), resourceRead: CacheHint(ttlMs: 5_000))
        let server = Stateless.server(cacheHints: hints)
        let tools = try Stateless.value(await server.handleStateless(Stateless.request("tools/list"), headers: nil, user: nil))
        #expect(tools["ttlMs"] == 60_000)
        #expect(tools["cacheScope"] == "public")
        for method in ["prompts/list", "resources/list", "resources/templates/list"] {
            let result = try Stateless.value(await server.handleStateless(Stateless.request(method), headers: nil, user: nil))
            #expect(result["ttlMs"] == 0)
            #expect(result["cacheScope"] == "private")
        }
        let read = try Stateless.value(
            await server.handleStateless(Stateless.request("resources/read", ["uri": "test://doc"]), headers: nil, user: nil))
        #expect(read["ttlMs"] == 5_000)
        #expect(read["contents"]?[0]?["text"] == "hello")
        // The session era is left as it was.
        let legacy = try await call(server, "tools/list").get()
        #expect(legacy["ttlMs"] == nil)
        #expect(legacy["resultType"] == nil)
    }

    @Test func unknownResourceIsInvalidParams() async {
        let server = Stateless.server()
        let outcome = await server.handleStateless(
            Stateless.request("resources/read", ["uri": "test://missing"]), headers: nil, user: nil)
        #expect(Stateless.error(outcome)?.code == MCPError.Code.invalidParams)
        #expect(outcome.disposition == .rejected)
    }

    @Test func missingCapabilityIs32021() async throws {
        let server = Stateless.server()
        let outcome = await server.handleStateless(
            Stateless.request("tools/call", ["name": "needs_sampling"], meta: Stateless.meta(capabilities: [:])),
            headers: nil, user: nil)
        let error = Stateless.error(outcome)
        #expect(error?.code == -32021)
        #expect(error?.data?["requiredCapabilities"] == ["sampling": [:]])
        #expect(outcome.disposition == .rejected)
        let ok = await server.handleStateless(
            Stateless.request("tools/call", ["name": "needs_sampling"]), headers: nil, user: nil)
        #expect(try Stateless.value(ok)["content"]?[0]?["text"] == "ok")
        // An input request the client cannot answer is -32021 too, never an input_required.
        let elicit = await server.handleStateless(
            Stateless.request("tools/call", ["name": "greet"], meta: Stateless.meta(capabilities: ["sampling": [:]])),
            headers: nil, user: nil)
        #expect(Stateless.error(elicit)?.data?["requiredCapabilities"] == ["elicitation": [:]])
    }

    @Test func logsOnlyWhenMetaSetsALevel() async throws {
        let server = Stateless.server()
        let quiet = ScriptedOutbound()
        _ = await server.handleStateless(
            Stateless.request("tools/call", ["name": "chatty"]), headers: nil, outbound: quiet, user: nil)
        #expect(quiet.methods.isEmpty)
        let loud = ScriptedOutbound()
        _ = await server.handleStateless(
            Stateless.request(
                "tools/call", ["name": "chatty"], meta: Stateless.meta(logLevel: "info", progressToken: "t")),
            headers: nil, outbound: loud, user: nil)
        #expect(loud.methods == ["notifications/message", "notifications/progress"])
        #expect(loud.notifications.first?.params?["data"] == "warning line")
    }
}
