import CFCGI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The few libcurl functions ``RestrictedHTTPFetcher`` uses, looked up at run time. libcurl is in the process
/// already (FoundationNetworking's `URLSession` is built on it), so the package gains no link-time dependency;
/// when it is not loaded, the usual library names are opened.
struct CurlLibrary: @unchecked Sendable {
    // Function pointers into a library that stays loaded for the life of the process.
    typealias Handle = UnsafeMutableRawPointer

    let setopt: UnsafeMutableRawPointer
    let getinfo: UnsafeMutableRawPointer
    let easyInit: @convention(c) () -> Handle?
    let perform: @convention(c) (Handle) -> Int32
    let cleanup: @convention(c) (Handle) -> Void
    let strerror: @convention(c) (Int32) -> UnsafePointer<CChar>?
    let slistAppend: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>) -> UnsafeMutableRawPointer?
    let slistFree: @convention(c) (UnsafeMutableRawPointer?) -> Void

    /// The process's libcurl, or nil when none can be found.
    static let shared: CurlLibrary? = {
        var library: UnsafeMutableRawPointer? = nil
        func symbol(_ name: String) -> UnsafeMutableRawPointer? {
            #if canImport(Darwin)
                let everywhere = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT
            #else
                let everywhere: UnsafeMutableRawPointer? = nil  // RTLD_DEFAULT
            #endif
            return dlsym(library ?? everywhere, name)
        }
        if symbol("curl_easy_init") == nil {
            for name in ["libcurl.so.4", "libcurl.so", "libcurl.4.dylib", "/usr/lib/libcurl.4.dylib"] {
                if let opened = dlopen(name, RTLD_NOW | RTLD_LOCAL) {
                    library = opened
                    break
                }
            }
        }
        guard let globalInit = symbol("curl_global_init"), let setopt = symbol("curl_easy_setopt"),
            let getinfo = symbol("curl_easy_getinfo"), let easyInit = symbol("curl_easy_init"),
            let perform = symbol("curl_easy_perform"), let cleanup = symbol("curl_easy_cleanup"),
            let strerror = symbol("curl_easy_strerror"), let slistAppend = symbol("curl_slist_append"),
            let slistFree = symbol("curl_slist_free_all")
        else { return nil }
        // CURL_GLOBAL_DEFAULT; a second call (FoundationNetworking's) only counts up.
        guard unsafeBitCast(globalInit, to: (@convention(c) (Int) -> Int32).self)(3) == 0 else { return nil }
        return CurlLibrary(
            setopt: setopt, getinfo: getinfo,
            easyInit: unsafeBitCast(easyInit, to: (@convention(c) () -> Handle?).self),
            perform: unsafeBitCast(perform, to: (@convention(c) (Handle) -> Int32).self),
            cleanup: unsafeBitCast(cleanup, to: (@convention(c) (Handle) -> Void).self),
            strerror: unsafeBitCast(strerror, to: (@convention(c) (Int32) -> UnsafePointer<CChar>?).self),
            slistAppend: unsafeBitCast(
                slistAppend,
                to: (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>) -> UnsafeMutableRawPointer?).self),
            slistFree: unsafeBitCast(slistFree, to: (@convention(c) (UnsafeMutableRawPointer?) -> Void).self))
    }()

    /// `CURLoption` values (curl/curl.h), and the `CURLcode`/`CURLINFO` values the fetcher reads.
    enum Option {
        static let writeData: Int32 = 10001
        static let url: Int32 = 10002
        static let proxy: Int32 = 10004
        static let errorBuffer: Int32 = 10010
        static let writeFunction: Int32 = 20011
        static let userAgent: Int32 = 10018
        static let httpHeader: Int32 = 10023
        static let customRequest: Int32 = 10036
        static let followLocation: Int32 = 52
        static let postFieldSize: Int32 = 60
        static let sslVerifyPeer: Int32 = 64
        static let httpGet: Int32 = 80
        static let sslVerifyHost: Int32 = 81
        static let noSignal: Int32 = 99
        static let timeoutMilliseconds: Int32 = 155
        static let protocols: Int32 = 181
        static let redirectProtocols: Int32 = 182
        static let openSocketFunction: Int32 = 20163
        static let openSocketData: Int32 = 10164
        static let copyPostFields: Int32 = 10165
        static let resolve: Int32 = 10203
        static let maximumFileSize: Int32 = 30117
    }

    /// `CURLPROTO_HTTP | CURLPROTO_HTTPS`.
    static let httpAndHTTPS = 1 | 2
    /// `CURLINFO_RESPONSE_CODE`.
    static let responseCode: Int32 = 0x20_0002
    /// `CURLE_OK`, `CURLE_COULDNT_CONNECT`, `CURLE_WRITE_ERROR`, `CURLE_OPERATION_TIMEDOUT`,
    /// `CURLE_FILESIZE_EXCEEDED`, `CURLE_ABORTED_BY_CALLBACK`.
    enum Code {
        static let ok: Int32 = 0
        static let couldNotConnect: Int32 = 7
        static let writeError: Int32 = 23
        static let timedOut: Int32 = 28
        static let fileSizeExceeded: Int32 = 63
    }

    /// Sets a `long` option; false when libcurl refuses it.
    func set(_ handle: Handle, _ option: Int32, _ value: Int) -> Bool {
        mcpfcgi_curl_setopt_long(setopt, handle, option, value) == Code.ok
    }

    /// Sets a pointer option (strings are copied by libcurl; lists and callbacks must outlive the transfer).
    func set(_ handle: Handle, _ option: Int32, pointer: UnsafeRawPointer?) -> Bool {
        mcpfcgi_curl_setopt_pointer(setopt, handle, option, pointer) == Code.ok
    }

    /// Sets a `curl_off_t` option.
    func set(_ handle: Handle, _ option: Int32, offset: Int64) -> Bool {
        mcpfcgi_curl_setopt_off(setopt, handle, option, offset) == Code.ok
    }

    /// Sets a string option (libcurl copies it).
    func set(_ handle: Handle, _ option: Int32, string: String) -> Bool {
        string.withCString { set(handle, option, pointer: $0) }
    }

    /// The response's status code, or 0.
    func status(_ handle: Handle) -> Int {
        var code = 0
        return mcpfcgi_curl_getinfo_long(getinfo, handle, Self.responseCode, &code) == Code.ok ? code : 0
    }

    /// libcurl's text for a result code.
    func message(_ code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "error \(code)"
    }
}
