"""The comparison point: the official Python MCP SDK (`mcp` on PyPI) serving the same `echo` tool in
stateful JSON mode (stateless_http=False, json_response=True), Streamable HTTP app run by uvicorn directly
on a loopback port (an HTTP server, not FastCGI: no nginx in front).

Usage: python sdk_server.py PORT
"""

import logging
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("sdk-bench")


@server.tool(description="Echoes its text (the benchmark's tool)")
def echo(text: str) -> str:
    return text


app = server.streamable_http_app(json_response=True, stateless_http=False, host="127.0.0.1")

if __name__ == "__main__":
    logging.getLogger("mcp").setLevel(logging.WARNING)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
