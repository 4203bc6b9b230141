// `import MCPFCGI` gives an executable the whole framework: the protocol core, the HTTP vocabulary, OAuth and the
// Streamable HTTP transport, with the FastCGI front that serves them.
@_exported import MCPHTTP
@_exported import MCPHandlers
@_exported import MCPOAuth
@_exported import MCPStreamableHTTP
