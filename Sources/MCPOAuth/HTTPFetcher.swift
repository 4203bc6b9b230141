import Foundation
import MCPHTTP

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// How the server makes outgoing HTTP requests (external authorization server metadata, JWKS, introspection).
/// Tests replace it; the default uses `URLSession`, whose I/O runs on its own threads, not the cooperative pool.
public struct HTTPFetcher: Sendable {
    /// An outgoing request.
    public struct Request: Sendable, Equatable {
        /// `GET` or `POST`.
        public var method: String
        /// The absolute URL.
        public var url: String
        /// Header fields.
        public var headers: [String: String]
        /// The body.
        public var body: [UInt8]

        /// Creates a request.
        public init(method: String = "GET", url: String, headers: [String: String] = [:], body: [UInt8] = []) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    /// Performs a request and returns the status and body; throws on transport failure.
    public var fetch: @Sendable (Request) async throws -> (status: Int, body: [UInt8])

    /// Creates a fetcher from a closure.
    /// - Parameter fetch: performs a request.
    public init(fetch: @escaping @Sendable (Request) async throws -> (status: Int, body: [UInt8])) {
        self.fetch = fetch
    }

    /// `URLSession.shared` with a timeout (seconds, default 5).
    /// - Parameter timeout: seconds before a request fails.
    public static func urlSession(timeout: Double = 5) -> HTTPFetcher {
        HTTPFetcher { request in
            guard let url = URL(string: request.url) else { throw URLError(.badURL) }
            var urlRequest = URLRequest(url: url, timeoutInterval: timeout)
            urlRequest.httpMethod = request.method
            for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
            if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }
            let (data, response) = try await URLSession.shared.data(for: urlRequest)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, Array(data))
        }
    }
}
