-- wrk script: each request carries the bearer token of another user, taken
-- round-robin from the file named by the TOKENS environment variable (one
-- token per line), so the figures include JWT verification and per-user
-- rate limiting for many users.
local tokens = {}
local next_token = 1

function init(args)
   for line in io.lines(os.getenv("TOKENS")) do
      tokens[#tokens + 1] = line
   end
   -- threads start at different places in the list
   next_token = (math.random(#tokens))
end

function request()
   local t = tokens[next_token]
   next_token = next_token % #tokens + 1
   return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. t })
end
