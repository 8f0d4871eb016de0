-- wrk script: POST /api/approve with a new task each time (research reads, approved by
-- the example policy, a hundred-thousandth of a dollar each), with TOKEN as the
-- gateway's bearer; the `done` hook prints one JSON line for scripts/load-backup.sh.
local token = os.getenv("TOKEN") or ""
local run = os.getenv("RUN") or "0"
local made = 0
local counter = 0

function setup(thread)
  made = made + 1
  thread:set("tid", made)
end

function request()
  counter = counter + 1
  local body = '{"taskId":"load-' .. run .. '-' .. tostring(tid) .. '-' .. counter ..
    '","agent":"research","action":"read","description":"load","estimatedCostUsd":0.00001}'
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/api/approve", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"non2xx":%d,"errors":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
