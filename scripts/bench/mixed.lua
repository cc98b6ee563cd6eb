-- wrk script: the mixed workload of scripts/load-test.sh, per request at
-- random: 70% POST /api/chat/message, 20% an analytics summary (cached, the
-- caller's own scope), 10% GET /api/models or /health. Every request is from
-- another user (bearer tokens from the file named by TOKENS, round-robin).
local tokens = {}
local next_token = 1
local counter = 0

function init(args)
   for line in io.lines(os.getenv("TOKENS")) do
      tokens[#tokens + 1] = line
   end
   math.randomseed(tonumber(string.match(tostring({}), "0x(%x+)") or "1", 16) % 2147483647)
   next_token = math.random(#tokens)
end

function request()
   local t = tokens[next_token]
   next_token = next_token % #tokens + 1
   local auth = { ["Authorization"] = "Bearer " .. t }
   local r = math.random(100)
   if r <= 70 then
      counter = counter + 1
      auth["Content-Type"] = "application/json"
      return wrk.format("POST", "/api/chat/message", auth,
         '{"message":"What does a website cost? (' .. counter .. ')"}')
   elseif r <= 90 then
      return wrk.format("GET", "/api/analytics/conversations/summary", auth)
   elseif r <= 95 then
      return wrk.format("GET", "/api/models", auth)
   end
   return wrk.format("GET", "/health", nil)
end
