-- Shared by the benchmark's wrk scripts: per-thread counters, setup/done plumbing, a machine-readable
-- RESULT line. Every script counts non-2xx answers (and unexpected statuses) and JSON-RPC error answers;
-- bench/run.sh fails the run when any appear.
local M = {}
local threads = {}
local counter = 0

function M.setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- Reads "key=value" lines of a file into a list (used for session ids).
function M.lines(path)
  local list = {}
  if path == nil or path == "" then return list end
  local f = assert(io.open(path, "r"))
  for line in f:lines() do if line ~= "" then table.insert(list, line) end end
  f:close()
  return list
end

function M.header(headers, name)
  return headers[name] or headers[string.lower(name)]
end

function M.has_rpc_error(body)
  return body ~= nil and string.find(body, '"error"%s*:') ~= nil
end

-- keys: names of per-thread numeric globals to sum in done(); maxkeys: ones to take the maximum of.
function M.done(summary, latency, keys, maxkeys)
  local sums = {}
  maxkeys = maxkeys or {}
  for _, k in ipairs(keys) do sums[k] = 0 end
  for _, k in ipairs(maxkeys) do sums[k] = 0 end
  for _, t in ipairs(threads) do
    for _, k in ipairs(keys) do sums[k] = sums[k] + (t:get(k) or 0) end
    for _, k in ipairs(maxkeys) do sums[k] = math.max(sums[k], t:get(k) or 0) end
  end
  for _, k in ipairs(maxkeys) do table.insert(keys, k) end
  local e = summary.errors
  local parts = {
    string.format("requests=%d", summary.requests),
    string.format("duration_us=%d", summary.duration),
    string.format("rps=%.1f", summary.requests / (summary.duration / 1e6)),
    string.format("p50_us=%d", latency:percentile(50)),
    string.format("p99_us=%d", latency:percentile(99)),
    string.format("sockerr=%d", e.connect + e.read + e.write + e.timeout),
    string.format("statuserr=%d", e.status),
  }
  for _, k in ipairs(keys) do table.insert(parts, string.format("%s=%d", k, sums[k])) end
  io.write("RESULT " .. table.concat(parts, " ") .. "\n")
end

-- The answer check of the tools/call scripts (wrk's `response`): a good answer has status 200, a "result" member
-- and no "error" member; the others are counted in the thread's globals bad_status, rpc_error and no_result
-- (the script sets them to 0), and the first three of each kind are printed.
function M.check_answer(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    if bad_status <= 3 then io.stderr:write("unexpected status " .. status .. ": " .. (body or "") .. "\n") end
  elseif M.has_rpc_error(body) then
    rpc_error = rpc_error + 1
    if rpc_error <= 3 then io.stderr:write("JSON-RPC error: " .. body .. "\n") end
  elseif not string.find(body, '"result"', 1, true) then
    no_result = no_result + 1
  end
end

-- The counters check_answer keeps, for M.done.
M.answer_counters = { "bad_status", "rpc_error", "no_result" }

return M
