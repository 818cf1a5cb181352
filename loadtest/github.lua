-- wrk script: signed GitHub deliveries, each with its own X-GitHub-Delivery id,
-- so every request is a new event (GitHub signs only the body, so one signature
-- serves them all). SECRET and BODY_BYTES come from the environment.
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  local bytes = tonumber(os.getenv("BODY_BYTES") or "1024")
  local filler = string.rep("x", math.max(0, bytes - 40))
  wrk.method = "POST"
  wrk.body = '{"zen":"load","filler":"' .. filler .. '"}'
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = "push"
  wrk.headers["X-Hub-Signature-256"] = "sha256=" .. os.getenv("SIGNATURE")
  run_id = os.getenv("RUN_ID") or "run"
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = run_id .. "-" .. thread_id .. "-" .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("requests=%d non2xx=%d socket_errors=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
