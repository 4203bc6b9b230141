import Foundation
import Logging
import MCPHandlers
import MCPOAuth
import MCPPostgres
import PostgresNIO
import Synchronization
import Testing

/// ``PostgresOAuthStorage`` against a real PostgreSQL: the `OAuthStorage` contract the in-memory storage keeps,
/// with single use enforced by the database when two workers race, and state shared by every worker.
@Suite struct PostgresOAuthStorageTests {
    /// A clock tests move.
    final class Clock: Sendable {
        private let seconds = Mutex<Double>(1_800_000_000)
        var now: Date { Date(timeIntervalSince1970: seconds.withLock { $0 }) }
        func advance(_ delta: Double) { seconds.withLock { $0 += delta } }
    }

    static func code(_ digest: String, expiresAt: Date, family: String = "fam-1") -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(
            codeDigest: digest, clientID: "c1", redirectURI: "http://127.0.0.1/cb", codeChallenge: "chal",
            scopes: ["mcp:read", "mcp:write"], subject: "alice", resource: "https://mcp.example.com/mcp",
            expiresAt: expiresAt, familyID: family)
    }

    static func refresh(_ digest: String, expiresAt: Date, family: String = "fam-1") -> RefreshTokenRecord {
        RefreshTokenRecord(
            tokenDigest: digest, clientID: "c1", subject: "alice", scopes: ["mcp:read"], expiresAt: expiresAt,
            familyID: family, resource: nil)
    }

    @Test func aClientRoundTripsWithEveryField() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let storage = PostgresOAuthStorage(database: database)
            var client = OAuthClient(
                clientID: "c1", clientSecret: "s3cret", redirectURIs: ["http://127.0.0.1/cb", "https://app.example/cb"],
                grantTypes: ["authorization_code", "refresh_token", "client_credentials"], clientName: "App",
                scopes: ["mcp:read"], resources: ["https://mcp.example.com/mcp"], mayIntrospectAnyToken: true,
                issuedAt: 1_800_000_000, extraMetadata: ["logo_uri": "https://app.example/logo.png", "n": 3])
            client.firstUsedAt = 1_800_000_010
            client.lastUsedAt = 1_800_000_020
            try await storage.saveClient(client)
            #expect(try await storage.client(id: "c1") == client)
            #expect(try await storage.client(id: "nope") == nil)
            let publicClient = OAuthClient(clientID: "p1", redirectURIs: ["http://127.0.0.1/cb"], issuedAt: 1)
            try await storage.saveClient(publicClient)
            #expect(try await storage.client(id: "p1") == publicClient)
            #expect(try await storage.registeredClientCount() == 0)  // saved, not registered
        }
    }

    @Test func aCodeIsFreshOnceThenAReplayAndExpiredOrUnknownCodesAreUnknown() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let clock = Clock()
            let storage = PostgresOAuthStorage(database: database, now: { clock.now })
            let record = Self.code("d1", expiresAt: clock.now.addingTimeInterval(60))
            try await storage.saveAuthorizationCode(record)
            guard case .fresh(let fresh) = try await storage.consumeAuthorizationCode(digest: "d1") else {
                Issue.record("the first consume must be fresh")
                return
            }
            #expect(fresh == record)
            guard case .replayed(let replayed) = try await storage.consumeAuthorizationCode(digest: "d1") else {
                Issue.record("the second consume must be a replay")
                return
            }
            #expect(replayed.familyID == "fam-1")
            guard case .unknown = try await storage.consumeAuthorizationCode(digest: "never") else {
                Issue.record("an unknown digest is unknown")
                return
            }
            try await storage.saveAuthorizationCode(Self.code("d2", expiresAt: clock.now.addingTimeInterval(60)))
            clock.advance(61)
            guard case .unknown = try await storage.consumeAuthorizationCode(digest: "d2") else {
                Issue.record("an expired code is unknown")
                return
            }
        }
    }

    @Test func twoWorkersRacingForOneCodeGetItExactlyOnce() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let clock = Clock()
            // Two workers (two pools, two storages) on one database; 16 consumes of 8 codes each at the same moment.
            let otherPool = PostgresPool(configuration: database.configuration, logger: Logger(label: "t"))
            try await otherPool.start()
            let workers = [database, otherPool].map { PostgresOAuthStorage(database: $0, now: { clock.now }) }
            for i in 0..<8 {
                try await workers[0].saveAuthorizationCode(Self.code("race-\(i)", expiresAt: clock.now.addingTimeInterval(60)))
            }
            let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for i in 0..<8 {
                    for attempt in 0..<16 {
                        group.addTask {
                            let lookup = try await workers[attempt % 2].consumeAuthorizationCode(digest: "race-\(i)")
                            if case .fresh = lookup { return (i, true) }
                            if case .replayed = lookup { return (i, false) }
                            Issue.record("a racing consume must be fresh or a replay")
                            return (i, false)
                        }
                    }
                }
                var fresh = [Int: Int]()
                for try await (i, wasFresh) in group where wasFresh { fresh[i, default: 0] += 1 }
                return fresh
            }
            await otherPool.shutdown()
            #expect(outcomes == Dictionary(uniqueKeysWithValues: (0..<8).map { ($0, 1) }))
        }
    }

    @Test func twoWorkersRotatingOneRefreshTokenAtOnceGetItOnceAndSeeTheReuse() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let clock = Clock()
            let otherPool = PostgresPool(configuration: database.configuration, logger: Logger(label: "t"))
            try await otherPool.start()
            let workers = [database, otherPool].map { PostgresOAuthStorage(database: $0, now: { clock.now }) }
            try await workers[0].saveRefreshToken(Self.refresh("shared", expiresAt: clock.now.addingTimeInterval(600)))
            let fresh = try await withThrowingTaskGroup(of: Bool.self) { group in
                for attempt in 0..<12 {
                    group.addTask {
                        switch try await workers[attempt % 2].rotateRefreshToken(digest: "shared") {
                        case .fresh: return true
                        case .reused: return false
                        case .unknown:
                            Issue.record("a racing rotation must be fresh or a reuse")
                            return false
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            await otherPool.shutdown()
            #expect(fresh == 1)
        }
    }

    @Test func anOperationBlockedByALockEndsWithinTheOperationTimeout() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            // Another session holds the revocation table locked (a stuck worker, a migration, an operator).
            let holding = Task {
                try await database.client.withTransaction(logger: Logger(label: "t")) { connection in
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "LOCK TABLE mcpfcgi_oauth_revoked_access_tokens IN ACCESS EXCLUSIVE MODE"),
                        logger: Logger(label: "t"))
                    try await Task.sleep(for: .seconds(3))
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            var fast = database.configuration
            fast.operationTimeout = .seconds(1)
            let pool = PostgresPool(configuration: fast, logger: Logger(label: "t"))
            try await pool.start()
            let storage = PostgresOAuthStorage(database: pool)
            let clock = ContinuousClock()
            let started = clock.now
            await #expect(throws: (any Error).self) { try await storage.isAccessTokenRevoked(jti: "j") }
            #expect(clock.now - started < .seconds(10), "a lock wait must not outlast the operation timeout (1 s; the lock is held 3 s)")
            _ = try? await holding.value
            // The lock is gone: the same pool answers again.
            #expect(try await storage.isAccessTokenRevoked(jti: "j") == false)
            await pool.shutdown()
        }
    }

    @Test func aShutDownPoolRefusesToStartAgain() async throws {
        let pool = PostgresPool(configuration: .init(url: try await PostgresTestCluster.freshDatabase()), logger: Logger(label: "t"))
        try await pool.start()
        await pool.shutdown()
        await #expect {
            try await pool.start()
        } throws: { error in
            (error as? SchemaMigrations.Failure)?.message.contains("shut down") == true
        }
    }

    @Test func aRefreshTokenRotatesOnceAndReuseIsReported() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let clock = Clock()
            let storage = PostgresOAuthStorage(database: database, now: { clock.now })
            let record = Self.refresh("r1", expiresAt: clock.now.addingTimeInterval(3600))
            try await storage.saveRefreshToken(record)
            #expect(try await storage.refreshToken(digest: "r1") == record)
            guard case .fresh(let fresh) = try await storage.rotateRefreshToken(digest: "r1") else {
                Issue.record("the first rotation must be fresh")
                return
            }
            #expect(fresh == record)
            #expect(try await storage.refreshToken(digest: "r1") == nil)  // spent
            guard case .reused = try await storage.rotateRefreshToken(digest: "r1") else {
                Issue.record("the second rotation must be a reuse")
                return
            }
            guard case .unknown = try await storage.rotateRefreshToken(digest: "nope") else {
                Issue.record("an unknown token is unknown")
                return
            }
            try await storage.saveRefreshToken(Self.refresh("r2", expiresAt: clock.now.addingTimeInterval(10)))
            clock.advance(11)
            guard case .unknown = try await storage.rotateRefreshToken(digest: "r2") else {
                Issue.record("an expired token is unknown")
                return
            }
            try await storage.saveRefreshToken(Self.refresh("r3", expiresAt: clock.now.addingTimeInterval(10)))
            try await storage.revokeRefreshToken(digest: "r3")
            #expect(try await storage.refreshToken(digest: "r3") == nil)
        }
    }

    @Test func revokingAFamilySpendsItsRefreshTokensAndRevokesItsAccessTokens() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let clock = Clock()
            let a = PostgresOAuthStorage(database: database, now: { clock.now })
            let b = PostgresOAuthStorage(database: database, now: { clock.now })  // another worker
            let exp = clock.now.addingTimeInterval(600)
            try await a.saveRefreshToken(Self.refresh("r1", expiresAt: exp, family: "f1"))
            try await a.recordAccessToken(jti: "j1", familyID: "f1", expiresAt: exp)
            try await a.recordAccessToken(jti: "j2", familyID: "f2", expiresAt: exp)
            #expect(try await !b.isAccessTokenRevoked(jti: "j1"))
            try await a.revokeFamily("f1")
            #expect(try await b.isAccessTokenRevoked(jti: "j1"))
            #expect(try await !b.isAccessTokenRevoked(jti: "j2"))
            guard case .reused = try await b.rotateRefreshToken(digest: "r1") else {
                Issue.record("a revoked family's refresh token is spent")
                return
            }
            try await b.revokeAccessToken(jti: "j2")
            try await b.revokeAccessToken(jti: "j2")  // twice is harmless
            #expect(try await a.isAccessTokenRevoked(jti: "j2"))
            try await a.revokeAccessToken(jti: "never-recorded")
            #expect(try await a.isAccessTokenRevoked(jti: "never-recorded"))
            try await a.applyPeerRevocations(["p1", "p2"])
            #expect(try await b.isAccessTokenRevoked(jti: "p2"))
        }
    }

    @Test func expiredStateIsRemovedAndRevokedFamiliesAreForgottenWhenEmpty() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let clock = Clock()
            let storage = PostgresOAuthStorage(database: database, now: { clock.now })
            let soon = clock.now.addingTimeInterval(60)
            try await storage.saveAuthorizationCode(Self.code("d1", expiresAt: soon, family: "f1"))
            try await storage.saveRefreshToken(Self.refresh("r1", expiresAt: soon, family: "f1"))
            try await storage.recordAccessToken(jti: "j1", familyID: "f1", expiresAt: soon)
            try await storage.revokeAccessToken(jti: "j1")
            try await storage.revokeFamily("f1")
            // Within the hour after expiry a used code still answers as a replay.
            _ = try await storage.consumeAuthorizationCode(digest: "d1")
            try await storage.removeExpired(before: soon.addingTimeInterval(1))
            guard case .replayed = try await storage.consumeAuthorizationCode(digest: "d1") else {
                Issue.record("a used code is kept an hour past its expiry")
                return
            }
            #expect(try await storage.isAccessTokenRevoked(jti: "j1") == false)  // its record and revocation expired
            try await storage.removeExpired(before: soon.addingTimeInterval(3601))
            guard case .unknown = try await storage.consumeAuthorizationCode(digest: "d1") else {
                Issue.record("an hour later the code is gone")
                return
            }
            let families = try await database.client.query("SELECT count(*)::bigint FROM mcpfcgi_oauth_revoked_families")
            for try await count in families.decode(Int64.self) { #expect(count == 0) }
        }
    }

    @Test func aRevocationOfAnUnrecordedTokenIsKeptUntilItsGivenExpiryOnly() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let clock = Clock()
            let storage = PostgresOAuthStorage(database: database, now: { clock.now })
            let soon = clock.now.addingTimeInterval(60)
            try await storage.revokeAccessToken(jti: "unrecorded", expiresAt: soon)
            try await storage.revokeAccessToken(jti: "no-expiry")
            #expect(try await storage.isAccessTokenRevoked(jti: "unrecorded"))
            try await storage.removeExpired(before: soon.addingTimeInterval(1))
            // Its revocation went with its expiry; one without a known expiry is kept.
            #expect(try await storage.isAccessTokenRevoked(jti: "unrecorded") == false)
            #expect(try await storage.isAccessTokenRevoked(jti: "no-expiry"))
            // A recorded expiry wins over the one given.
            try await storage.recordAccessToken(jti: "recorded", familyID: nil, expiresAt: soon.addingTimeInterval(600))
            try await storage.revokeAccessToken(jti: "recorded", expiresAt: soon)
            try await storage.removeExpired(before: soon.addingTimeInterval(1))
            #expect(try await storage.isAccessTokenRevoked(jti: "recorded"))
        }
    }

    @Test func registrationsAreCappedEvictingTheOldestUnusedThenTheLeastRecentlyUsed() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let storage = PostgresOAuthStorage(database: database)
            func client(_ id: String, issuedAt: Int) -> OAuthClient {
                OAuthClient(clientID: id, redirectURIs: ["http://127.0.0.1/cb"], issuedAt: issuedAt)
            }
            let old = Date(timeIntervalSince1970: 1000)
            #expect(try await storage.registerClient(client("a", issuedAt: 100), maximumClients: 2, evictableBefore: old))
            #expect(try await storage.registerClient(client("b", issuedAt: 200), maximumClients: 2, evictableBefore: old))
            try await storage.markClientUsed(id: "a", at: Date(timeIntervalSince1970: 500))
            // Full: "b" (never used, registered before the cutoff) goes first.
            #expect(try await storage.registerClient(client("c", issuedAt: 2000), maximumClients: 2, evictableBefore: old))
            #expect(try await storage.client(id: "b") == nil)
            // Full again: nothing unused is old enough, so the least recently used ("a", used at 500) goes.
            #expect(try await storage.registerClient(client("d", issuedAt: 2100), maximumClients: 2, evictableBefore: old))
            #expect(try await storage.client(id: "a") == nil)
            // Full, and nothing may be evicted: refused.
            #expect(try await !storage.registerClient(client("e", issuedAt: 2200), maximumClients: 2, evictableBefore: old))
            #expect(try await storage.registeredClientCount() == 2)
            // Re-registering a registered client is not a new one.
            #expect(try await storage.registerClient(client("c", issuedAt: 2000), maximumClients: 2, evictableBefore: old))
            let used = try #require(try await storage.client(id: "c"))
            #expect(used.firstUsedAt == nil)
            try await storage.markClientUsed(id: "c", at: Date(timeIntervalSince1970: 3000))
            try await storage.markClientUsed(id: "c", at: Date(timeIntervalSince1970: 3100))
            let marked = try #require(try await storage.client(id: "c"))
            #expect(marked.firstUsedAt == 3000)
            #expect(marked.lastUsedAt == 3100)
        }
    }

    @Test func concurrentRegistrationsNeverExceedTheCap() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let storage = PostgresOAuthStorage(database: database)
            let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        try await storage.registerClient(
                            OAuthClient(clientID: "c\(i)", redirectURIs: ["http://127.0.0.1/cb"], issuedAt: 5000),
                            maximumClients: 5, evictableBefore: Date(timeIntervalSince1970: 1000))
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(accepted == 5)
            #expect(try await storage.registeredClientCount() == 5)
        }
    }

    @Test func idleClientsAreRemoved() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let storage = PostgresOAuthStorage(database: database)
            for (id, issued) in [("never-used-old", 100), ("never-used-new", 5000), ("used", 100)] {
                _ = try await storage.registerClient(
                    OAuthClient(clientID: id, redirectURIs: ["http://127.0.0.1/cb"], issuedAt: issued),
                    maximumClients: 10, evictableBefore: Date(timeIntervalSince1970: 0))
            }
            try await storage.saveClient(OAuthClient(clientID: "preregistered", redirectURIs: ["http://127.0.0.1/cb"], issuedAt: 1))
            try await storage.markClientUsed(id: "used", at: Date(timeIntervalSince1970: 200))
            try await storage.removeIdleClients(
                unusedRegisteredBefore: Date(timeIntervalSince1970: 1000), lastUsedBefore: Date(timeIntervalSince1970: 300))
            #expect(try await storage.client(id: "never-used-old") == nil)
            #expect(try await storage.client(id: "used") == nil)
            #expect(try await storage.client(id: "never-used-new") != nil)
            #expect(try await storage.client(id: "preregistered") != nil)  // never counted, never removed
        }
    }

    @Test func anUnreachableDatabaseFailsEveryCallInsteadOfHanging() async throws {
        let url = try DatabaseURL("postgres://nobody@/nothing?host=/nonexistent-mcpfcgi-socket-dir")
        let database = PostgresPool(
            configuration: .init(url: url, connectTimeout: .milliseconds(300), operationTimeout: .seconds(1)), logger: Logger(label: "t"))
        _ = try? await database.start()  // the pool runs; the migration failed
        let storage = PostgresOAuthStorage(database: database)
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: (any Error).self) { try await storage.isAccessTokenRevoked(jti: "j") }
        #expect(clock.now - started < .seconds(15), "bounded by the operation timeout (1 s) plus scheduling on a loaded machine, not a hang")
        await database.shutdown()
    }
}
