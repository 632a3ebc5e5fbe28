-- Requests for the HTTP rows, and one JSON summary line on stdout (prefixed "BENCH-JSON ").
--
--   wrk -s bench/wrk.lua URL -- get PATH [TOKEN]
--   wrk -s bench/wrk.lua URL -- steps TOKEN JOURNEYS_FILE EFFECTIVE_DATE SEED
--
-- "steps" POSTs a ladder step with a fresh event id to the journeys in JOURNEYS_FILE, round robin,
-- so concurrent connections do not write the same journey. Response codes are counted per thread
-- (globals, so done() can read them with thread:get).

threads = {}
statuses = {}
counter = 0

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   mode = args[1] or "get"
   if mode == "get" then
      local auth = nil
      if args[3] then
         auth = { ["Authorization"] = "Bearer " .. args[3] }
      end
      plain = wrk.format("GET", args[2] or "/", auth)
      return
   end
   token = args[2]
   journeys = {}
   for line in io.lines(args[3]) do
      if #line > 0 then
         table.insert(journeys, line)
      end
   end
   effective = args[4]
   math.randomseed(tonumber(args[5]))
   headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
end

local function uuid4()
   local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
   return (string.gsub(template, "[xy]", function(c)
      local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
      return string.format("%x", v)
   end))
end

function request()
   if mode == "get" then
      return plain
   end
   counter = counter + 1
   local journey = journeys[(counter % #journeys) + 1]
   local body = string.format(
      '{"event_id":"%s","type":"ladder_step","to_rung":%d,"effective_date":"%s","source":"bench"}',
      uuid4(), (counter % 6) + 1, effective)
   return wrk.format("POST", "/v1/journeys/" .. journey .. "/events", headers, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      local seen = thread:get("statuses") or {}
      for code, n in pairs(seen) do
         counts[code] = (counts[code] or 0) + n
      end
   end
   local parts = {}
   for code, n in pairs(counts) do
      table.insert(parts, string.format('"%d":%d', code, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH-JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"statuses":{%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(parts, ",")))
end
