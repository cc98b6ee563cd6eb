-- wrk script: counts responses per HTTP status (wrk itself lumps 429 and 5xx
-- together as "Non-2xx") and prints them in done() as "status CODE COUNT".
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

-- (appended after a scenario script: keep its init)
local scenario_init = init

function init(args)
   statuses = {}
   if scenario_init then scenario_init(args) end
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, t in ipairs(threads) do
      for code, n in pairs(t:get("statuses")) do
         total[code] = (total[code] or 0) + n
      end
   end
   for code, n in pairs(total) do
      io.write(string.format("status %d %d\n", code, n))
   end
   io.write(string.format("latency_us p50 %d p90 %d p99 %d max %d\n",
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
