import HTTPTypes

/// Another worker of the same deployment, asked for its part of a management operation
/// (`/management/cleanup`, `/management/sessions`).
///
/// The worker that receives a management request answers its own part and forwards the request to every
/// peer, marked ``HTTPServerRequest/isPeerRequest`` so the peer does its part only. Workers reach each
/// other over FastCGI on their unix sockets (`ManagementPeer.fastCGI(socketPath:name:)` in `MCPFCGI`); tests inject a
/// closure.
public struct ManagementPeer: Sendable {
    /// How the peer is named in answers and logs when it does not answer (`w2`).
    public var name: String
    /// Sends a request to the peer and returns its answer within the given time; throws when the peer cannot be
    /// reached or the time runs out.
    public var send: @Sendable (HTTPServerRequest, Duration) async throws -> HTTPServerResponse

    /// Creates a peer.
    /// - Parameters:
    ///   - name: how the peer is named when it does not answer.
    ///   - send: delivers a request to the peer within the given time; throws when the peer cannot be reached or
    ///     the time runs out.
    public init(
        name: String, send: @escaping @Sendable (HTTPServerRequest, Duration) async throws -> HTTPServerResponse
    ) {
        self.name = name
        self.send = send
    }

    /// Why a peer gave no usable answer (logged; the peer is then reported as unreachable or down).
    public struct Failure: Error, Sendable {
        /// What went wrong: the transport error, or the status it answered with.
        public var reason: String

        /// Creates a failure.
        /// - Parameter reason: what went wrong.
        public init(reason: String) { self.reason = reason }
    }

    /// Sends `request` and returns the peer's answer when it is 200.
    /// - Parameters:
    ///   - request: the peer request.
    ///   - timeout: the longest the peer may take.
    /// - Returns: the 200 response, or why there is none (unreachable, timed out, another status).
    public func answer(_ request: HTTPServerRequest, timeout: Duration) async -> Result<HTTPServerResponse, Failure> {
        let response: HTTPServerResponse
        do {
            response = try await send(request, timeout)
        } catch {
            return .failure(Failure(reason: "\(error)"))
        }
        guard response.head.status == .ok else {
            return .failure(Failure(reason: "answered \(response.head.status.code)"))
        }
        return .success(response)
    }
}
