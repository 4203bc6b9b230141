import Foundation
import MCPHandlers
import Testing

@testable import mcp_fcgi_demo

/// The demo's `--max-sessions` / `MCPFCGI_MAX_SESSIONS`: the capacity of the main server's session store.
/// One serialized suite: the environment variable is process-wide.
@Suite(.serialized) struct DemoCommandTests {
    @Test func defaultCapacityIsTenThousand() throws {
        unsetenv("MCPFCGI_MAX_SESSIONS")
        let command = try DemoCommand.parse([])
        #expect(command.maxSessions == 10_000)
        #expect(command.sessionStore.capacity == 10_000)
    }

    @Test func flagSetsTheCapacity() throws {
        unsetenv("MCPFCGI_MAX_SESSIONS")
        let command = try DemoCommand.parse(["--max-sessions", "150000"])
        #expect(command.sessionStore.capacity == 150_000)
    }

    @Test func environmentSetsTheCapacityAndTheFlagWins() throws {
        setenv("MCPFCGI_MAX_SESSIONS", "120000", 1)
        defer { unsetenv("MCPFCGI_MAX_SESSIONS") }
        #expect(try DemoCommand.parse([]).sessionStore.capacity == 120_000)
        #expect(try DemoCommand.parse(["--max-sessions", "3"]).sessionStore.capacity == 3)
    }

    func session(_ id: String) -> Session {
        Session(id: id, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: nil, now: 0)
    }

    @Test func capacityIsEnforced() throws {
        unsetenv("MCPFCGI_MAX_SESSIONS")
        let store = try DemoCommand.parse(["--max-sessions", "2"]).sessionStore
        #expect(store.insert(session("a")))
        #expect(store.insert(session("b")))
        #expect(!store.insert(session("c")))
        #expect(store.isFull)
    }

    @Test func sessionQuotasComeFromFlagsAndEnvironment() throws {
        for name in ["MCPFCGI_SESSIONS_PER_ADDRESS", "MCPFCGI_SESSIONS_PER_USER", "MCPFCGI_SESSION_EVICTION_MIN_IDLE"] {
            unsetenv(name)
        }
        #expect(try DemoCommand.parse([]).sessionLimits == SessionLimits())
        setenv("MCPFCGI_SESSIONS_PER_ADDRESS", "7", 1)
        defer { unsetenv("MCPFCGI_SESSIONS_PER_ADDRESS") }
        let limits = try DemoCommand.parse(["--sessions-per-user", "0", "--session-eviction-min-idle", "60"]).sessionLimits
        #expect(limits.maxSessionsPerAddress == 7)
        #expect(limits.maxSessionsPerUser == nil)
        #expect(limits.minimumIdleBeforeEviction == .seconds(60))
        #expect(throws: (any Error).self) { try DemoCommand.parse(["--sessions-per-address", "-1"]) }
    }

    @Test func zeroIsRefused() {
        unsetenv("MCPFCGI_MAX_SESSIONS")
        #expect(throws: (any Error).self) { try DemoCommand.parse(["--max-sessions", "0"]) }
        #expect(throws: (any Error).self) { try DemoCommand.parse(["--max-sessions", "many"]) }
    }

    @Test(arguments: DemoCommand.numericVariables)
    func aNumericVariableThatIsNotANumberIsRefused(_ name: String) {
        unsetenv("MCPFCGI_MAX_SESSIONS")
        setenv(name, "not-a-number", 1)
        defer { unsetenv(name) }
        #expect(throws: (any Error).self) { try DemoCommand.parse([]) }
    }

    @Test func requestStateKeyFileMustHoldAtLeast32Bytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let short = dir.appendingPathComponent("short").path
        let good = dir.appendingPathComponent("good").path
        #expect(FileManager.default.createFile(atPath: short, contents: Data(repeating: 7, count: 31)))
        #expect(FileManager.default.createFile(atPath: good, contents: Data(repeating: 7, count: 32)))
        #expect(throws: (any Error).self) { try DemoCommand.requestStateKey(at: short) }
        #expect(throws: (any Error).self) { try DemoCommand.requestStateKey(at: dir.appendingPathComponent("none").path) }
        #expect(try DemoCommand.requestStateKey(at: good).count == 32)
    }

    @Test func registrationTokenFileMustHoldAtLeast32Characters() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-iat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let short = dir.appendingPathComponent("short").path
        let good = dir.appendingPathComponent("good").path
        #expect(FileManager.default.createFile(atPath: short, contents: Data((String(repeating: "a", count: 31) + "\n").utf8)))
        #expect(FileManager.default.createFile(atPath: good, contents: Data((String(repeating: "b", count: 48) + "\n").utf8)))
        #expect(throws: (any Error).self) { try DemoCommand.registrationToken(at: short) }
        #expect(throws: (any Error).self) { try DemoCommand.registrationToken(at: dir.appendingPathComponent("none").path) }
        #expect(try DemoCommand.registrationToken(at: good) == String(repeating: "b", count: 48))
    }

    @Test func evictionMinimumIdleBelow30SecondsIsRefused() {
        #expect(throws: (any Error).self) { try DemoCommand.parse(["--session-eviction-min-idle", "0"]) }
        #expect(throws: (any Error).self) { try DemoCommand.parse(["--session-eviction-min-idle", "29"]) }
        #expect((try? DemoCommand.parse(["--session-eviction-min-idle", "30"])) != nil)
    }
}
