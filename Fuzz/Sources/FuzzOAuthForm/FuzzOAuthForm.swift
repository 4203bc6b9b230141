// Fuzz target: the OAuth endpoints' form parsing — `FormParameters` (token, revocation, introspection and consent
// bodies; the authorization endpoint's query), client authentication (`ClientCredentials`: HTTP Basic or form
// credentials) and the redirect URI rules applied to a `redirect_uri` parameter.
//
// Input: `<Authorization header value>\n<form body>` (split at the first newline; no newline: the whole input is
// the body and there is no header). Checked properties:
// - parsing never crashes;
// - the parameters form-encoded again parse to the same parameters;
// - credentials read from a Basic header have a non-empty client id.
@testable import MCPFCGI
@testable import MCPHTTP
@testable import MCPOAuth
import MCPHandlers

private let registered = ["http://127.0.0.1:33418/callback", "https://app.example.com/cb?x=1"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let newline = bytes.firstIndex(of: 0x0A)
    let header = newline.map { String(decoding: UnsafeBufferPointer(rebasing: bytes[..<$0]), as: UTF8.self) }
    let body = Array(bytes[(newline.map { $0 + 1 } ?? 0)...])

    let params = FormParameters(body: body)
    let query = FormParameters(parsing: String(decoding: body, as: UTF8.self)[...])
    precondition(query.values == params.values, "body and query parsing disagree")
    let reencoded = FormParameters.encode(params.values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    let reparsed = FormParameters(parsing: reencoded)
    precondition(reparsed.values == params.values, "encode/parse round trip changed the parameters")
    precondition(reparsed.repeated.isEmpty, "encoding produced a repeated parameter")
    _ = try? params.requireSingle(Array(params.values.keys))
    _ = params.nonEmpty("client_id")

    var cgi: [(String, String)] = [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/oauth/token")]
    if let header { cgi.append(("HTTP_AUTHORIZATION", header)) }
    if let request = try? CGIRequestDecoder.decode(params: cgi, body: body, requestID: "fuzz"),
        let credentials = try? ClientCredentials(request, params)
    {
        precondition(!credentials.clientID.isEmpty, "credentials with an empty client id")
    }

    for name in ["redirect_uri", "client_id", "resource"] {
        guard let value = params[name] else { continue }
        _ = RedirectURI.problem(with: value)
        _ = RedirectURI.matches(value, registered: registered)
        _ = RedirectURI.displayHost(value)
        _ = RedirectURI.appending([("code", "c"), ("state", value)], to: value)
        _ = BuiltInAuthorizationServer.metadataDocumentURL(value)
    }
    return 0
}
