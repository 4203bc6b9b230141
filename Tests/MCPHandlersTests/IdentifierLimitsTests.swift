import Synchronization
import Testing

@testable import MCPHandlers

private func makeLimitsServer(_ limits: IdentifierLimits = IdentifierLimits()) -> MCPServer {
    let server = MCPServer(
        configuration: .init(serverInfo: .init(name: "limits", version: "1"), identifierLimits: limits))
    server.registerTool(Tool(name: "echo")) { _, _ in .text("ok") }
    server.registerPrompt(name: "p", arguments: [PromptArgument(name: "arg")]) { _, _ in [.user(.text("p"))] }
    server.registerResource(uri: "test://static", name: "static") { uri, _ in [.text("static", uri: uri)] }
    server.registerResourceTemplate(uriTemplate: "x://{a}-{b}-{c}", name: "dashes") { uri, variables, _ in
        [.text("\(variables["a"]?.utf8.count ?? 0)", uri: uri)]
    }
    return server
}

/// Issue #14: client-controlled identifiers are bounded (``IdentifierLimits``) before any lookup or match.
@Suite struct IdentifierLimitsTests {
    static let longURI = "x://" + String(repeating: "-", count: 200 * 1024)
    static let longName = String(repeating: "n", count: 257)
    static let longValue = String(repeating: "v", count: 4097)

    @Test(arguments: [
        ("resources/read", ["uri": .string(longURI)], "resources/read \"uri\"", "maxURIBytes"),
        ("resources/subscribe", ["uri": .string(longURI)], "resources/subscribe \"uri\"", "maxURIBytes"),
        ("resources/unsubscribe", ["uri": .string(longURI)], "resources/unsubscribe \"uri\"", "maxURIBytes"),
        ("tools/call", ["name": .string(longName)], "tools/call \"name\"", "maxNameBytes"),
        ("prompts/get", ["name": .string(longName)], "prompts/get \"name\"", "maxNameBytes"),
        ("prompts/get", ["name": "p", "arguments": [longName: "x"]], "argument name", "maxNameBytes"),
        (
            "completion/complete",
            ["ref": ["type": "ref/resource", "uri": .string(longURI)], "argument": ["name": "a", "value": ""]],
            "\"ref.uri\"", "maxURIBytes"
        ),
        (
            "completion/complete",
            ["ref": ["type": "ref/prompt", "name": .string(longName)], "argument": ["name": "arg", "value": ""]],
            "\"ref.name\"", "maxNameBytes"
        ),
        (
            "completion/complete",
            ["ref": ["type": "ref/prompt", "name": "p"], "argument": ["name": .string(longName), "value": ""]],
            "\"argument.name\"", "maxNameBytes"
        ),
        (
            "completion/complete",
            ["ref": ["type": "ref/prompt", "name": "p"], "argument": ["name": "arg", "value": .string(longValue)]],
            "\"argument.value\"", "maxCompletionValueBytes"
        ),
        (
            "completion/complete",
            [
                "ref": ["type": "ref/prompt", "name": "p"], "argument": ["name": "arg", "value": ""],
                "context": ["arguments": ["other": .string(longValue)]],
            ],
            "context.arguments", "maxCompletionValueBytes"
        ),
    ] as [(String, Value, String, String)])
    func overlongIdentifierIs32602NamingTheLimit(
        _ method: String, _ params: Value, _ what: String, _ setting: String
    ) async throws {
        let server = makeLimitsServer()
        let session = try await initialize(server)
        let error = try #require(failure(await call(server, method, params, session: session)))
        #expect(error.code == -32602)
        #expect(error.message.contains(what), "\(error.message)")
        #expect(error.message.contains("IdentifierLimits.\(setting)"), "\(error.message)")
        #expect(error.message.contains("the limit is"), "\(error.message)")
        #expect(error.message.utf8.count < 300, "the message must not quote the identifier")
    }

