-- wrk script: the one request every target gets.
--
--   wrk ... URL -- MODEL MODE DIALECT STREAM
--
-- MODEL is the model name to ask for ("gpt-4o-mini" for the mock and nginx,
-- "bench/gpt-4o-mini" through sluice). DIALECT is "openai" (chat completions) or
-- "anthropic" (messages); STREAM is "stream" to ask for an SSE stream ("-" not to).
-- MODE is "overhead" or "-". With the second argument "overhead", a
-- response() hook collects the `x-sluice-overhead-us` header of every response
-- and done() prints its distribution. The hook makes wrk parse and hand every
-- response's headers to Lua, which costs wrk time, so it is only used in a
-- dedicated run, never in the runs whose req/s and latency are reported.

local collect = false
local threads = {}

-- Runs once per wrk thread (in the main Lua state) before init: remember the
-- threads so done() can pull each one's histogram out of it.
function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local model = args[1] or "gpt-4o-mini"
   collect = (args[2] == "overhead")
   local stream = (args[4] == "stream") and "true" or "false"
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   if args[3] == "anthropic" then
      wrk.path = "/v1/messages"
      wrk.headers["x-api-key"] = "bench-key"
      wrk.headers["anthropic-version"] = "2023-06-01"
      wrk.body = '{"model":"' .. model .. '","max_tokens":16,"stream":' .. stream
         .. ',"messages":[{"role":"user","content":"Hello, how are you today?"}]}'
   else
      wrk.path = "/v1/chat/completions"
      -- The governed targets need a virtual key; the others ignore it.
      local key = os.getenv("SLUICE_BENCH_KEY")
      if key then
         wrk.headers["Authorization"] = "Bearer " .. key
      end
      wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user",'
         .. '"content":"Hello, how are you today?"}],"max_tokens":16,"stream":' .. stream .. '}'
   end
   -- Histogram of overhead values (µs -> count): constant memory whatever the
   -- request rate, and exact percentiles.
   hist = {}
   samples = 0
   missing = 0
   if collect then
      response = function(status, headers, body)
         local v = headers["x-sluice-overhead-us"] or headers["X-Sluice-Overhead-Us"]
         local n = v and tonumber(v)
         if n then
            n = math.floor(n + 0.5)
            hist[n] = (hist[n] or 0) + 1
            samples = samples + 1
         else
            missing = missing + 1
         end
      end
   end
end

-- Exact percentile from a value -> count histogram.
local function percentile(h, total, p)
   local keys = {}
   for k in pairs(h) do table.insert(keys, k) end
   table.sort(keys)
   local rank = math.max(1, math.ceil(total * p / 100))
   local seen = 0
   for _, k in ipairs(keys) do
      seen = seen + h[k]
      if seen >= rank then return k end
   end
   return keys[#keys]
end

function done(summary, latency, requests)
   local h, total, miss = {}, 0, 0
   for _, t in ipairs(threads) do
      local th = t:get("hist") or {}
      for k, c in pairs(th) do h[k] = (h[k] or 0) + c end
      total = total + (t:get("samples") or 0)
      miss = miss + (t:get("missing") or 0)
   end
   if total > 0 then
      -- One machine-readable line for run.sh / report.py.
      io.write(string.format(
         "OVERHEAD_US samples=%d missing=%d p50=%d p90=%d p99=%d\n",
         total, miss, percentile(h, total, 50), percentile(h, total, 90),
         percentile(h, total, 99)))
   elseif miss > 0 then
      io.write(string.format("OVERHEAD_US samples=0 missing=%d\n", miss))
   end
end
