import CCurl
import Foundation
import Synchronization
import MCPHTTP
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Outgoing HTTP for URLs chosen by strangers (Client ID Metadata Documents): a defence against server-side
/// request forgery.
///
/// - The host is resolved once and **every** address is checked (`IPAddress/Category`): loopback,
///   unspecified, private, carrier-grade NAT, link-local (cloud metadata at 169.254.169.254), unique-local,
///   multicast, broadcast and reserved ranges — and the IPv4-mapped, NAT64 and 6to4 forms of those — are
///   refused unless ``Configuration/allowPrivateAddresses``.
/// - The connection goes to exactly the checked addresses (no second DNS lookup, so no DNS-rebinding race);
///   each address is checked again when the socket is opened. Proxies from the environment are ignored.
/// - No redirect is followed: a 3xx answer is a ``Failure`` (``Failure/Reason/redirect``).
/// - The body is read as a stream and the transfer is aborted once it passes
///   ``Configuration/maximumBodySize`` (``Failure/Reason/tooLarge``).
/// - One deadline, ``Configuration/timeout``, covers resolving, connecting, TLS and reading
///   (``Failure/Reason/timedOut``): a server dripping a byte a second cannot hold the request open.
///
/// The transfer (libcurl, already part of the process through FoundationNetworking) runs on a thread of its
/// own, never on Swift's cooperative pool.
///
/// ```swift
/// let fetcher = RestrictedHTTPFetcher(configuration: .init(maximumBodySize: 5120, timeout: .seconds(5)))
/// let (status, body) = try await fetcher.fetch(HTTPFetcher.Request(url: "https://app.example/client.json"))
/// ```
public struct RestrictedHTTPFetcher: Sendable {
    /// The limits of a ``RestrictedHTTPFetcher``.
    public struct Configuration: Sendable {
        /// Largest body accepted, in bytes; the transfer is aborted past it. Default 5120.
        public var maximumBodySize: Int
        /// One deadline for resolving, connecting, TLS and reading the whole answer. Default 5 s.
        public var timeout: Duration
        /// Whether loopback, private, link-local and other non-public addresses may be fetched. Default false.
        /// **For tests and private networks only**: with it, anyone who can name a URL can make the server
        /// request internal services.
        public var allowPrivateAddresses: Bool
        /// Most fetches running at once in the process (each runs on its own thread, which may outlive the
        /// deadline while a DNS lookup hangs); one more fails at once as unavailable. Default 16.
        public var maximumConcurrentFetches: Int

        /// Creates the limits; every parameter has the default documented on its property.
        public init(
            maximumBodySize: Int = 5120, timeout: Duration = .seconds(5), allowPrivateAddresses: Bool = false,
            maximumConcurrentFetches: Int = 16
        ) {
            self.maximumBodySize = maximumBodySize
            self.timeout = timeout
            self.allowPrivateAddresses = allowPrivateAddresses
            self.maximumConcurrentFetches = maximumConcurrentFetches
        }
    }

    /// Why a fetch was refused or failed. ``description`` says what happened and is safe to show the client.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The kind of failure; a set that may grow.
        public struct Reason: Hashable, Sendable {
            private enum Storage: Hashable {
                case invalidURL, refusedAddress, unresolvable, redirect, tooLarge, timedOut, transport, unavailable
            }
            private let storage: Storage
            private init(_ storage: Storage) { self.storage = storage }
            /// Not an absolute http(s) URL with a host.
            public static let invalidURL = Reason(.invalidURL)
            /// The host is or resolves to a non-public address.
            public static let refusedAddress = Reason(.refusedAddress)
            /// The host name could not be resolved.
            public static let unresolvable = Reason(.unresolvable)
            /// The server answered with a redirect (3xx), which is not followed.
            public static let redirect = Reason(.redirect)
            /// The body passed ``Configuration/maximumBodySize``.
            public static let tooLarge = Reason(.tooLarge)
            /// The whole exchange did not finish within ``Configuration/timeout``.
            public static let timedOut = Reason(.timedOut)
            /// Connecting, TLS or the HTTP exchange failed.
            public static let transport = Reason(.transport)
            /// No HTTP client library (libcurl) is available in this process.
            public static let unavailable = Reason(.unavailable)
        }

