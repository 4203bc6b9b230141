import Foundation
import Logging
import MCPPostgres
import PostgresNIO
import Synchronization
import Testing

/// The per-worker cache of "not revoked" answers of ``PostgresOAuthStorage``: trusted while the listener is in place
/// and within its time to live, dropped on every announced revocation (any worker), bypassed while not listening.
@Suite struct RevocationCacheTests {
    /// Inserts a revocation the way another program might, without announcing it.
    static func revokeSilently(_ jti: String, on database: PostgresPool) async throws {
        try await database.client.query(
            "INSERT INTO mcpfcgi_oauth_revoked_access_tokens (jti, expires_at) VALUES (\(jti), 'infinity')",
            logger: Logger(label: "test"))
    }

    @Test func aRevocationOnAnotherWorkerIsInForceHereWithinASecondDespiteTheCache() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let notifications = DatabaseNotifications(database: database)
            let here = PostgresOAuthStorage(database: database, notifications: notifications)
            let otherPool = PostgresPool(configuration: .init(url: database.configuration.url), logger: Logger(label: "b"))
            try await otherPool.start()
            let there = PostgresOAuthStorage(database: otherPool)
            #expect(await PostgresSessionStoreTests.eventually { notifications.isListening })
            let expiry = Date().addingTimeInterval(600)
            try await there.recordAccessToken(jti: "t1", familyID: "f1", expiresAt: expiry)
            try await there.recordAccessToken(jti: "t2", familyID: "f2", expiresAt: expiry)
            #expect(try await here.isAccessTokenRevoked(jti: "t1") == false)
            #expect(try await here.isAccessTokenRevoked(jti: "t2") == false)
            try await there.revokeAccessToken(jti: "t1")
            #expect(try await PostgresSessionStoreTests.eventually(1) { try await here.isAccessTokenRevoked(jti: "t1") })
            // A family revoked elsewhere: its tokens too.
            try await there.revokeFamily("f2")
            #expect(try await PostgresSessionStoreTests.eventually(1) { try await here.isAccessTokenRevoked(jti: "t2") })
            await notifications.stop()
            await otherPool.shutdown()
        }
    }

    @Test func answersAreCachedWhileListeningUntilTheirTimeToLiveAndNotAtAllWhenNotListening() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let seconds = Mutex<Double>(1_800_000_000)
            let notifications = DatabaseNotifications(database: database)
            let storage = PostgresOAuthStorage(
                database: database, notifications: notifications, revocationCacheTimeToLive: .seconds(30),
                now: { Date(timeIntervalSince1970: seconds.withLock { $0 }) })
            #expect(await PostgresSessionStoreTests.eventually { notifications.isListening })
            #expect(try await storage.isAccessTokenRevoked(jti: "cached") == false)
            // Revoked behind the cache's back (no announcement): the cached answer stands…
            try await Self.revokeSilently("cached", on: database)
            #expect(try await storage.isAccessTokenRevoked(jti: "cached") == false)
            // …until its time to live ends.
            seconds.withLock { $0 += 31 }
            #expect(try await storage.isAccessTokenRevoked(jti: "cached") == true)

            // Not listening: every check asks the database.
            await notifications.stop()
            #expect(notifications.isListening == false)
            #expect(try await storage.isAccessTokenRevoked(jti: "uncached") == false)
            try await Self.revokeSilently("uncached", on: database)
            #expect(try await storage.isAccessTokenRevoked(jti: "uncached") == true)
        }
    }

    @Test func withoutAListenerEveryCheckAsksTheDatabase() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let storage = PostgresOAuthStorage(database: database)
            #expect(try await storage.isAccessTokenRevoked(jti: "j") == false)
            try await Self.revokeSilently("j", on: database)
            #expect(try await storage.isAccessTokenRevoked(jti: "j") == true)
        }
    }
}
