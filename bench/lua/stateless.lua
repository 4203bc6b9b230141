-- 2026-07-28 (stateless) tools/call of the `echo` tool ({"text":"hello"}), JSON answer: no session, the
-- revision in the MCP-Protocol-Version header and in params._meta, Mcp-Method / Mcp-Name headers.
-- Args (after --): PATH
-- An answer counts as good only with status 200, a "result" member and no "error" member.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
tid = 0
bad_status = 0
rpc_error = 0
no_result = 0
local n = 0
local path
local headers = {
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json",
  ["MCP-Protocol-Version"] = "2026-07-28",
  ["Mcp-Method"] = "tools/call",
  ["Mcp-Name"] = "echo",
}
local meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
    '"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},' ..
    '"io.modelcontextprotocol/clientCapabilities":{}}'

function init(args)
  path = args[1] or "/mcp"
end

function request()
  n = n + 1
  local body = '{"jsonrpc":"2.0","id":' .. (tid * 1000000000 + n) ..
      ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},' .. meta .. '}}'
  return wrk.format("POST", path, headers, body)
end

response = common.check_answer

function done(summary, latency, requests)
  common.done(summary, latency, common.answer_counters)
end