        /// The kind of failure.
        public var reason: Reason
        /// What happened, for the client and the log.
        public var description: String

        /// Creates a failure.
        /// - Parameters:
        ///   - reason: the kind of failure.
        ///   - description: what happened.
        public init(_ reason: Reason, _ description: String) {
            self.reason = reason
            self.description = description
        }
    }

    /// The limits.
    public var configuration: Configuration
    /// Fetch threads running in the process.
    static let running = Atomic<Int>(0)

    /// Creates a fetcher.
    /// - Parameter configuration: the limits.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The fetcher as an ``HTTPFetcher``.
    public var httpFetcher: HTTPFetcher {
        HTTPFetcher { request in try await fetch(request) }
    }

    /// Performs one request (`GET`, or another method with its body) within the limits.
    /// - Parameter request: the request; its URL must be absolute `http` or `https`.
    /// - Returns: the status (never 3xx) and the body (at most ``Configuration/maximumBodySize`` bytes).
    /// - Throws: ``Failure``.
    public func fetch(_ request: HTTPFetcher.Request) async throws(Failure) -> (status: Int, body: [UInt8]) {
        guard Self.running.add(1, ordering: .relaxed).newValue <= configuration.maximumConcurrentFetches else {
            Self.running.subtract(1, ordering: .relaxed)
            throw Failure(.unavailable, "Too many fetches are in progress; retry later")
        }
        let deadline = ContinuousClock.now + configuration.timeout
        let configuration = configuration
        let outcome = Outcome()
        let abandoned = Transfer.Flag()
        let timeout = Failure(.timedOut, "The request did not complete within \(configuration.timeout)")
        // The backstop: resolving has no timeout of its own; the caller gets its answer on time anyway.
        let backstop = Task {
            try? await Task.sleep(until: deadline + .milliseconds(100), clock: .continuous)
            guard !Task.isCancelled, let continuation = outcome.take() else { return }
            abandoned.set()
            continuation.resume(throwing: timeout)
        }
        defer { backstop.cancel() }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                outcome.store(continuation)
                let thread = Thread {
                    // The slot is the thread's: it is given back when the thread ends, even after the deadline.
                    defer { Self.running.subtract(1, ordering: .relaxed) }
                    let result = Result { () throws(Failure) in
                        try Self.perform(request, configuration: configuration, deadline: deadline, abandoned: abandoned)
                    }
                    outcome.take()?.resume(with: result.mapError { $0 as any Error })
                }
                thread.name = "mcpfcgi-fetch"
                thread.start()
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(.transport, "The request failed")
        }
    }

    /// The blocking part, on the fetch thread.
    private static func perform(
        _ request: HTTPFetcher.Request, configuration: Configuration, deadline: ContinuousClock.Instant,
        abandoned: Transfer.Flag
    ) throws(Failure) -> (status: Int, body: [UInt8]) {
        guard let components = URLComponents(string: request.url), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", var host = components.host?.lowercased(), !host.isEmpty
        else { throw Failure(.invalidURL, "\(request.url) is not an absolute http or https URL") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let addresses = try resolve(host)
        if !configuration.allowPrivateAddresses {
            for address in addresses where !address.isGlobal {
                let what = IPAddress(host) == nil ? "\(host) resolves to \(address), which" : "\(address)"
                throw Failure(
                    .refusedAddress, "\(what) is a \(address.category) address; only public addresses are fetched")
            }
        }
        guard let curl = CurlLibrary.shared else {
            throw Failure(.unavailable, "No HTTP client (libcurl) is available to fetch \(host)")
        }
        guard !abandoned.isSet, let remaining = Self.milliseconds(until: deadline) else {
            throw Failure(.timedOut, "The request did not complete within \(configuration.timeout)")
        }
        guard let handle = curl.easyInit() else { throw Failure(.unavailable, "libcurl could not start a transfer") }
        defer { curl.cleanup(handle) }
        let transfer = Transfer(
            allowed: Set(addresses), allowPrivate: configuration.allowPrivateAddresses,
            maximum: configuration.maximumBodySize, abandoned: abandoned)
        let context = Unmanaged.passRetained(transfer)
        defer { context.release() }

        // Pin the host to the checked addresses: libcurl does not resolve it again.
        let hostForCurl = host.contains(":") ? "[\(host)]" : host
        let pinned = addresses.map { $0.isIPv6 ? "[\($0)]" : "\($0)" }.joined(separator: ",")
        var lists: [UnsafeMutablePointer<curl_slist>] = []
        defer { lists.forEach { curl.slistFree($0) } }
        func list(_ lines: [String]) -> UnsafeMutablePointer<curl_slist>? {
            var list: UnsafeMutablePointer<curl_slist>? = nil
            for line in lines { list = line.withCString { curl.slistAppend(list, $0) } ?? list }
            if let list { lists.append(list) }
            return list
        }
        let resolveList = list(["\(hostForCurl):\(port):\(pinned)"])
        var headers = request.headers.map { "\($0.key): \($0.value)" }
        if request.headers.keys.contains(where: { $0.lowercased() == "accept-encoding" }) == false {
            headers.append("Accept-Encoding: identity")
        }
        let headerList = list(headers)

        var ok = true
        ok = ok && curl.set(handle, CurlLibrary.Option.url, string: request.url)
        ok = ok && curl.set(handle, CurlLibrary.Option.noSignal, 1)
        ok = ok && curl.set(handle, CurlLibrary.Option.proxy, string: "")
        ok = ok && curl.set(handle, CurlLibrary.Option.followLocation, 0)
        ok = ok && curl.set(handle, CurlLibrary.Option.protocols, CurlLibrary.httpAndHTTPS)
        ok = ok && curl.set(handle, CurlLibrary.Option.redirectProtocols, CurlLibrary.httpAndHTTPS)
        ok = ok && curl.set(handle, CurlLibrary.Option.sslVerifyPeer, 1)
        ok = ok && curl.set(handle, CurlLibrary.Option.sslVerifyHost, 2)
        ok = ok && curl.set(handle, CurlLibrary.Option.timeoutMilliseconds, remaining)
        ok = ok && curl.set(handle, CurlLibrary.Option.maximumFileSize, offset: Int64(configuration.maximumBodySize))
        ok = ok && curl.set(handle, CurlLibrary.Option.userAgent, string: "MCPFCGI")
        ok = ok && curl.set(handle, CurlLibrary.Option.resolve, pointer: UnsafeRawPointer(resolveList))
        ok = ok && curl.set(handle, CurlLibrary.Option.httpHeader, pointer: UnsafeRawPointer(headerList))
        ok = ok && curl.set(handle, CurlLibrary.Option.writeData, pointer: context.toOpaque())
        ok = ok && curl.set(handle, writeFunction: writeBody)
        ok = ok && curl.set(handle, CurlLibrary.Option.openSocketData, pointer: context.toOpaque())
        ok = ok && curl.set(handle, openSocketFunction: openSocket)
        switch request.method {
        case "GET": ok = ok && curl.set(handle, CurlLibrary.Option.httpGet, 1)
        default:
            ok = ok && curl.set(handle, CurlLibrary.Option.customRequest, string: request.method)
            if !request.body.isEmpty {
                ok = ok && curl.set(handle, CurlLibrary.Option.postFieldSize, request.body.count)
                ok = ok && request.body.withUnsafeBytes {
                    curl.set(handle, CurlLibrary.Option.copyPostFields, pointer: $0.baseAddress)
                }
            }
        }
        guard ok else { throw Failure(.unavailable, "libcurl refused the transfer's options") }

        let code = curl.perform(handle)
        if let refused = transfer.refused {
            throw Failure(.refusedAddress, "\(host) connected to \(refused), which is not an allowed address")
        }
        if transfer.tooLarge || code == CurlLibrary.Code.fileSizeExceeded {
            throw Failure(.tooLarge, "The answer from \(host) is larger than \(configuration.maximumBodySize) bytes")
        }
        if code == CurlLibrary.Code.timedOut || abandoned.isSet {
            throw Failure(.timedOut, "The request did not complete within \(configuration.timeout)")
        }
        guard code == CurlLibrary.Code.ok else {
            throw Failure(.transport, "Fetching from \(host) failed: \(curl.message(code))")
        }
        let status = curl.status(handle)
        if (300..<400).contains(status) {
            throw Failure(.redirect, "\(host) answered with a redirect (HTTP \(status)); redirects are not followed")
        }
        return (status, transfer.body)
    }

    /// The host's addresses: the literal itself, or every address DNS gives.
    private static func resolve(_ host: String) throws(Failure) -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else {
            throw Failure(.unresolvable, "The host \(host) could not be resolved")
        }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let sockaddr = current.pointee.ai_addr, let address = IPAddress(UnsafePointer(sockaddr)),
                !addresses.contains(address)
            {
                addresses.append(address)
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw Failure(.unresolvable, "The host \(host) has no IP address") }
        return addresses
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int? {
        let left = ContinuousClock.now.duration(to: deadline)
        guard left > .zero else { return nil }
        return max(1, Int(left.wholeMilliseconds))
    }
}

