-- Session set-up rate: initialize, then notifications/initialized, then (later) DELETE of each session.
-- Args (after --): PATH PROTOCOL_VERSION DELETE_LAG_MS [BUDGET]
-- DELETE_LAG_MS "none": no DELETE at all; then each thread stops after BUDGET initialize answers (keep
-- threads × (BUDGET + connections) under the 10,000-session cap) and reports its own elapsed time, since
-- wrk's duration would include the idle rest of the run.
-- wrk gives Lua no connection identity, so a thread keeps queues: an initialize answer (200 with
-- Mcp-Session-Id) queues its session for notifications/initialized; once that notification is sent the
-- session waits DELETE_LAG_MS (monotonic clock via LuaJIT ffi) before its DELETE goes out, so the DELETE
-- cannot overtake the notification on another connection. Live sessions stay about rate × lag, far below
-- the worker's 10,000-session cap. Statuses expected: 200 (initialize, DELETE), 202 (notification).
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

setup = common.setup
tid = 0
inits = 0
notified = 0
deleted = 0
bad_status = 0
rpc_error = 0
local path, version, lag
local pending_notify = {}  -- session ids awaiting notifications/initialized
local pn_head, pn_tail = 1, 0
local pending_delete = {}  -- { id, time notification was sent }
local pd_head, pd_tail = 1, 0
local n = 0
local json_h = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }

elapsed_ms = 0
local budget, started, stopped
local health = nil

function init(args)
  path = args[1] or "/mcp"
  version = args[2] or "2025-11-25"
  if args[3] == "none" then lag = math.huge else lag = tonumber(args[3] or "250") end
  budget = tonumber(args[4] or "0")
  health = wrk.format("GET", "/health")
end

function request()
  local t = now_ms()
  started = started or t
  if stopped then return health end
  if pd_head <= pd_tail and pending_delete[pd_head][2] + lag <= t then
    local id = pending_delete[pd_head][1]
    pending_delete[pd_head] = nil
    pd_head = pd_head + 1
    return wrk.format("DELETE", path, { ["Mcp-Session-Id"] = id, ["MCP-Protocol-Version"] = version })
  end
  if pn_head <= pn_tail then
    local id = pending_notify[pn_head]
    pending_notify[pn_head] = nil
    pn_head = pn_head + 1
    pd_tail = pd_tail + 1
    pending_delete[pd_tail] = { id, t }
    return wrk.format("POST", path,
      { ["Content-Type"] = "application/json", ["Accept"] = "application/json",
        ["Mcp-Session-Id"] = id, ["MCP-Protocol-Version"] = version },
      '{"jsonrpc":"2.0","method":"notifications/initialized"}')
  end
  n = n + 1
  return wrk.format("POST", path, json_h,
    '{"jsonrpc":"2.0","id":' .. (tid * 1000000000 + n) .. ',"method":"initialize","params":{"protocolVersion":"' ..
    version .. '","capabilities":{},"clientInfo":{"name":"bench","version":"1.0"}}}')
end

function response(status, headers, body)
  if stopped then return end
  local sid = common.header(headers, "Mcp-Session-Id")
  if common.has_rpc_error(body) then
    rpc_error = rpc_error + 1
    if rpc_error <= 3 then io.stderr:write("JSON-RPC error (" .. status .. "): " .. body .. "\n") end
  elseif status == 200 and sid and string.find(body, '"protocolVersion"', 1, true) then
    inits = inits + 1
    pn_tail = pn_tail + 1
    pending_notify[pn_tail] = sid
    if budget > 0 and inits >= budget then
      -- Count the notifications still to send as done work: stop here (sessions stay live).
      stopped = true
      elapsed_ms = math.floor(now_ms() - started)
      wrk.thread:stop()
    end
  elseif status == 202 then
    notified = notified + 1
  elseif status == 200 then
    deleted = deleted + 1
  else
    bad_status = bad_status + 1
    if bad_status <= 3 then io.stderr:write("unexpected status " .. status .. ": " .. (body or "") .. "\n") end
  end
end

function done(summary, latency, requests)
  common.done(summary, latency, { "inits", "notified", "deleted", "bad_status", "rpc_error" }, { "elapsed_ms" })
end
