import Logging
import MCPFCGITesting
import MCPHandlers
import MCPStreamableHTTP
import Testing

@testable import mcp_fcgi_demo

/// The demo's tools through ``MCPTestClient``: in process by default, and through a running deployment (nginx →
/// FastCGI → workers) when `MCPFCGI_TEST_URL` names one — tests/integration/test_testing_target.py runs this suite
/// that way against deploy/run.sh. This is also README's example of testing a tool of your own.
@Suite struct FixtureToolTests {
    /// The demo's server with its fixtures, as the worker builds it.
    static func client() -> MCPTestClient {
        let server = MCPServer(name: "mcp-fcgi-demo", version: "1")
        Fixtures.register(on: server)
        return MCPTestClient(environmentOr: MCPApplication(server: server, logger: Logger(label: "test")))
    }

    @Test func echoAnswersWithItsText() async throws {
        let client = Self.client()
        let session = try await client.initialize()
        let result = try await client.callTool("echo", arguments: ["text": "hello from a test"], session: session)
        #expect(result["content"]?.arrayValue?.first?["text"] == "hello from a test")
        #expect(result["isError"] == nil || result["isError"] == false)
    }

    /// The fixtures registered with typed arguments list the schemas the fixtures contract gives them (derived
    /// from their argument types), and refuse arguments outside them.
    @Test func typedFixturesListTheContractsSchemas() async throws {
        let client = Self.client()
        let session = try await client.initialize()
        let tools = try await client.request("tools/list", session: session)["tools"]?.arrayValue ?? []
        func schema(_ name: String) -> Value? { tools.first { $0["name"] == .string(name) }?["inputSchema"] }
        #expect(
            schema("slow_task")
                == ["type": "object", "properties": ["seconds": ["type": "number", "minimum": 0, "maximum": 600]],
                    "required": ["seconds"]])
        #expect(schema("test_sampling") == ["type": "object", "properties": ["prompt": ["type": "string"]], "required": ["prompt"]])
        #expect(
            schema("test_elicitation") == ["type": "object", "properties": ["message": ["type": "string"]], "required": ["message"]])
        let refused = await #expect(throws: MCPTestClient.Failure.self) {
            _ = try await client.callTool("slow_task", arguments: ["seconds": 601], session: session)
        }
        #expect("\(String(describing: refused))".contains("seconds"))
    }

    @Test func progressToolStreamsItsResult() async throws {
        let client = Self.client()
        let session = try await client.initialize()
        // The tool sends progress notifications first, so the answer is an event stream; the client reads the
        // response out of it.
        let result = try await client.callTool("test_tool_with_progress", session: session)
        #expect(result["content"]?.arrayValue?.first?["type"] == "text")
    }

    @Test func unknownToolIsAnInvalidParamsError() async throws {
        let client = Self.client()
        let session = try await client.initialize()
        let failure = await #expect(throws: MCPTestClient.Failure.self) {
            _ = try await client.callTool("no_such_tool", session: session)
        }
        guard case .rpcError(let code, let message) = failure else {
            Issue.record("expected a JSON-RPC error, got \(String(describing: failure))")
            return
        }
        #expect(code == -32602)
        #expect(message.contains("no_such_tool"))
    }

    @Test func deletedSessionIsGone() async throws {
        let client = Self.client()
        let session = try await client.initialize()
        #expect(await client.delete(session: session).head.status == .ok)
        let failure = await #expect(throws: MCPTestClient.Failure.self) {
            _ = try await client.callTool("echo", arguments: ["text": "x"], session: session)
        }
        guard case .status(let status, _) = failure else {
            Issue.record("expected an HTTP status, got \(String(describing: failure))")
            return
        }
        #expect(status == 404)
    }
}
