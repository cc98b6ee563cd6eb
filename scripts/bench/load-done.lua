-- wrk script tail for scripts/load-test.sh, bench.sh and faults.sh (appended after a scenario
-- script): counts responses per status and appends one slice's results to the
-- file named by SLICE_OUT:
--   status CODE COUNT          per HTTP status (wrk lumps 429 and 5xx together)
--   lat MICROSECONDS COUNT     the latency histogram (wrk's distinct values)
--   slice DURATION_US REQUESTS CONNECT_ERR READ_ERR WRITE_ERR TIMEOUTS P50 P99 MAX
-- so the slices of a scenario can be merged into exact overall percentiles.
-- A scenario script's own setup, init, response and done still run.
local threads = {}
local scenario_setup = setup

function setup(thread)
   table.insert(threads, thread)
   if scenario_setup then scenario_setup(thread) end
end

local scenario_init = init
local scenario_response = response

function init(args)
   statuses = {}
   if scenario_init then scenario_init(args) end
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if scenario_response then scenario_response(status, headers, body) end
end

local scenario_done = done

function done(summary, latency, requests)
   if scenario_done then scenario_done(summary, latency, requests) end
   local out = assert(io.open(os.getenv("SLICE_OUT"), "a"))
   local total = {}
   for _, t in ipairs(threads) do
      for code, n in pairs(t:get("statuses")) do
         total[code] = (total[code] or 0) + n
      end
   end
   for code, n in pairs(total) do
      out:write(string.format("status %d %d\n", code, n))
   end
   for i = 1, #latency do
      local v, c = latency(i)
      out:write(string.format("lat %d %d\n", v, c))
   end
   local e = summary.errors
   out:write(string.format("slice %d %d %d %d %d %d %d %d %d\n", summary.duration,
      summary.requests, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
   out:close()
end
