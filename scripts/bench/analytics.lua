-- wrk script: GET an analytics report as one of many admins (bearer tokens
-- from the file named by TOKENS, round-robin, as in tokens.lua). With
-- VARY=start_date every request asks for another window: start_date moves
-- by one millisecond per request from 30 days ago (each thread from its own
-- random point), so the response cache never answers and every request runs
-- the query; otherwise the URL is sent as given.
local tokens = {}
local next_token = 1
local vary = os.getenv("VARY")
local base_ms, counter = 0, 0

function init(args)
   for line in io.lines(os.getenv("TOKENS")) do
      tokens[#tokens + 1] = line
   end
   -- each thread has its own Lua state: seed from a table's address
   math.randomseed(tonumber(string.match(tostring({}), "0x(%x+)") or "1", 16) % 2147483647)
   next_token = math.random(#tokens)
   base_ms = (os.time() - 30 * 86400) * 1000
   counter = math.random(0, 3600000)
end

function request()
   local t = tokens[next_token]
   next_token = next_token % #tokens + 1
   local path = wrk.path
   if vary == "start_date" then
      counter = counter + 1
      local ms = base_ms + counter
      local sep = string.find(path, "?", 1, true) and "&" or "?"
      path = string.format("%s%sstart_date=%s.%03dZ", path, sep,
         os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000)), ms % 1000)
   end
   return wrk.format(nil, path, { ["Authorization"] = "Bearer " .. t })
end
