import Foundation
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// Serialized: the fetcher allows 16 fetches at once per process, and the 17 addresses below, run in parallel on a
/// loaded machine, could exceed it (the 17th answered `unavailable`, not `refusedAddress`).
@Suite(.serialized) struct RestrictedHTTPFetcherTests {
    static let privateNetworks = RestrictedHTTPFetcher.Configuration(allowPrivateAddresses: true)

    func fetch(
        _ url: String, _ configuration: RestrictedHTTPFetcher.Configuration = .init()
    ) async -> Result<(status: Int, body: [UInt8]), RestrictedHTTPFetcher.Failure> {
        do {
            return .success(try await RestrictedHTTPFetcher(configuration: configuration).fetch(.init(url: url)))
        } catch {
            return .failure(error)
        }
    }

    func reason(_ result: Result<(status: Int, body: [UInt8]), RestrictedHTTPFetcher.Failure>)
        -> RestrictedHTTPFetcher.Failure.Reason?
    {
        if case .failure(let failure) = result { failure.reason } else { nil }
    }

    @Test func defaultRefusesALoopbackServerWithoutConnecting() async throws {
        let server = try ScriptedHTTPServer(.document("{}"))
        defer { server.stop() }
        for host in ["127.0.0.1", "localhost"] {
            let result = await fetch("http://\(host):\(server.port)/client.json")
            #expect(reason(result) == .refusedAddress, "\(host)")
            if case .failure(let failure) = result { #expect(failure.description.contains("loopback")) }
        }
        #expect(server.connections == 0)
    }

    @Test(arguments: [
        "http://10.1.2.3/c.json", "http://172.16.0.1/c.json", "http://192.168.1.1/c.json", "http://100.64.0.1/c.json",
        "https://169.254.169.254/latest/meta-data/", "http://0.0.0.0/c.json", "http://2130706433/c.json",
        "http://0x7f.1/c.json", "http://[::1]/c.json", "http://[fe80::1]/c.json", "http://[fd00::1]/c.json",
        "http://[::ffff:127.0.0.1]/c.json", "https://[::ffff:169.254.169.254]/c.json", "http://[64:ff9b::a9fe:a9fe]/",
        "http://224.0.0.1/c.json", "http://255.255.255.255/c.json", "http://192.0.2.1/c.json",
    ])
    func defaultRefusesNonPublicAddresses(url: String) async {
        #expect(reason(await fetch(url)) == .refusedAddress)
    }

    @Test(arguments: ["ftp://example.com/c.json", "/relative/c.json", "https:///c.json"])
    func refusesNonHTTPURLs(url: String) async {
        #expect(reason(await fetch(url)) == .invalidURL)
    }

    @Test func allowPrivateAddressesFetchesTheDocument() async throws {
        let server = try ScriptedHTTPServer(.document(#"{"client_id":"x"}"#))
        defer { server.stop() }
        let result = try await fetch("http://127.0.0.1:\(server.port)/client.json", Self.privateNetworks).get()
        #expect(result.status == 200)
        #expect(String(decoding: result.body, as: UTF8.self) == #"{"client_id":"x"}"#)
        #expect(server.connections == 1)
    }

    @Test func redirectsAreNotFollowed() async throws {
        let target = try ScriptedHTTPServer(.document("{}"))
        defer { target.stop() }
        let server = try ScriptedHTTPServer(.redirect("http://127.0.0.1:\(target.port)/internal"))
        defer { server.stop() }
        let result = await fetch("http://127.0.0.1:\(server.port)/client.json", Self.privateNetworks)
        #expect(reason(result) == .redirect)
        #expect(target.connections == 0)
    }

    @Test func anEndlessBodyIsCutAtTheCap() async throws {
        let server = try ScriptedHTTPServer(.endless)
        defer { server.stop() }
        var configuration = Self.privateNetworks
        configuration.maximumBodySize = 4096
        configuration.timeout = .seconds(10)
        let started = ContinuousClock.now
        let result = await fetch("http://127.0.0.1:\(server.port)/client.json", configuration)
        #expect(reason(result) == .tooLarge)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func anAnnouncedOversizedBodyIsRefused() async throws {
        let server = try ScriptedHTTPServer(.document(String(repeating: "x", count: 6000)))
        defer { server.stop() }
        #expect(reason(await fetch("http://127.0.0.1:\(server.port)/c.json", Self.privateNetworks)) == .tooLarge)
    }

    @Test func aSlowDripHitsTheTotalDeadline() async throws {
        // A byte every 100 ms never trips an idle timeout; the total deadline stops it.
        let server = try ScriptedHTTPServer(.drip(length: 200, interval: .milliseconds(100)))
        defer { server.stop() }
        var configuration = Self.privateNetworks
        configuration.timeout = .seconds(1)
        let started = ContinuousClock.now
        let result = await fetch("http://127.0.0.1:\(server.port)/client.json", configuration)
        let elapsed = ContinuousClock.now - started
        #expect(reason(result) == .timedOut)
        // The drip lasts 20 s; the bound is loose because the test process runs hundreds of tests on 2 cores.
        #expect(elapsed < .seconds(6))
        #expect(elapsed >= .milliseconds(900))
    }

    @Test func anUnresolvableHostIsAFailure() async {
        #expect(reason(await fetch("https://does-not-exist.invalid/c.json")) == .unresolvable)
    }

    /// The second line of the pinning: libcurl's socket callback opens a socket only for an address that was
    /// checked (and is public unless private addresses are allowed); any other address — a DNS answer that
    /// changed, a connection libcurl would make elsewhere — is refused and named.
    @Test func socketCallbackOpensOnlyCheckedPublicAddresses() {
        func admits(_ text: String, allowed: [String], allowPrivate: Bool = false) -> (Bool, String?) {
            let transfer = Transfer(
                allowed: Set(allowed.compactMap { IPAddress($0) }), allowPrivate: allowPrivate, maximum: 10,
                abandoned: Transfer.Flag())
            return (transfer.admits(IPAddress(text)), transfer.refused)
        }
        // Not among the checked addresses: refused and named, although it is public.
        #expect(admits("93.184.215.14", allowed: ["93.184.215.15"]) == (false, "93.184.215.14"))
        #expect(admits("2606:2800:21f:cb07::1", allowed: ["93.184.215.14"]).0 == false)
        // Checked but private: only with allowPrivateAddresses.
        #expect(admits("10.0.0.7", allowed: ["10.0.0.7"]).0 == false)
        #expect(admits("10.0.0.7", allowed: ["10.0.0.7"], allowPrivate: true) == (true, nil))
        // An address of a family the check does not know.
        let unknown = Transfer(allowed: [], allowPrivate: true, maximum: 10, abandoned: Transfer.Flag())
        #expect(unknown.admits(nil) == false)
        #expect(unknown.refused == "an address of another family")
        // Checked and public.
        #expect(admits("93.184.215.14", allowed: ["93.184.215.14"]) == (true, nil))
    }
}
