import Logging
import PostgresNIO

/// The database schema, as numbered migrations that every worker applies on start.
///
/// Each migration runs once, in order, with its row in `mcpfcgi_schema_migrations`; the pending migrations run in
/// one transaction, which first takes a transaction-scoped advisory lock, so workers that start at the same moment (or
/// two deployments sharing the database) apply each migration exactly once and wait for each other. A
/// database whose schema is newer than this build knows is refused.
public enum SchemaMigrations {
    /// One step of the schema.
    public struct Migration: Sendable {
        /// Its number (1, 2, …).
        public var version: Int
        /// What it does.
        public var description: String
        /// Its statements, run in order.
        public var statements: [String]
    }

    /// Why the schema could not be brought up to date.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What went wrong, and what to do.
        public var message: String
        /// Whether the database could not be reached (a passing condition: try again later), rather than refused
        /// or failed the migration (a condition to fix).
        public var isUnreachable: Bool

        /// Creates a failure.
        public init(message: String, isUnreachable: Bool = false) {
            self.message = message
            self.isUnreachable = isUnreachable
        }

        /// The message.
        public var description: String { message }
    }

    /// The advisory lock key of migrations (any constant shared by every worker).
    static let lockKey: Int64 = 0x4D43_5046_4347_4931  // "MCPFCGI1"

    /// Every migration, oldest first.
    public static let all: [Migration] = [
        Migration(
            version: 1, description: "OAuth clients, codes, refresh tokens, access tokens and revocations",
            statements: [
                """
                CREATE TABLE mcpfcgi_oauth_clients (
                    client_id text PRIMARY KEY,
                    secret_digest text,
                    redirect_uris text[] NOT NULL,
                    grant_types text[] NOT NULL,
                    response_types text[] NOT NULL,
                    token_endpoint_auth_method text NOT NULL,
                    client_name text,
                    scopes text[],
                    resources text[],
                    may_introspect_any_token boolean NOT NULL,
                    issued_at bigint NOT NULL,
                    first_used_at bigint,
                    last_used_at bigint,
                    extra_metadata text NOT NULL,
                    registered boolean NOT NULL
                )
                """,
                "CREATE INDEX mcpfcgi_oauth_clients_unused ON mcpfcgi_oauth_clients (issued_at, client_id) WHERE registered AND first_used_at IS NULL",
                "CREATE INDEX mcpfcgi_oauth_clients_used ON mcpfcgi_oauth_clients (last_used_at) WHERE registered",
                """
                CREATE TABLE mcpfcgi_oauth_codes (
                    digest text PRIMARY KEY,
                    client_id text NOT NULL,
                    redirect_uri text NOT NULL,
                    code_challenge text NOT NULL,
                    scopes text[] NOT NULL,
                    subject text NOT NULL,
                    resource text,
                    expires_at timestamptz NOT NULL,
                    family_id text NOT NULL,
                    used boolean NOT NULL DEFAULT false
                )
                """,
                """
                CREATE TABLE mcpfcgi_oauth_refresh_tokens (
                    digest text PRIMARY KEY,
                    client_id text NOT NULL,
                    subject text NOT NULL,
                    scopes text[] NOT NULL,
                    expires_at timestamptz NOT NULL,
                    family_id text NOT NULL,
                    resource text,
                    used boolean NOT NULL DEFAULT false
                )
                """,
                "CREATE INDEX mcpfcgi_oauth_refresh_tokens_family ON mcpfcgi_oauth_refresh_tokens (family_id)",
                """
                CREATE TABLE mcpfcgi_oauth_access_tokens (
                    jti text PRIMARY KEY,
                    family_id text,
                    expires_at timestamptz NOT NULL
                )
                """,
                "CREATE INDEX mcpfcgi_oauth_access_tokens_family ON mcpfcgi_oauth_access_tokens (family_id)",
                """
                CREATE TABLE mcpfcgi_oauth_revoked_access_tokens (
                    jti text PRIMARY KEY,
                    expires_at timestamptz NOT NULL
                )
                """,
                "CREATE TABLE mcpfcgi_oauth_revoked_families (family_id text PRIMARY KEY)",
            ]),
    ]

    /// The newest version this build knows.
    public static var latestVersion: Int { all.last?.version ?? 0 }

    /// Applies every migration the database has not seen yet.
    /// - Parameters:
    ///   - client: a running pool.
    ///   - logger: where applied migrations are logged.
    /// - Returns: the versions applied now (empty when the schema was up to date).
    /// - Throws: ``Failure`` when the database cannot be reached, a migration fails (it is rolled back), or the
    ///   schema is newer than this build.
    @discardableResult
    public static func apply(on client: PostgresClient, logger: Logger) async throws(Failure) -> [Int] {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS mcpfcgi_schema_migrations (
                        version integer PRIMARY KEY,
                        description text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """, logger: logger)
                var current = 0
                for try await version in try await connection.query(
                    "SELECT COALESCE(max(version), 0) FROM mcpfcgi_schema_migrations", logger: logger
                ).decode(Int.self) {
                    current = version
                }
                guard current <= latestVersion else {
                    throw Failure(
                        message: "the database schema is at version \(current), newer than this build knows "
                            + "(\(latestVersion)): run the newer build, or point DATABASE_URL at another database")
                }
                var applied: [Int] = []
                for migration in all where migration.version > current {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO mcpfcgi_schema_migrations (version, description) VALUES (\(migration.version), \(migration.description))",
                        logger: logger)
                    applied.append(migration.version)
                }
                return applied
            }
        } catch let error as PostgresTransactionError {
            if let failure = error.closureError as? Failure { throw failure }
            let cause = error.closureError ?? error.beginError ?? error.commitError ?? error
            throw Failure(message: "cannot migrate the database schema: \(PostgresErrors.describe(cause))")
        } catch {
            throw Failure(message: "cannot migrate the database schema: \(PostgresErrors.describe(error))")
        }
    }
}