    /// At the limit is accepted; one byte more is not. The template has three expressions in one segment, so the
    /// match of the longest accepted URI is the old worst case.
    @Test func limitsAreInclusiveAndConfigurable() async throws {
        let limits = IdentifierLimits(maxURIBytes: 100, maxNameBytes: 4, maxCompletionValueBytes: 3)
        let server = makeLimitsServer(limits)
        let atLimit = "x://" + String(repeating: "-", count: 96)
        let read = try await call(server, "resources/read", ["uri": .string(atLimit)]).get()
        #expect(read["contents"]?.arrayValue?.first?["text"] == "92")
        let over = await call(server, "resources/read", ["uri": .string(atLimit + "-")])
        #expect(failure(over)?.code == -32602)
        #expect(failure(over)?.message.contains("101 bytes, the limit is 100 bytes") == true)
        #expect(try await call(server, "tools/call", ["name": "echo"]).get()["content"] != nil)
        server.registerTool(Tool(name: "5byte")) { _, _ in .text("never") }
        #expect(failure(await call(server, "tools/call", ["name": "5byte"]))?.code == -32602)
        let completion: Value = ["ref": ["type": "ref/prompt", "name": "p"], "argument": ["name": "arg", "value": "abc"]]
        #expect(try await call(server, "completion/complete", completion).get()["completion"] != nil)
        let longer: Value = ["ref": ["type": "ref/prompt", "name": "p"], "argument": ["name": "arg", "value": "abcd"]]
        #expect(failure(await call(server, "completion/complete", longer))?.code == -32602)
    }

    @Test func defaultsAreDocumentedValues() {
        let limits = MCPServer.Configuration(serverInfo: .init(name: "d", version: "1")).identifierLimits
        #expect(limits == IdentifierLimits(maxURIBytes: 8192, maxNameBytes: 256, maxCompletionValueBytes: 4096))
    }

    /// The stateless era: `resources/read`, a `subscriptions/listen` filter and `inputResponses` keys.
    @Test func statelessRequestsAreBounded() async {
        let server = makeLimitsServer()
        let read = await server.handleStateless(
            Stateless.request("resources/read", ["uri": .string(Self.longURI)]), headers: nil, user: nil)
        #expect(read.disposition == .rejected)
        #expect(failure(read.result)?.code == -32602)
        #expect(failure(read.result)?.message.contains("maxURIBytes") == true)
        let listen = await server.handleStateless(
            Stateless.request(
                "subscriptions/listen", ["notifications": ["resourceSubscriptions": [.string(Self.longURI)]]]),
            headers: nil, user: nil)
        #expect(failure(listen.result)?.code == -32602)
        #expect(failure(listen.result)?.message.contains("resourceSubscriptions") == true)
        let answers = await server.handleStateless(
            Stateless.request(
                "tools/call", ["name": "echo", "inputResponses": .object([Self.longName: [:]])]),
            headers: nil, user: nil)
        #expect(failure(answers.result)?.code == -32602)
        #expect(failure(answers.result)?.message.contains("inputResponses") == true)
    }

    /// Issue #14: templates are matched outside the registry's lock, so a long match does not hold up other
    /// requests' registry access. The seam runs between taking the candidates and matching them.
    @Test func templatesAreMatchedWithoutTheRegistryLock() async throws {
        final class Observations: Sendable {
            let lockFree = Mutex<[Bool]>([])
        }
        let server = makeLimitsServer()
        let observations = Observations()
        let result = try await MCPServer.$willMatchTemplates.withValue({
            let free = server.resources.withLockIfAvailable { _ in true } != nil
            observations.lockFree.withLock { $0.append(free) }
            // Another registry operation proceeds while the match runs (it would deadlock under the lock).
            if free {
                server.registerResource(uri: "test://registered-meanwhile", name: "meanwhile") { uri, _ in
                    [.text("", uri: uri)]
                }
            }
        }) {
            try await call(server, "resources/read", ["uri": "x://1-2-3"]).get()
        }
        #expect(result["contents"]?.arrayValue?.first?["text"] == "1")
        #expect(observations.lockFree.withLock { $0 } == [true])
        #expect(server.registeredResources.contains { $0.uri == "test://registered-meanwhile" })
    }
}
