/// A JSON-RPC error object: the one error type every MCP method answers with.
///
/// The static members carry the codes that JSON-RPC 2.0 and MCP define; each maps to one wire error.
public struct MCPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The JSON-RPC error code.
    public var code: Int
    /// A short description for humans.
    public var message: String
    /// Optional structured details.
    public var data: Value?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the JSON-RPC error code.
    ///   - message: a short description.
    ///   - data: optional structured details.
    public init(code: Int, message: String, data: Value? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// -32700: the body is not JSON.
    public static func parseError(_ detail: String = "Parse error") -> MCPError {
        MCPError(code: Code.parseError, message: detail)
    }
    /// -32600: JSON, but not a valid JSON-RPC message.
    public static func invalidRequest(_ detail: String = "Invalid Request") -> MCPError {
        MCPError(code: Code.invalidRequest, message: detail)
    }
    /// -32601: the method does not exist.
    public static func methodNotFound(_ method: String) -> MCPError {
        MCPError(code: Code.methodNotFound, message: "Method not found: \(method)")
    }
    /// -32602: the params are wrong.
    public static func invalidParams(_ detail: String) -> MCPError {
        MCPError(code: Code.invalidParams, message: detail)
    }
    /// -32603: the server failed; the message never carries internals.
    public static func internalError(_ detail: String = "Internal error") -> MCPError {
        MCPError(code: Code.internalError, message: detail)
    }
    /// -32002: the resource does not exist.
    public static func resourceNotFound(_ uri: String) -> MCPError {
        MCPError(code: Code.resourceNotFound, message: "Resource not found", data: ["uri": .string(uri)])
    }
    /// -32001: a request to the client got no answer in time.
    public static func requestTimedOut() -> MCPError {
        MCPError(code: Code.requestTimeout, message: "Request timed out")
    }
    /// -32800: the request was cancelled (by `notifications/cancelled` or its caller); a transport does not
    /// send this to the client, which asked for the cancellation.
    /// - Parameter reason: the reason given with the cancellation, if any.
    public static func requestCancelled(_ reason: String? = nil) -> MCPError {
        MCPError(
            code: Code.requestCancelled, message: "Request cancelled",
            data: reason.map { ["reason": .string($0)] })
    }

    /// -32020 (2026-07-28): the `MCP-Protocol-Version`, `Mcp-Method` or `Mcp-Name` header is missing or does not
    /// match the body.
    /// - Parameter detail: what did not match.
    public static func headerMismatch(_ detail: String) -> MCPError {
        MCPError(code: Code.headerMismatch, message: "Header mismatch: \(detail)")
    }
    /// -32021 (2026-07-28): the request needs client capabilities the request's `_meta` did not declare.
    /// - Parameter capabilities: the missing capabilities as a `ClientCapabilities` object, e.g. `["sampling": [:]]`.
    public static func missingRequiredClientCapability(_ capabilities: Value) -> MCPError {
        let names = capabilities.objectValue.map { $0.keys.sorted().joined(separator: ", ") } ?? ""
        return MCPError(
            code: Code.missingRequiredClientCapability,
            message: "Missing required client capability: \(names)",
            data: ["requiredCapabilities": capabilities])
    }
    /// -32022 (2026-07-28): the request's protocol version is not served; `data` lists the supported ones.
    /// - Parameters:
    ///   - requested: the version the request named.
    ///   - supported: the versions the server serves statelessly, newest first.
    public static func unsupportedProtocolVersion(requested: String, supported: [ProtocolVersion]) -> MCPError {
        MCPError(
            code: Code.unsupportedProtocolVersion, message: "Unsupported protocol version",
            data: ["supported": .array(supported.map { .string($0.rawValue) }), "requested": .string(requested)])
    }

    /// The error codes, by name.
    public enum Code {
        /// Invalid JSON.
        public static let parseError = -32700
        /// Not a valid request object.
        public static let invalidRequest = -32600
        /// Unknown method.
        public static let methodNotFound = -32601
        /// Invalid method parameters.
        public static let invalidParams = -32602
        /// Internal error.
        public static let internalError = -32603
        /// MCP: resource not found.
        public static let resourceNotFound = -32002
        /// MCP: the server has no session for this request / the request needs one (transport-level).
        public static let connectionClosed = -32000
        /// MCP: request timed out.
        public static let requestTimeout = -32001
        /// MCP 2025-11-25: the request needs URL-mode elicitations completed first (`URLElicitationRequiredError`).
        public static let urlElicitationRequired = -32042
        /// MCP 2026-07-28: HTTP headers do not match the body (`HeaderMismatch`).
        public static let headerMismatch = -32020
        /// MCP 2026-07-28: a client capability the request needs was not declared.
        public static let missingRequiredClientCapability = -32021
        /// MCP 2026-07-28: the request's protocol version is not supported.
        public static let unsupportedProtocolVersion = -32022
        /// The request was cancelled (the code LSP uses); never sent for a client's own cancellation.
        public static let requestCancelled = -32800
    }

    /// The JSON error object: `{"code":…, "message":…, "data":…}`.
    public var value: Value {
        var object: [String: Value] = ["code": .int(code), "message": .string(message)]
        if let data { object["data"] = data }
        return .object(object)
    }

    /// `"MCPError(<code>): <message>"`.
    public var description: String { "MCPError(\(code)): \(message)" }
}
