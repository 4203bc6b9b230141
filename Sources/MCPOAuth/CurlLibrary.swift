import CCurl
import MCPHTTP

/// The libcurl calls ``RestrictedHTTPFetcher`` makes, typed: libcurl (Debian's `libcurl4-openssl-dev`) is linked
/// through the `CCurl` system library, whose shim wraps the variadic `curl_easy_setopt`/`curl_easy_getinfo`.
struct CurlLibrary: Sendable {
    /// An easy handle (`CURL *`).
    typealias Handle = UnsafeMutableRawPointer

    /// The library once `curl_global_init` succeeded (it is not thread-safe, so it runs once, here); nil when it
    /// failed, and every fetch then fails as unavailable.
    static let shared: CurlLibrary? = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK ? CurlLibrary() : nil

    /// The options the fetcher sets.
    enum Option {
        static let writeData = CURLOPT_WRITEDATA
        static let url = CURLOPT_URL
        static let proxy = CURLOPT_PROXY
        static let userAgent = CURLOPT_USERAGENT
        static let httpHeader = CURLOPT_HTTPHEADER
        static let customRequest = CURLOPT_CUSTOMREQUEST
        static let followLocation = CURLOPT_FOLLOWLOCATION
        static let postFieldSize = CURLOPT_POSTFIELDSIZE
        static let sslVerifyPeer = CURLOPT_SSL_VERIFYPEER
        static let httpGet = CURLOPT_HTTPGET
        static let sslVerifyHost = CURLOPT_SSL_VERIFYHOST
        static let noSignal = CURLOPT_NOSIGNAL
        static let timeoutMilliseconds = CURLOPT_TIMEOUT_MS
        static let protocols = CURLOPT_PROTOCOLS
        static let redirectProtocols = CURLOPT_REDIR_PROTOCOLS
        static let openSocketData = CURLOPT_OPENSOCKETDATA
        static let copyPostFields = CURLOPT_COPYPOSTFIELDS
        static let resolve = CURLOPT_RESOLVE
        static let maximumFileSize = CURLOPT_MAXFILESIZE_LARGE
    }

    /// `CURLPROTO_HTTP | CURLPROTO_HTTPS`.
    static let httpAndHTTPS = Int(CURLPROTO_HTTP | CURLPROTO_HTTPS)

    /// The result codes the fetcher tells apart.
    enum Code {
        static let ok = CURLE_OK
        static let timedOut = CURLE_OPERATION_TIMEDOUT
        static let fileSizeExceeded = CURLE_FILESIZE_EXCEEDED
    }

    /// A new easy handle, or nil.
    func easyInit() -> Handle? { curl_easy_init() }
    /// Runs the transfer (blocking).
    func perform(_ handle: Handle) -> CURLcode { curl_easy_perform(handle) }
    /// Frees the handle.
    func cleanup(_ handle: Handle) { curl_easy_cleanup(handle) }
    /// Appends a line to a string list (a new list when `list` is nil); nil when out of memory.
    func slistAppend(_ list: UnsafeMutablePointer<curl_slist>?, _ line: UnsafePointer<CChar>)
        -> UnsafeMutablePointer<curl_slist>?
    {
        curl_slist_append(list, line)
    }
    /// Frees a string list.
    func slistFree(_ list: UnsafeMutablePointer<curl_slist>?) { curl_slist_free_all(list) }

    /// Sets a `long` option; false when libcurl refuses it.
    func set(_ handle: Handle, _ option: CURLoption, _ value: Int) -> Bool {
        mcpfcgi_curl_setopt_long(handle, option, value) == CURLE_OK
    }

    /// Sets a pointer option (strings are copied by libcurl; lists and callback data must outlive the transfer).
    func set(_ handle: Handle, _ option: CURLoption, pointer: UnsafeRawPointer?) -> Bool {
        mcpfcgi_curl_setopt_pointer(handle, option, pointer) == CURLE_OK
    }

    /// Sets a `curl_off_t` option.
    func set(_ handle: Handle, _ option: CURLoption, offset: Int64) -> Bool {
        mcpfcgi_curl_setopt_off(handle, option, curl_off_t(offset)) == CURLE_OK
    }

    /// Sets a string option (libcurl copies it).
    func set(_ handle: Handle, _ option: CURLoption, string: String) -> Bool {
        string.withCString { set(handle, option, pointer: $0) }
    }

    /// Sets `CURLOPT_WRITEFUNCTION`.
    func set(_ handle: Handle, writeFunction: curl_write_callback) -> Bool {
        mcpfcgi_curl_setopt_write(handle, writeFunction) == CURLE_OK
    }

    /// Sets `CURLOPT_OPENSOCKETFUNCTION`.
    func set(_ handle: Handle, openSocketFunction: curl_opensocket_callback) -> Bool {
        mcpfcgi_curl_setopt_opensocket(handle, openSocketFunction) == CURLE_OK
    }

    /// The response's status code, or 0.
    func status(_ handle: Handle) -> Int {
        var code = 0
        return mcpfcgi_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK ? code : 0
    }

    /// libcurl's text for a result code.
    func message(_ code: CURLcode) -> String {
        curl_easy_strerror(code).map { String(cString: $0) } ?? "error \(code.rawValue)"
    }
}
