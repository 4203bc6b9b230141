-- tools/call of the `echo` tool ({"text":"hello"}), JSON answer (Accept: application/json, or the value of
-- BENCH_ACCEPT, e.g. the official SDK client's "application/json, text/event-stream").
-- Args (after --): PATH SESSIONS_FILE PROTOCOL_VERSION [TOKEN_FILE]
--   SESSIONS_FILE: one initialized session id per line ("-" for none: the C floor and nginx return 200).
--   TOKEN_FILE: a file whose first line is an access token, sent as "Authorization: Bearer <token>" with
--   every request (scenario 4); absent or "-": no Authorization header.
--   Each thread takes its share of the sessions (one per connection: run.sh makes as many as wrk
--   connections) and uses them round robin. Ids are unique per thread (tid * 1e9 + n).
-- An answer counts as good only with status 200, a "result" member and no "error" member.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
tid = 0
bad_status = 0
rpc_error = 0
no_result = 0
local reqs = {}
local n = 0
local path, sessions_file, version, bearer

function init(args)
  path = args[1] or "/mcp"
  sessions_file = args[2] or "-"
  version = args[3] or "2025-11-25"
  if args[4] ~= nil and args[4] ~= "-" then
    bearer = common.lines(args[4])[1]
    assert(bearer ~= nil, "no token in " .. args[4])
  end
  local all = sessions_file ~= "-" and common.lines(sessions_file) or {}
  local mine = {}
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  for i, s in ipairs(all) do
    if (i - 1) % nthreads == tid then table.insert(mine, s) end
  end
  if #mine == 0 then mine = { false } end
  for i, s in ipairs(mine) do
    local h = { ["Content-Type"] = "application/json", ["Accept"] = os.getenv("BENCH_ACCEPT") or "application/json" }
    if bearer then h["Authorization"] = "Bearer " .. bearer end
    if s then
      h["Mcp-Session-Id"] = s
      h["MCP-Protocol-Version"] = version
    end
    reqs[i] = h
  end
end

function request()
  n = n + 1
  local h = reqs[(n % #reqs) + 1]
  local body = '{"jsonrpc":"2.0","id":' .. (tid * 1000000000 + n) ..
      ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
  return wrk.format("POST", path, h, body)
end

response = common.check_answer

function done(summary, latency, requests)
  common.done(summary, latency, common.answer_counters)
end
