import Foundation
import Logging
import MCPHTTP
import MCPHandlers
import MCPOAuth
import PostgresNIO

/// The built-in authorization server's state in PostgreSQL: clients, authorization codes, refresh tokens,
/// access-token records and revocations, shared by every worker of every deployment on the database, so any
/// worker serves `/oauth/*`.
///
/// Single use is atomic in the database: consuming a code and rotating a refresh token are one conditional
/// `UPDATE … RETURNING` each, so of two workers presenting the same code at the same moment exactly one gets
/// it and the other sees a replay. Registering a client under ``/MCPOAuth/ClientRegistrationPolicy/maximumClients``
/// counts and evicts under a transaction-scoped advisory lock.
///
/// Every method throws when the database cannot answer; the authorization server answers such a request
/// 503 with `Retry-After`.
public final class PostgresOAuthStorage: OAuthStorage {
    /// The database.
    public let database: PostgresPool
    /// The worker's listener for revocations made elsewhere; nil: every check asks the database.
    public let notifications: DatabaseNotifications?
    private let logger: Logger
    private let now: @Sendable () -> Date
    /// Tokens found not revoked, trusted while ``notifications`` listens.
    let revocations: RevocationCache

    /// The advisory lock key that serialises client registrations against the cap.
    static let registrationLockKey: Int64 = 0x4D43_5046_4347_4932  // "MCPFCGI2"

    /// Creates the storage on a started database (``PostgresPool/start(waitingForTheDatabase:)`` migrated the schema).
    ///
    /// With `notifications`, a token found not revoked is trusted for `revocationCacheTimeToLive` without asking
    /// again, as long as the listener is in place: every revocation (on any worker of any deployment on the
    /// database) is announced in its transaction and drops these answers on every worker, so it is in force
    /// everywhere as soon as the announcement arrives (milliseconds). While the listener is down every check
    /// asks the database. Without `notifications` every check asks the database.
    /// - Parameters:
    ///   - database: the database.
    ///   - notifications: the worker's listener (started here when it was not); nil: no cache. Default nil.
    ///   - revocationCacheTimeToLive: the longest a "not revoked" answer is trusted (the backstop should an
    ///     announcement be lost). Default 30 s.
    ///   - logger: where queries log (debug). Default `mcpfcgi.oauth.postgres`.
    ///   - now: the clock of expiry checks (tests move it). Default the system clock.
    public init(
        database: PostgresPool, notifications: DatabaseNotifications? = nil,
        revocationCacheTimeToLive: Duration = .seconds(30),
        logger: Logger = Logger(label: "mcpfcgi.oauth.postgres"),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.database = database
        self.notifications = notifications
        self.logger = logger
        self.now = now
        let revocations = RevocationCache(
            timeToLive: revocationCacheTimeToLive.secondsValue, capacity: 100_000,
            clock: { now().timeIntervalSince1970 })
        self.revocations = revocations
        if let notifications {
            notifications.onNotification(kind: "r") { _ in revocations.dropAll() }
            notifications.onListening { revocations.dropAll() }
            notifications.start()
        }
    }

    /// The announcement of a revocation, sent in the revoking transaction.
    private static let revocationAnnouncement = "SELECT pg_notify('\(DatabaseNotifications.channel)', 'r|')"

    private var client: PostgresClient { database.client }

    // MARK: Clients

    private static let clientColumns = """
        client_id, secret_digest, redirect_uris, grant_types, response_types, token_endpoint_auth_method, client_name,
        scopes, resources, may_introspect_any_token, issued_at, first_used_at, last_used_at, extra_metadata
        """

