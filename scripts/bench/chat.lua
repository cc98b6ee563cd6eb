-- wrk script: POST /api/chat/message, each request from another user (bearer
-- tokens from the file named by TOKENS) with a new message, so every request
-- stores a conversation, the message and its answer.
local tokens = {}
local next_token = 1
local counter = 0

function init(args)
   for line in io.lines(os.getenv("TOKENS")) do
      tokens[#tokens + 1] = line
   end
   next_token = math.random(#tokens)
end

function request()
   local t = tokens[next_token]
   next_token = next_token % #tokens + 1
   counter = counter + 1
   return wrk.format("POST", nil, {
      ["Authorization"] = "Bearer " .. t,
      ["Content-Type"] = "application/json",
   }, '{"message":"What does a website cost? (' .. counter .. ')"}')
end
