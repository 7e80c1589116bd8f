-- wrk script: POST a generation_failed webhook body with a unique uuid per
-- request, so every request is a new durable event (no dedupe shortcut).
-- Usage: wrk -t2 -c64 -d10s -s bench/webhook.lua http://127.0.0.1:3000/api/webhooks/generation-failed
local counter = 0
local threads = {}

-- setup runs in the main Lua state; thread:set makes thread_id a global of
-- each thread's own state, read by init below.
function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = string.format("wrk-%d-%d-%d", os.time(), thread_id, math.random(1, 1e9))
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"event":{"uuid":"%s-%d","event":"generation_failed","distinct_id":"user-%d",' ..
    '"properties":{"failure_reason":"timeout","input_prompt":"benchmark prompt %d","$lib":"wrk"},' ..
    '"timestamp":"2026-11-28T12:00:00.000Z"}}', prefix, counter, counter % 1000, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("non-2xx: %d, p50: %.2f ms, p99: %.2f ms\n",
    non2xx, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
