import MCPHTTP
/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a `client_id` that is an https
/// URL names a JSON document with the client's metadata, fetched by the authorization endpoint.
///
/// Off by default: fetching client-chosen URLs from the worker is a server-side request risk. The default
/// fetcher (``RestrictedHTTPFetcher``) refuses non-public addresses (loopback, private, link-local cloud
/// metadata, …) and redirects, connects only to the addresses it checked, streams the body with a cap of
/// ``maximumSize`` and gives the whole fetch one deadline (``timeout``); restrict ``allowedHosts`` too where you
/// can. Such clients are public (`token_endpoint_auth_method` `none`).
public struct ClientIDMetadataDocuments: Sendable {
    /// Hosts whose documents are fetched; nil (default) for any https host.
    public var allowedHosts: Set<String>?
    /// Seconds a fetched document is used before it is fetched again. Default 300.
    public var cacheTTL: Int
    /// Largest document accepted, in bytes; the download stops past it. Default 5120.
    public var maximumSize: Int
    /// One deadline for resolving, connecting, TLS and reading a document. Default 5 s.
    public var timeout: Duration
    /// Whether documents may be fetched from loopback, private, link-local and other non-public addresses.
    /// Default false. **For tests and private networks only.**
    public var allowPrivateAddresses: Bool
    /// Outgoing HTTP. Default nil: a ``RestrictedHTTPFetcher`` with ``maximumSize``, ``timeout`` and
    /// ``allowPrivateAddresses``. A fetcher given here replaces those defences.
    public var fetcher: HTTPFetcher?

    /// Creates the setting; every parameter has the default documented on its property.
    public init(
        allowedHosts: Set<String>? = nil, cacheTTL: Int = 300, maximumSize: Int = 5120,
        timeout: Duration = .seconds(5), allowPrivateAddresses: Bool = false, fetcher: HTTPFetcher? = nil
    ) {
        self.allowedHosts = allowedHosts.map { Set($0.map { $0.lowercased() }) }
        self.cacheTTL = cacheTTL
        self.maximumSize = maximumSize
        self.timeout = timeout
        self.allowPrivateAddresses = allowPrivateAddresses
        self.fetcher = fetcher
    }

    /// The fetcher in use: ``fetcher``, or the restricted default.
    var effectiveFetcher: HTTPFetcher {
        fetcher
            ?? RestrictedHTTPFetcher(
                configuration: RestrictedHTTPFetcher.Configuration(
                    maximumBodySize: maximumSize, timeout: timeout, allowPrivateAddresses: allowPrivateAddresses)
            ).httpFetcher
    }
}