    /// See ``/MCPOAuth/OAuthStorage/client(id:)``.
    public func client(id: String) async throws -> OAuthClient? {
        try await database.run { [self] in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.clientColumns) FROM mcpfcgi_oauth_clients WHERE client_id = \(id)", logger: logger)
            for try await row in rows { return try Self.decodeClient(row) }
            return nil
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/saveClient(_:)``. A client saved this way (pre-registered) is not counted against the
    /// registration cap; saving a registered client keeps it registered.
    public func saveClient(_ client: OAuthClient) async throws {
        try await database.run { [self] in
            try await upsert(client, registered: false, on: nil)
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/registerClient(_:maximumClients:evictableBefore:)``.
    public func registerClient(_ client: OAuthClient, maximumClients: Int, evictableBefore: Date) async throws -> Bool {
        try await database.run { [self] in
            let cutoff = Int(evictableBefore.timeIntervalSince1970)
            return try await unwrappingTransactionErrors {
                try await self.client.withTransaction(logger: logger) { connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(\(Self.registrationLockKey))", logger: self.logger)
                    let count = try await Self.single(
                        connection.query(
                            "SELECT count(*)::bigint FROM mcpfcgi_oauth_clients WHERE registered AND client_id <> \(client.clientID)",
                            logger: self.logger), as: Int64.self) ?? 0
                    if count >= Int64(maximumClients) {
                        // The oldest never-used registration past the minimum age, else the least recently used one.
                        var victim = try await Self.single(
                            connection.query(
                                """
                                SELECT client_id FROM mcpfcgi_oauth_clients
                                WHERE registered AND first_used_at IS NULL AND issued_at < \(cutoff)
                                ORDER BY issued_at, client_id LIMIT 1
                                """, logger: self.logger), as: String.self)
                        if victim == nil {
                            victim = try await Self.single(
                                connection.query(
                                    """
                                    SELECT client_id FROM mcpfcgi_oauth_clients
                                    WHERE registered AND last_used_at < \(cutoff)
                                    ORDER BY last_used_at, client_id LIMIT 1
                                    """, logger: self.logger), as: String.self)
                        }
                        guard let victim else { return false }
                        try await connection.query(
                            "DELETE FROM mcpfcgi_oauth_clients WHERE client_id = \(victim)", logger: self.logger)
                    }
                    try await self.upsert(client, registered: true, on: connection)
                    return true
                }
            }
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/markClientUsed(id:at:)``.
    public func markClientUsed(id: String, at date: Date) async throws {
        try await database.run { [self] in
            let seconds = Int(date.timeIntervalSince1970)
            try await client.query(
                """
                UPDATE mcpfcgi_oauth_clients SET first_used_at = COALESCE(first_used_at, \(seconds)), last_used_at = \(seconds)
                WHERE client_id = \(id)
                """, logger: logger)
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/removeIdleClients(unusedRegisteredBefore:lastUsedBefore:)``.
    public func removeIdleClients(unusedRegisteredBefore: Date, lastUsedBefore: Date) async throws {
        try await database.run { [self] in
            let unusedCutoff = Int(unusedRegisteredBefore.timeIntervalSince1970)
            let usedCutoff = Int(lastUsedBefore.timeIntervalSince1970)
            try await client.query(
                """
                DELETE FROM mcpfcgi_oauth_clients
                WHERE registered AND ((first_used_at IS NULL AND issued_at < \(unusedCutoff)) OR last_used_at < \(usedCutoff))
                """, logger: logger)
        }
    }

    /// The number of dynamically registered clients (those counted against the cap).
    public func registeredClientCount() async throws -> Int {
        try await database.run { [self] in
            try await Int(
                Self.single(
                    client.query("SELECT count(*)::bigint FROM mcpfcgi_oauth_clients WHERE registered", logger: logger),
                    as: Int64.self) ?? 0)
        }
    }

    private func upsert(_ c: OAuthClient, registered: Bool, on connection: PostgresConnection?) async throws {
        let extra = String(decoding: JSONWriter.encode(.object(c.extraMetadata)), as: UTF8.self)
        let query: PostgresQuery = """
            INSERT INTO mcpfcgi_oauth_clients (\(unescaped: Self.clientColumns), registered)
            VALUES (\(c.clientID), \(c.secretDigest), \(c.redirectURIs), \(c.grantTypes), \(c.responseTypes),
                \(c.tokenEndpointAuthMethod.rawValue), \(c.clientName), \(c.scopes), \(c.resources),
                \(c.mayIntrospectAnyToken), \(c.issuedAt), \(c.firstUsedAt), \(c.lastUsedAt), \(extra), \(registered))
            ON CONFLICT (client_id) DO UPDATE SET
                secret_digest = EXCLUDED.secret_digest, redirect_uris = EXCLUDED.redirect_uris,
                grant_types = EXCLUDED.grant_types, response_types = EXCLUDED.response_types,
                token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method, client_name = EXCLUDED.client_name,
                scopes = EXCLUDED.scopes, resources = EXCLUDED.resources,
                may_introspect_any_token = EXCLUDED.may_introspect_any_token, issued_at = EXCLUDED.issued_at,
                first_used_at = EXCLUDED.first_used_at, last_used_at = EXCLUDED.last_used_at,
                extra_metadata = EXCLUDED.extra_metadata,
                registered = mcpfcgi_oauth_clients.registered OR EXCLUDED.registered
            """
        if let connection {
            try await connection.query(query, logger: logger)
        } else {
            try await client.query(query, logger: logger)
        }
    }

    private static func decodeClient(_ row: PostgresRow) throws -> OAuthClient {
        let (id, secret, redirects, grants, responses, method, name) = try row.decode(
            (String, String?, [String], [String], [String], String, String?).self)
        var cells = row.makeIterator()
        for _ in 0..<7 { _ = cells.next() }
        let scopes = try cells.next()?.decode([String]?.self)
        let resources = try cells.next()?.decode([String]?.self)
        let mayIntrospect = try cells.next()?.decode(Bool.self) ?? false
        let issuedAt = try cells.next()?.decode(Int.self) ?? 0
        let firstUsed = try cells.next()?.decode(Int?.self) ?? nil
        let lastUsed = try cells.next()?.decode(Int?.self) ?? nil
        let extraText = try cells.next()?.decode(String.self) ?? "{}"
        var client = OAuthClient(
            clientID: id, redirectURIs: redirects, grantTypes: grants, responseTypes: responses,
            tokenEndpointAuthMethod: OAuthClient.AuthMethod(rawValue: method), clientName: name, scopes: scopes,
            resources: resources, mayIntrospectAnyToken: mayIntrospect, issuedAt: issuedAt,
            extraMetadata: (try? JSONParser().parse(extraText))?.objectValue ?? [:])
        client.secretDigest = secret
        client.firstUsedAt = firstUsed
        client.lastUsedAt = lastUsed
        return client
    }

    // MARK: Authorization codes

    private static let codeColumns =
        "digest, client_id, redirect_uri, code_challenge, scopes, subject, resource, expires_at, family_id"

    /// See ``/MCPOAuth/OAuthStorage/saveAuthorizationCode(_:)``.
    public func saveAuthorizationCode(_ r: AuthorizationCodeRecord) async throws {
        try await database.run { [self] in
            try await client.query(
                """
                INSERT INTO mcpfcgi_oauth_codes (\(unescaped: Self.codeColumns), used)
                VALUES (\(r.codeDigest), \(r.clientID), \(r.redirectURI), \(r.codeChallenge), \(r.scopes), \(r.subject),
                    \(r.resource), \(r.expiresAt), \(r.familyID), false)
                ON CONFLICT (digest) DO UPDATE SET client_id = EXCLUDED.client_id, redirect_uri = EXCLUDED.redirect_uri,
                    code_challenge = EXCLUDED.code_challenge, scopes = EXCLUDED.scopes, subject = EXCLUDED.subject,
                    resource = EXCLUDED.resource, expires_at = EXCLUDED.expires_at, family_id = EXCLUDED.family_id,
                    used = false
                """, logger: logger)
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/consumeAuthorizationCode(digest:)``: one conditional update marks a fresh code used.
    public func consumeAuthorizationCode(digest: String) async throws -> CodeLookup {
        try await database.run { [self] in
            let now = now()
            let consumed = try await client.query(
                """
                UPDATE mcpfcgi_oauth_codes SET used = true WHERE digest = \(digest) AND NOT used AND expires_at > \(now)
                RETURNING \(unescaped: Self.codeColumns), used
                """, logger: logger)
            for try await row in consumed { return .fresh(try Self.decodeCode(row).record) }
            let existing = try await client.query(
                "SELECT \(unescaped: Self.codeColumns), used FROM mcpfcgi_oauth_codes WHERE digest = \(digest)", logger: logger)
            for try await row in existing {
                let (record, used) = try Self.decodeCode(row)
                return used ? .replayed(record) : .unknown  // unused but expired
            }
            return .unknown
        }
    }

    private static func decodeCode(_ row: PostgresRow) throws -> (record: AuthorizationCodeRecord, used: Bool) {
        let (digest, clientID, redirect, challenge, scopes, subject, resource, expires, family, used) = try row.decode(
            (String, String, String, String, [String], String, String?, Date, String, Bool).self)
        return (
            AuthorizationCodeRecord(
                codeDigest: digest, clientID: clientID, redirectURI: redirect, codeChallenge: challenge, scopes: scopes,
                subject: subject, resource: resource, expiresAt: expires, familyID: family),
            used
        )
    }

    // MARK: Refresh tokens

    private static let refreshColumns = "digest, client_id, subject, scopes, expires_at, family_id, resource"

    /// See ``/MCPOAuth/OAuthStorage/saveRefreshToken(_:)``.
    public func saveRefreshToken(_ r: RefreshTokenRecord) async throws {
        try await database.run { [self] in
            try await client.query(
                """
                INSERT INTO mcpfcgi_oauth_refresh_tokens (\(unescaped: Self.refreshColumns), used)
                VALUES (\(r.tokenDigest), \(r.clientID), \(r.subject), \(r.scopes), \(r.expiresAt), \(r.familyID),
                    \(r.resource), false)
                ON CONFLICT (digest) DO UPDATE SET client_id = EXCLUDED.client_id, subject = EXCLUDED.subject,
                    scopes = EXCLUDED.scopes, expires_at = EXCLUDED.expires_at, family_id = EXCLUDED.family_id,
                    resource = EXCLUDED.resource, used = false
                """, logger: logger)
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/rotateRefreshToken(digest:)``: one conditional update marks a live token used.
    public func rotateRefreshToken(digest: String) async throws -> TokenLookup {
        try await database.run { [self] in
            let now = now()
            let rotated = try await client.query(
                """
                UPDATE mcpfcgi_oauth_refresh_tokens t SET used = true
                WHERE t.digest = \(digest) AND NOT t.used AND t.expires_at > \(now)
                    AND NOT EXISTS (SELECT 1 FROM mcpfcgi_oauth_revoked_families f WHERE f.family_id = t.family_id)
                RETURNING \(unescaped: Self.refreshColumns), used
                """, logger: logger)
            for try await row in rotated { return .fresh(try Self.decodeRefresh(row).record) }
            let existing = try await client.query(
                "SELECT \(unescaped: Self.refreshColumns), used FROM mcpfcgi_oauth_refresh_tokens WHERE digest = \(digest)",
                logger: logger)
            for try await row in existing {
                let (record, used) = try Self.decodeRefresh(row)
                return used ? .reused(record) : .unknown  // expired, or its family revoked
            }
            return .unknown
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/refreshToken(digest:)``.
    public func refreshToken(digest: String) async throws -> RefreshTokenRecord? {
        try await database.run { [self] in
            let now = now()
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.refreshColumns), used FROM mcpfcgi_oauth_refresh_tokens t
                WHERE t.digest = \(digest) AND NOT t.used AND t.expires_at > \(now)
                    AND NOT EXISTS (SELECT 1 FROM mcpfcgi_oauth_revoked_families f WHERE f.family_id = t.family_id)
                """, logger: logger)
            for try await row in rows { return try Self.decodeRefresh(row).record }
            return nil
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/revokeRefreshToken(digest:)``.
    public func revokeRefreshToken(digest: String) async throws {
        try await database.run { [self] in
            try await client.query("DELETE FROM mcpfcgi_oauth_refresh_tokens WHERE digest = \(digest)", logger: logger)
        }
    }

    private static func decodeRefresh(_ row: PostgresRow) throws -> (record: RefreshTokenRecord, used: Bool) {
        let (digest, clientID, subject, scopes, expires, family, resource, used) = try row.decode(
            (String, String, String, [String], Date, String, String?, Bool).self)
        return (
            RefreshTokenRecord(
                tokenDigest: digest, clientID: clientID, subject: subject, scopes: scopes, expiresAt: expires,
                familyID: family, resource: resource),
            used
        )
    }

    // MARK: Access tokens and revocations

    /// See ``/MCPOAuth/OAuthStorage/recordAccessToken(jti:familyID:expiresAt:)``.
    public func recordAccessToken(jti: String, familyID: String?, expiresAt: Date) async throws {
        try await database.run { [self] in
            try await client.query(
                """
                INSERT INTO mcpfcgi_oauth_access_tokens (jti, family_id, expires_at) VALUES (\(jti), \(familyID), \(expiresAt))
                ON CONFLICT (jti) DO UPDATE SET family_id = EXCLUDED.family_id, expires_at = EXCLUDED.expires_at
                """, logger: logger)
        }
    }

    /// See ``/MCPOAuth/OAuthStorage/revokeAccessToken(jti:)``. The revocation is kept until the token expires (forever for a
    /// token this storage never recorded).
    public func revokeAccessToken(jti: String) async throws {
        try await revoke(jti: jti, expiresAt: nil)
    }

    /// See ``/MCPOAuth/OAuthStorage/revokeAccessToken(jti:expiresAt:)``: kept until the recorded expiry, else `expiresAt`.
    public func revokeAccessToken(jti: String, expiresAt: Date) async throws {
        try await revoke(jti: jti, expiresAt: expiresAt)
    }

    /// Records the revocation and announces it (``DatabaseNotifications``) in one statement.
    private func revoke(jti: String, expiresAt: Date?) async throws {
        try await database.run { [self] in
            try await client.query(
                """
                WITH revoked AS (
                    INSERT INTO mcpfcgi_oauth_revoked_access_tokens (jti, expires_at)
                    VALUES (\(jti), COALESCE(
                        (SELECT expires_at FROM mcpfcgi_oauth_access_tokens WHERE jti = \(jti)), \(expiresAt), 'infinity'))
                    ON CONFLICT (jti) DO NOTHING)
                SELECT pg_notify(\(DatabaseNotifications.channel), 'r|')
                """, logger: logger)
        }
        revocations.dropAll()
    }

    /// See ``/MCPOAuth/OAuthStorage/revokeFamily(_:)``: the family is revoked and its refresh tokens are spent, in one
    /// transaction.
    public func revokeFamily(_ familyID: String) async throws {
        try await database.run { [self] in
            try await unwrappingTransactionErrors {
                try await self.client.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        "INSERT INTO mcpfcgi_oauth_revoked_families (family_id) VALUES (\(familyID)) ON CONFLICT DO NOTHING",
                        logger: self.logger)
                    try await connection.query(
                        "UPDATE mcpfcgi_oauth_refresh_tokens SET used = true WHERE family_id = \(familyID)", logger: self.logger)
                    try await connection.query(PostgresQuery(unsafeSQL: Self.revocationAnnouncement), logger: self.logger)
                }
            }
        }
        revocations.dropAll()
    }

    /// See ``/MCPOAuth/OAuthStorage/isAccessTokenRevoked(jti:)``.
    public func isAccessTokenRevoked(jti: String) async throws -> Bool {
        let listening = notifications?.isListening ?? false
        if listening, revocations.isKnownNotRevoked(jti) { return false }
        let generation = revocations.generation
        let revoked = try await database.run { [self] in
            try await Self.single(
                client.query(
                    """
                    SELECT EXISTS (SELECT 1 FROM mcpfcgi_oauth_revoked_access_tokens WHERE jti = \(jti))
                        OR EXISTS (
                            SELECT 1 FROM mcpfcgi_oauth_access_tokens a
                            JOIN mcpfcgi_oauth_revoked_families f ON f.family_id = a.family_id
                            WHERE a.jti = \(jti))
                    """, logger: logger), as: Bool.self) ?? false
        }
        if !revoked, listening { revocations.remember(jti, asOf: generation) }
        return revoked
    }

    /// See ``/MCPOAuth/OAuthStorage/removeExpired(before:)``. Used codes are kept an hour past their expiry so that a late
    /// replay still revokes what they issued; a revoked family is forgotten once nothing of it is left.
    public func removeExpired(before date: Date) async throws {
        try await database.run { [self] in
            let codesBefore = date.addingTimeInterval(-3600)
            try await unwrappingTransactionErrors {
                try await self.client.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        "DELETE FROM mcpfcgi_oauth_codes WHERE expires_at < \(codesBefore)", logger: self.logger)
                    try await connection.query(
                        "DELETE FROM mcpfcgi_oauth_refresh_tokens WHERE expires_at < \(date)", logger: self.logger)
                    try await connection.query(
                        "DELETE FROM mcpfcgi_oauth_access_tokens WHERE expires_at < \(date)", logger: self.logger)
                    try await connection.query(
                        "DELETE FROM mcpfcgi_oauth_revoked_access_tokens WHERE expires_at < \(date)", logger: self.logger)
                    try await connection.query(
                        """
                        DELETE FROM mcpfcgi_oauth_revoked_families f
                        WHERE NOT EXISTS (SELECT 1 FROM mcpfcgi_oauth_refresh_tokens t WHERE t.family_id = f.family_id)
                            AND NOT EXISTS (SELECT 1 FROM mcpfcgi_oauth_access_tokens a WHERE a.family_id = f.family_id)
                            AND NOT EXISTS (SELECT 1 FROM mcpfcgi_oauth_codes c WHERE c.family_id = f.family_id)
                        """, logger: self.logger)
                }
            }
        }
    }

    /// Revocations need no push between workers: every worker reads them from the database.
    public func applyPeerRevocations(_ jtis: [String]) async throws {
        try await database.run { [self] in
            for jti in jtis { try await revokeAccessToken(jti: jti) }
        }
    }

    // MARK: Helpers

    /// The first column of the first row, if any.
    private static func single<T: PostgresDecodable & Sendable>(_ rows: PostgresRowSequence, as type: T.Type) async throws -> T? {
        for try await value in rows.decode(T.self) { return value }
        return nil
    }

    /// Runs a transaction, throwing the closure's own error (or the database's) instead of postgres-nio's wrapper.
    private func unwrappingTransactionErrors<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }
}
