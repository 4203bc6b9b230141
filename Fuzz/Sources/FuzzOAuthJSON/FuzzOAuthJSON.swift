// Fuzz target: the OAuth server's JSON bodies — dynamic client registration (`POST /oauth/register`, RFC 7591)
// and Client ID Metadata Documents (fetched from a client-chosen URL).
//
// Input: arbitrary bytes (the JSON body). Checked properties:
// - validation never crashes;
// - an accepted registration has redirect URIs that pass the redirect URI rules, supported grant types, and a
//   secret exactly when its authentication method needs one; without the initial access token (the first byte's low
//   bit chooses) only user-delegated grants; a client_credentials client always has its scopes; every list and
//   string within the registration policy's bounds;
// - an accepted metadata document is a public client with the document's URL as its id.
@testable import MCPHTTP
@testable import MCPOAuth
import Logging
import MCPHandlers

private let server: BuiltInAuthorizationServer = {
    do {
        return try BuiltInAuthorizationServer(
            configuration: .init(issuer: "https://auth.example.com"),
            logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
    } catch {
        fatalError("\(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Array(UnsafeBufferPointer(start: data, count: size))
    let privileged = size > 0 && data[0] & 1 == 1
    if let (client, secret) = try? server.registration(from: body, privileged: privileged) {
        let policy = server.configuration.clientRegistration
        if !privileged {
            precondition(
                client.grantTypes.allSatisfy(ClientRegistrationPolicy.anonymousGrantTypes.contains),
                "open registration created a \(client.grantTypes) client")
        }
        if client.grantTypes.contains("client_credentials") { precondition(client.scopes != nil, "unscoped client") }
        precondition(client.redirectURIs.count <= policy.maximumRedirectURIs, "too many redirect URIs")
        precondition(client.redirectURIs.allSatisfy { $0.utf8.count <= policy.maximumURILength }, "long URI")
        precondition((client.clientName?.utf8.count ?? 0) <= policy.maximumTextLength, "long client name")
        for uri in client.redirectURIs {
            precondition(RedirectURI.problem(with: uri) == nil, "registered a refused redirect URI")
        }
        for grant in client.grantTypes {
            precondition(server.configuration.supportedGrantTypes.contains(grant), "registered grant \(grant)")
        }
        precondition((secret == nil) == (client.tokenEndpointAuthMethod == .none), "secret and auth method disagree")
        _ = JSONWriter.encode(.object(client.metadata))
    }
    let clientID = (try? JSONParser().parse(body))?["client_id"]?.stringValue ?? "https://app.example.com/client.json"
    if let client = try? server.clientFromMetadataDocument(body, clientID: clientID) {
        precondition(client.clientID == clientID && client.tokenEndpointAuthMethod == .none)
        for uri in client.redirectURIs {
            precondition(RedirectURI.problem(with: uri) == nil, "accepted a refused redirect URI")
        }
    }
    _ = BuiltInAuthorizationServer.metadataDocumentURL(clientID)
    return 0
}