/// The waiting caller, resumed once: by the fetch thread or by the deadline, whichever comes first.
private final class Outcome: Sendable {
    private let continuation = Mutex<CheckedContinuation<(status: Int, body: [UInt8]), any Error>?>(nil)
    func store(_ value: CheckedContinuation<(status: Int, body: [UInt8]), any Error>) {
        continuation.withLock { $0 = value }
    }
    func take() -> CheckedContinuation<(status: Int, body: [UInt8]), any Error>? { continuation.withLock { $0.take() } }
}

/// The state libcurl's callbacks share with the fetch thread (only that thread runs them).
final class Transfer: @unchecked Sendable {
    /// A flag set from another thread.
    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    let allowed: Set<IPAddress>
    let allowPrivate: Bool
    let maximum: Int
    let abandoned: Flag
    var body: [UInt8] = []
    var tooLarge = false
    var refused: String? = nil

    /// Whether libcurl may open a socket to `target` (the socket callback's decision): only a checked address,
    /// and a public one unless private addresses are allowed. A refusal is remembered in ``refused``.
    func admits(_ target: IPAddress?) -> Bool {
        guard let target, allowed.contains(target), allowPrivate || target.isGlobal else {
            refused = target.map(\.description) ?? "an address of another family"
            return false
        }
        return true
    }

    package init(allowed: Set<IPAddress>, allowPrivate: Bool, maximum: Int, abandoned: Flag) {
        self.allowed = allowed
        self.allowPrivate = allowPrivate
        self.maximum = maximum
        self.abandoned = abandoned
    }
}

/// `CURLOPT_WRITEFUNCTION`: appends to the body; returns 0 (abort) once the cap is passed or the caller left.
private let writeBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    guard let context, let data else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let bytes = size * count
    guard !transfer.abandoned.isSet else { return 0 }
    guard transfer.body.count + bytes <= transfer.maximum else {
        transfer.tooLarge = true
        return 0
    }
    data.withMemoryRebound(to: UInt8.self, capacity: bytes) {
        transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: bytes))
    }
    return bytes
}

/// `CURLOPT_OPENSOCKETFUNCTION`: opens the socket only for an address that was checked (and is public unless
/// private addresses are allowed); `CURL_SOCKET_BAD` otherwise.
private let openSocket: curl_opensocket_callback = { context, _, address in
    guard let context, let address else { return CURL_SOCKET_BAD }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    guard transfer.admits(withUnsafePointer(to: &address.pointee.addr) { IPAddress($0) }) else { return CURL_SOCKET_BAD }
    return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
}
