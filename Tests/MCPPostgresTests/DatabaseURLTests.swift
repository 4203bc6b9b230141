import MCPPostgres
import Testing

/// `DATABASE_URL` parsing: TCP, unix sockets, escapes, and errors that say what is missing.
@Suite struct DatabaseURLTests {
    @Test func tcpURLWithEverything() throws {
        let url = try DatabaseURL("postgres://mcp:s%40cret@db.internal:6543/mcp_prod")
        #expect(url.endpoint == .tcp(host: "db.internal", port: 6543))
        #expect(url.username == "mcp")
        #expect(url.password == "s@cret")
        #expect(url.database == "mcp_prod")
        #expect(!url.requiresTLS)
        #expect(url.description == "postgres://mcp@db.internal:6543/mcp_prod")
        #expect(!url.description.contains("cret"))
    }

    @Test func defaultPortAndPostgresqlScheme() throws {
        let url = try DatabaseURL("postgresql://mcp@localhost/mcp")
        #expect(url.endpoint == .tcp(host: "localhost", port: 5432))
        #expect(url.password == nil)
    }

    @Test func unixSocketDirectoryNamesTheSocketFileOfThePort() throws {
        let url = try DatabaseURL("postgres://mcpfcgi@/mcpfcgi?host=/run/mcp/socket")
        #expect(url.endpoint == .unixSocket(path: "/run/mcp/socket/.s.PGSQL.5432"))
        let other = try DatabaseURL("postgres://mcpfcgi@:6000/mcpfcgi?host=/run/pg")
        #expect(other.endpoint == .unixSocket(path: "/run/pg/.s.PGSQL.6000"))
        #expect(other.description.contains("/run/pg/.s.PGSQL.6000"))
    }

    @Test func sslmodeRequireAsksForTLS() throws {
        #expect(try DatabaseURL("postgres://u@h/d?sslmode=require").requiresTLS)
        #expect(try !DatabaseURL("postgres://u@h/d?sslmode=prefer").requiresTLS)
        #expect(throws: DatabaseURLError.self) { try DatabaseURL("postgres://u@h/d?sslmode=bogus") }
    }

    @Test(arguments: [
        ("mysql://u@h/d", "postgres://user:password@host:port/database"),
        ("not a url", "postgres://user:password@host:port/database"),
        ("postgres://h/d", "no user"),
        ("postgres://u@h", "no database"),
        ("postgres://u@h/", "no database"),
        ("postgres://u@/d", "no host"),
        ("postgres://u@h:0/d", "out of range"),
    ])
    func unusableURLsSayWhatIsWrong(url: String, message: String) {
        #expect {
            try DatabaseURL(url)
        } throws: { error in
            (error as? DatabaseURLError)?.message.contains(message) == true
        }
    }
}
