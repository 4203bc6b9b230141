import Logging
import MCPFCGI
import MCPFCGITesting
import Testing

@testable import catalog_example

// The recipe book (Examples/Catalog) tested in process; with MCPFCGI_TEST_URL set, the same tests go through a
// running deployment of it instead (nginx → FastCGI → workers).
func recipeClient() -> MCPTestClient {
    let server = MCPServer(name: "recipes", version: "1.0.0")
    registerRecipeBook(on: server)  // what main.swift registers, in a function
    return MCPTestClient(environmentOr: MCPApplication(server: server, logger: Logger(label: "test")))
}

@Test func scalingDoublesTheQuantities() async throws {
    let client = recipeClient()
    let session = try await client.initialize()
    let result = try await client.callTool("scale_recipe", arguments: ["recipe": "pancakes", "servings": 8], session: session)
    #expect(result["structuredContent"]?["serves"] == 8)
    #expect(result["structuredContent"]?["ingredients"]?.arrayValue?.first?["grams"] == 400)
}

@Test func anUnknownRecipeIsInvalidParams() async throws {
    let client = recipeClient()
    let session = try await client.initialize()
    do {
        _ = try await client.callTool("scale_recipe", arguments: ["recipe": "soup", "servings": 2], session: session)
        Issue.record("an unknown recipe was scaled")
    } catch {
        guard case .rpcError(let code, let message) = error else {
            Issue.record("not a JSON-RPC error: \(error)")
            return
        }
        #expect(code == -32602)
        #expect(message.contains("No recipe named soup"))
    }
}

@Test func theTemplateReadsARecipeAndCompletesItsName() async throws {
    let client = recipeClient()
    let session = try await client.initialize()
    let read = try await client.request("resources/read", params: ["uri": "recipes://risotto"], session: session)
    #expect(read["contents"]?.arrayValue?.first?["mimeType"] == "application/json")
    let completion = try await client.request(
        "completion/complete",
        params: ["ref": ["type": "ref/resource", "uri": "recipes://{name}"], "argument": ["name": "name", "value": "p"]],
        session: session)
    #expect(completion["completion"]?["values"] == ["pancakes"])
}

@Test func thePromptEmbedsTheRecipe() async throws {
    let client = recipeClient()
    let session = try await client.initialize()
    let prompt = try await client.request(
        "prompts/get", params: ["name": "cook", "arguments": ["recipe": "shakshuka"]], session: session)
    let messages = prompt["messages"]?.arrayValue ?? []
    #expect(messages.count == 2)
    #expect(messages.first?["content"]?["resource"]?["uri"] == "recipes://shakshuka")
}
