-- wrk script of bench/tracking.ts: each request a page view of a new visitor (its own _id), sent to
-- matomo.php with the tenant's Host and a forwarded address, as the ingress would; prints the counts
-- and latency percentiles (microseconds) as one JSON line at the end.
local host = os.getenv("MMS_BENCH_HOST")
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(os.time() + id)
end

function request()
  local visitor = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  local path = "/matomo.php?idsite=1&rec=1&apiv=1&send_image=0&_id=" .. visitor ..
    "&url=https%3A%2F%2Fwww.example.test%2Fbench&action_name=bench&rand=" .. math.random(0, 0x7fffffff)
  return wrk.format("GET", path, { ["Host"] = host, ["X-Forwarded-For"] = "198.51.100.7", ["X-Forwarded-Proto"] = "https" })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"seconds":%.3f,"non2xx":%d,"socketErrors":%d,"p50us":%d,"p95us":%d,"p99us":%d}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
