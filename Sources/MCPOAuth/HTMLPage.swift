import HTTPTypes
import MCPHTTP

/// The authorization server's HTML pages: self-contained (no script, no external resource), every dynamic value
/// escaped, framing forbidden, never cached.
enum HTMLPage {
    /// `Content-Security-Policy` of every page without a form target elsewhere: forms may only go to this server.
    static let contentSecurityPolicy = contentSecurityPolicy(formTarget: nil)

    /// The policy of a page whose form answer is redirected to `formTarget`: browsers check `form-action` on every
    /// redirect that follows the form's POST too, so the consent page must also allow the client's redirect URI
    /// (as a source from ``RedirectURI/formActionSource(_:)``).
    static func contentSecurityPolicy(formTarget: String?) -> String {
        "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
            + (formTarget.map { " " + $0 } ?? "")
    }

    /// Escapes `& < > " '` for text and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// A whole page; `body` must already be escaped HTML; `formTarget` (a CSP source) is where its form's answer
    /// may redirect besides this server.
    static func response(_ status: HTTPResponse.Status, title: String, body: String, formTarget: String? = nil)
        -> HTTPServerResponse
    {
        let html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>\(escape(title))</title>
            <style>body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#222}
            button{font-size:1em;padding:.5em 1.2em;margin-right:1em}code{background:#eee;padding:0 .2em}</style>
            </head><body><h1>\(escape(title))</h1>
            \(body)
            </body></html>
            """
        var fields = HTTPFields.noStore
        fields[.contentType] = "text/html; charset=utf-8"
        fields[.xFrameOptions] = "DENY"
        fields[.contentSecurityPolicy] = contentSecurityPolicy(formTarget: formTarget)
        return HTTPServerResponse(status: status, headerFields: fields, body: Array(html.utf8))
    }

    /// An error page (never a redirect: used when the client or redirect URI cannot be trusted).
    static func error(_ status: HTTPResponse.Status, title: String, message: String) -> HTTPServerResponse {
        response(status, title: title, body: "<p>\(escape(message))</p>")
    }
}
