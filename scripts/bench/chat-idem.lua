-- wrk script for scripts/faults.sh: POST /api/chat/message as many users
-- (TOKENS: lines "user_id token"), every request with its own
-- Idempotency-Key (KEY_PREFIX + thread + counter). The user_message_id of
-- every 2xx answer is appended to the file named by IDS_OUT, and
-- 503s without Retry-After are counted, for the checks after a fault.
-- (Appended to by scripts/bench/load-done.lua, which chains these functions.)
local tokens = {}
local next_token = 1
local counter = 0
local prefix

function init(args)
   for line in io.lines(os.getenv("TOKENS")) do
      tokens[#tokens + 1] = string.match(line, "%S+%s+(%S+)")
   end
   local seed = tonumber(string.match(tostring({}), "0x(%x+)") or "1", 16)
   math.randomseed(seed % 2147483647)
   next_token = math.random(#tokens)
   prefix = (os.getenv("KEY_PREFIX") or "k") .. "-" .. string.format("%x", seed) .. "-"
   answered = {}
   no_retry_after = 0
end

function request()
   local t = tokens[next_token]
   next_token = next_token % #tokens + 1
   counter = counter + 1
   return wrk.format("POST", "/api/chat/message", {
      ["Authorization"] = "Bearer " .. t,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = prefix .. counter,
   }, '{"message":"fault test ' .. counter .. '"}')
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      local id = string.match(body, '"user_message_id":"([0-9a-f-]+)"')
      if id then answered[#answered + 1] = id end
   elseif status == 503 and headers["Retry-After"] == nil then
      no_retry_after = no_retry_after + 1
   end
end

local threads_ = {}
function setup(thread)
   table.insert(threads_, thread)
end

function done(summary, latency, requests)
   local out = assert(io.open(os.getenv("IDS_OUT"), "a"))
   for _, t in ipairs(threads_) do
      for _, id in ipairs(t:get("answered")) do out:write(id, "\n") end
      local n = t:get("no_retry_after")
      if n > 0 then out:write("no-retry-after ", n, "\n") end
   end
   out:close()
end
