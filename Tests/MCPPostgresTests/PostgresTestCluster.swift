import Foundation
import Logging
import MCPPostgres
import Synchronization
import Testing

/// The private PostgreSQL cluster of this test run: started on first use with `deploy/postgres-cluster.sh` in a
/// temporary directory (unix socket only), stopped and removed when the test process exits. Each test gets a
/// database of its own (``freshDatabase()``), so tests run in parallel without seeing each other's rows.
///
/// Processes are awaited through their termination handler, never by blocking a cooperative thread.
enum PostgresTestCluster {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let script = repositoryRoot.appendingPathComponent("deploy/postgres-cluster.sh").path

    private actor Holder {
        var started: Task<(directory: String, socket: String), any Error>?

        func cluster() async throws -> (directory: String, socket: String) {
            if let started { return try await started.value }
            let task = Task { () throws -> (directory: String, socket: String) in
                let base = FileManager.default.temporaryDirectory.appendingPathComponent("mcpfcgi-pg-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
                // As root the server runs as `postgres`, which must traverse the directory.
                try FileManager.default.setAttributes([.posixPermissions: 0o711], ofItemAtPath: base.path)
                let directory = base.appendingPathComponent("cluster").path
                let output = try await PostgresTestCluster.run(
                    "/bin/bash", [PostgresTestCluster.script, "start", directory],
                    environment: ["PG_OPTIONS": "-c fsync=off -c max_connections=300"])
                guard let url = output.split(separator: "\n").last.map(String.init), url.hasPrefix("postgres://") else {
                    throw ClusterError(message: "deploy/postgres-cluster.sh printed no URL: \(output)")
                }
                PostgresTestCluster.stopAtExit(directory: directory, base: base.path)
                return (directory, directory + "/socket")
            }
            started = task
            return try await task.value
        }
    }
    private static let holder = Holder()

    struct ClusterError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// A cluster of the caller's own (for tests that stop and start it): started in a new temporary directory.
    /// - Returns: its directory (for ``stopCluster(_:)`` and ``restartCluster(_:)``) and the URL of its database.
    static func startOwnCluster() async throws -> (directory: String, url: DatabaseURL) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mcpfcgi-pg-own-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o711], ofItemAtPath: base.path)
        let directory = base.appendingPathComponent("cluster").path
        let output = try await run("/bin/bash", [script, "start", directory], environment: ["PG_OPTIONS": "-c fsync=off"])
        let url = try DatabaseURL(output.split(separator: "\n").last.map(String.init) ?? "")
        return (directory, url)
    }

    /// Stops a cluster (fast shutdown: its connections are closed).
    static func stopCluster(_ directory: String) async throws {
        _ = try await run("/bin/bash", [script, "stop", directory])
    }

    /// Starts a stopped cluster again.
    static func restartCluster(_ directory: String) async throws {
        _ = try await run("/bin/bash", [script, "start", directory])
    }

    /// Stops a cluster of the caller's own and removes its directory.
    static func removeOwnCluster(_ directory: String) async {
        _ = try? await run("/bin/bash", [script, "stop", directory])
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path)
    }

    /// A new, empty database on the cluster (started on first use).
    static func freshDatabase() async throws -> DatabaseURL {
        let cluster = try await holder.cluster()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        _ = try await run(
            "/usr/bin/env",
            ["psql", "-h", cluster.socket, "-p", "5432", "-U", "mcpfcgi", "-X", "-q", "-d", "postgres", "-c",
             "CREATE DATABASE \(name)"])
        return try DatabaseURL("postgres://mcpfcgi@/\(name)?host=\(cluster.socket)")
    }

    /// A started database (schema migrated) on a fresh database; shut it down at the end of the test.
    static func startedDatabase(logger: Logger = Logger(label: "test.postgres")) async throws -> PostgresPool {
        let database = PostgresPool(configuration: .init(url: try await freshDatabase()), logger: logger)
        try await database.start()
        return database
    }

    /// Runs `body` with a started database on a fresh database, and shuts the pool down afterwards (also when
    /// `body` throws).
    static func withStartedDatabase<T: Sendable>(_ body: (PostgresPool) async throws -> T) async throws -> T {
        let database = try await startedDatabase()
        do {
            let value = try await body(database)
            await database.shutdown()
            return value
        } catch {
            await database.shutdown()
            throw error
        }
    }

    /// Runs a program to its end and returns its standard output; throws with its standard error on failure.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        // The outputs are small (a URL, an error message): they fit the pipes' buffers until the process ends.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw ClusterError(message: "\(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(err)")
        }
        return out
    }

    private static let toStop = Mutex<(directory: String, base: String)?>(nil)

    private static func stopAtExit(directory: String, base: String) {
        toStop.withLock { $0 = (directory, base) }
        atexit {
            guard let cluster = PostgresTestCluster.toStop.withLock({ $0 }) else { return }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [PostgresTestCluster.script, "stop", cluster.directory]
            try? process.run()
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: cluster.base)
        }
    }
}
