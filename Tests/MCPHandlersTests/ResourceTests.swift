import Testing

@testable import MCPHandlers

func makeResourceServer(pageSize: Int = 100) -> MCPServer {
    let server = MCPServer(configuration: .init(serverInfo: .init(name: "r", version: "1"), pageSize: pageSize))
    server.registerResource(
        uri: "test://static-text", name: "static-text", title: "Static", description: "text",
        mimeType: "text/plain", annotations: ["priority": 0.5], size: 49
    ) { uri, _ in [.text("hello text", uri: uri)] }
    server.registerResource(uri: "test://static-binary", name: "static-binary", mimeType: "image/png") { uri, _ in
        [.blob("AAEC", uri: uri, mimeType: "image/png")]
    }
    server.registerResourceTemplate(
        uriTemplate: "test://template/{id}/data", name: "template", title: "T", description: "by id",
        mimeType: "application/json"
    ) { uri, variables, _ in
        [.text("id=\(variables["id"] ?? "?")", uri: uri, mimeType: "application/json")]
    }
    return server
}

@Suite struct ResourceTests {
    @Test func listsResourcesWithMetadata() async throws {
        let server = makeResourceServer()
        let result = try await call(server, "resources/list").get()
        let list = try #require(result["resources"]?.arrayValue)
        #expect(list.count == 2)
        #expect(result["nextCursor"] == nil)
        #expect(
            list[0]
                == [
                    "uri": "test://static-text", "name": "static-text", "title": "Static", "description": "text",
                    "mimeType": "text/plain", "annotations": ["priority": 0.5], "size": 49,
                ])
        #expect(list[1] == ["uri": "test://static-binary", "name": "static-binary", "mimeType": "image/png"])
    }

    @Test func paginatesResources() async throws {
        let server = makeResourceServer(pageSize: 2)
        for i in 0..<3 {
            server.registerResource(uri: "test://extra/\(i)", name: "extra\(i)") { uri, _ in [.text("", uri: uri)] }
        }
        let (uris, pages) = try await collectPages(server, "resources/list", items: "resources", key: "uri")
        #expect(
            uris == [
                "test://static-text", "test://static-binary", "test://extra/0", "test://extra/1", "test://extra/2",
            ])
        #expect(pages == 3)
        let bad = await call(server, "resources/list", ["cursor": "nope"])
        #expect(failure(bad)?.code == -32602)
    }

    @Test func listsAndPaginatesTemplates() async throws {
        let server = makeResourceServer(pageSize: 1)
        server.registerResourceTemplate(uriTemplate: "test://other/{a}", name: "other") { uri, _, _ in
            [.text("", uri: uri)]
        }
        let first = try await call(server, "resources/templates/list").get()
        #expect(
            first["resourceTemplates"]
                == [
                    [
                        "uriTemplate": "test://template/{id}/data", "name": "template", "title": "T",
                        "description": "by id", "mimeType": "application/json",
                    ]
                ])
        #expect(first["nextCursor"] == "1")
        let (templates, pages) = try await collectPages(
            server, "resources/templates/list", items: "resourceTemplates", key: "uriTemplate")
        #expect(templates == ["test://template/{id}/data", "test://other/{a}"])
        #expect(pages == 2)
        #expect(server.registeredResourceTemplates.map(\.name) == ["template", "other"])
    }

    @Test func readsText() async throws {
        let server = makeResourceServer()
        let result = try await call(server, "resources/read", ["uri": "test://static-text"]).get()
        #expect(result == ["contents": [["uri": "test://static-text", "mimeType": "text/plain", "text": "hello text"]]])
    }

    @Test func readsBlob() async throws {
        let server = makeResourceServer()
        let result = try await call(server, "resources/read", ["uri": "test://static-binary"]).get()
        #expect(result == ["contents": [["uri": "test://static-binary", "mimeType": "image/png", "blob": "AAEC"]]])
    }

    @Test func readsThroughTemplate() async throws {
        let server = makeResourceServer()
        let result = try await call(server, "resources/read", ["uri": "test://template/123/data"]).get()
        #expect(
            result
                == [
                    "contents": [
                        ["uri": "test://template/123/data", "mimeType": "application/json", "text": "id=123"]
                    ]
                ])
        let decoded = try await call(server, "resources/read", ["uri": "test://template/a%20b/data"]).get()
        #expect(decoded["contents"]?.arrayValue?.first?["text"] == "id=a b")
    }

    @Test func staticResourcesWinOverTemplatesAndTemplatesKeepOrder() async throws {
        let server = makeResourceServer()
        server.registerResource(uri: "test://template/7/data", name: "pinned") { uri, _ in
            [.text("static", uri: uri)]
        }
        server.registerResourceTemplate(uriTemplate: "test://template/{x}/{y}", name: "later") { uri, _, _ in
            [.text("later", uri: uri)]
        }
        let pinned = try await call(server, "resources/read", ["uri": "test://template/7/data"]).get()
        #expect(pinned["contents"]?.arrayValue?.first?["text"] == "static")
        let first = try await call(server, "resources/read", ["uri": "test://template/8/data"]).get()
        #expect(first["contents"]?.arrayValue?.first?["text"] == "id=8")
        let second = try await call(server, "resources/read", ["uri": "test://template/8/other"]).get()
        #expect(second["contents"]?.arrayValue?.first?["text"] == "later")
    }

    @Test(arguments: ["test://missing", "test://template//data", "test://template/1/2/data", "test://static-text/x"])
    func unknownResourceIs32002(_ uri: String) async {
        let server = makeResourceServer()
        let result = await call(server, "resources/read", ["uri": .string(uri)])
        #expect(result == .failure(.resourceNotFound(uri)))
        #expect(failure(result)?.code == -32002)
        #expect(failure(result)?.data == ["uri": .string(uri)])
    }

    @Test(arguments: [nil, [:], ["uri": 5]] as [Value?])
    func readWithoutURIIs32602(_ params: Value?) async {
        let server = makeResourceServer()
        #expect(failure(await call(server, "resources/read", params))?.code == -32602)
    }

    @Test func handlerErrorsMapToJSONRPCErrors() async {
        struct Leak: Error, CustomStringConvertible { var description: String { "secret path /etc/x" } }
        let server = makeResourceServer()
        server.registerResource(uri: "test://fails", name: "fails") { _, _ in throw Leak() }
        server.registerResource(uri: "test://gone", name: "gone") { uri, _ in throw MCPError.resourceNotFound(uri) }
        let hidden = await call(server, "resources/read", ["uri": "test://fails"])
        #expect(hidden == .failure(.internalError()))
        #expect(failure(hidden)?.message.contains("secret") == false)
        let gone = await call(server, "resources/read", ["uri": "test://gone"])
        #expect(failure(gone)?.code == -32002)
    }

    @Test func removingResourcesAndTemplates() async throws {
        let server = makeResourceServer()
        #expect(server.removeResource(uri: "test://static-text"))
        #expect(!server.removeResource(uri: "test://static-text"))
        #expect(server.removeResourceTemplate(uriTemplate: "test://template/{id}/data"))
        #expect(!server.removeResourceTemplate(uriTemplate: "test://template/{id}/data"))
        #expect(server.registeredResources.map(\.uri) == ["test://static-binary"])
        let read = await call(server, "resources/read", ["uri": "test://template/1/data"])
        #expect(failure(read)?.code == -32002)
    }

    @Test func subscribeRecordsOnSessionAndIndex() async throws {
        let server = makeResourceServer()
        let session = try await initialize(server)
        let ok = try await call(server, "resources/subscribe", ["uri": "test://static-text"], session: session).get()
        #expect(ok == [:])
        let viaTemplate = await call(server, "resources/subscribe", ["uri": "test://template/5/data"], session: session)
        #expect(viaTemplate == .success([:]))
        #expect(session.subscriptions == ["test://static-text", "test://template/5/data"])
        #expect(server.subscriptions.withLock { $0.sessions(subscribedTo: "test://static-text") } == [session.id])
        let off = await call(server, "resources/unsubscribe", ["uri": "test://static-text"], session: session)
        #expect(off == .success([:]))
        #expect(session.subscriptions == ["test://template/5/data"])
        #expect(server.subscriptions.withLock { $0.sessions(subscribedTo: "test://static-text") }.isEmpty)
        let again = await call(server, "resources/unsubscribe", ["uri": "test://static-text"], session: session)
        #expect(again == .success([:]))
    }

    @Test func subscribeErrors() async throws {
        let server = makeResourceServer()
        let session = try await initialize(server)
        let unknown = await call(server, "resources/subscribe", ["uri": "test://nope"], session: session)
        #expect(unknown == .failure(.resourceNotFound("test://nope")))
        #expect(session.subscriptions.isEmpty)
        let noURI = await call(server, "resources/subscribe", [:], session: session)
        #expect(failure(noURI)?.code == -32602)
        let noSession = await call(server, "resources/subscribe", ["uri": "test://static-text"])
        #expect(failure(noSession)?.code == -32600)
    }

    @Test func capabilitiesFollowRegistrations() {
        let bare = MCPServer(name: "bare", version: "0")
        #expect(bare.capabilities == ["logging": [:]])
        let onlyStatic = MCPServer(name: "s", version: "0")
        onlyStatic.registerResource(uri: "a://b", name: "b") { uri, _ in [.text("", uri: uri)] }
        #expect(onlyStatic.capabilities == ["logging": [:], "resources": ["subscribe": true, "listChanged": true]])
        let server = makeResourceServer()
        #expect(server.capabilities["resources"] == ["subscribe": true, "listChanged": true])
        #expect(server.capabilities["completions"] == [:])
        #expect(server.capabilities["tools"] == nil)
        #expect(server.capabilities["prompts"] == nil)
    }
}
