/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a `client_id` that is an https
/// URL names a JSON document with the client's metadata, fetched by the authorization endpoint.
///
/// Off by default: fetching client-chosen URLs from the worker is a server-side request risk, so restrict
/// ``allowedHosts`` where you can. Such clients are public (`token_endpoint_auth_method` `none`).
public struct ClientIDMetadataDocuments: Sendable {
    /// Hosts whose documents are fetched; nil (default) for any https host.
    public var allowedHosts: Set<String>?
    /// Seconds a fetched document is used before it is fetched again. Default 300.
    public var cacheTTL: Int
    /// Largest document accepted, in bytes. Default 5120.
    public var maximumSize: Int
    /// Outgoing HTTP. Default `URLSession` with a 5 s timeout.
    public var fetcher: HTTPFetcher

    /// Creates the setting; every parameter has the default documented on its property.
    public init(
        allowedHosts: Set<String>? = nil, cacheTTL: Int = 300, maximumSize: Int = 5120,
        fetcher: HTTPFetcher = .urlSession()
    ) {
        self.allowedHosts = allowedHosts.map { Set($0.map { $0.lowercased() }) }
        self.cacheTTL = cacheTTL
        self.maximumSize = maximumSize
        self.fetcher = fetcher
    }
}
