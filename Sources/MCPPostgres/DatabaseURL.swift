import Foundation
import PostgresNIO

/// A `DATABASE_URL`: `postgres://user:password@host:port/database`, or with `?host=/path/to/socket/directory`
/// a unix socket (PostgreSQL's convention: the socket file is `<directory>/.s.PGSQL.<port>`).
///
/// ```swift
/// let url = try DatabaseURL("postgres://mcp:secret@db.internal:5432/mcp")
/// let local = try DatabaseURL("postgres://mcp@/mcp?host=/run/postgresql")   // unix socket, port 5432
/// ```
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// Where the server listens.
    public enum Endpoint: Sendable, Equatable {
        /// TCP.
        case tcp(host: String, port: Int)
        /// A unix socket file.
        case unixSocket(path: String)
    }

    /// Where the server listens.
    public var endpoint: Endpoint
    /// The user name.
    public var username: String
    /// The password, if any.
    public var password: String?
    /// The database.
    public var database: String
    /// TLS on a TCP connection (`?sslmode=require`); unix sockets never use TLS. Default false.
    public var requiresTLS: Bool

    /// The default PostgreSQL port, 5432.
    public static let defaultPort = 5432

    /// Parses a URL.
    /// - Parameter string: `postgres://` or `postgresql://` URL.
    /// - Throws: ``DatabaseURLError`` naming what is wrong.
    public init(_ string: String) throws(DatabaseURLError) {
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw DatabaseURLError(message: "DATABASE_URL must look like postgres://user:password@host:port/database")
        }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw DatabaseURLError(message: "DATABASE_URL names no user (postgres://USER@host/database)")
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else {
            throw DatabaseURLError(message: "DATABASE_URL names no database (postgres://user@host/DATABASE)")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let port = components.port ?? Self.defaultPort
        guard (1...65535).contains(port) else { throw DatabaseURLError(message: "DATABASE_URL's port \(port) is out of range") }
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            endpoint = .unixSocket(path: socketDirectory + "/.s.PGSQL.\(port)")
        } else {
            guard let host = components.host, !host.isEmpty else {
                throw DatabaseURLError(
                    message: "DATABASE_URL names no host (postgres://user@HOST/database, or ?host=/socket/directory)")
            }
            endpoint = .tcp(host: host, port: port)
        }
        username = user
        password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        database = path.removingPercentEncoding ?? path
        switch query["sslmode"] ?? "disable" {
        case "disable", "allow", "prefer": requiresTLS = false
        case "require", "verify-ca", "verify-full": requiresTLS = true
        case let other: throw DatabaseURLError(message: "DATABASE_URL's sslmode \(other) is not one of disable, require")
        }
    }

    /// The URL without its password.
    public var description: String {
        switch endpoint {
        case .tcp(let host, let port): "postgres://\(username)@\(host):\(port)/\(database)"
        case .unixSocket(let path): "postgres://\(username)@/\(database) (socket \(path))"
        }
    }

    /// The postgres-nio client configuration.
    var clientConfiguration: PostgresClient.Configuration {
        switch endpoint {
        case .tcp(let host, let port):
            PostgresClient.Configuration(
                host: host, port: port, username: username, password: password, database: database,
                tls: requiresTLS ? .require(.clientDefault) : .disable)
        case .unixSocket(let path):
            PostgresClient.Configuration(unixSocketPath: path, username: username, password: password, database: database)
        }
    }
}

/// A `DATABASE_URL` that cannot be used.
public struct DatabaseURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong (never the password).
    public var message: String
    /// The message.
    public var description: String { message }
}
