-- wrk script: POST /api/route with one of a few chat messages (or GET PATH when
-- METHOD=GET), with TOKEN as the bearer; the `done` hook prints one JSON line for
-- scripts/load-route.sh.
local token = os.getenv("TOKEN") or ""
local method = os.getenv("METHOD") or "POST"
local path = os.getenv("LOAD_PATH") or "/api/route"
local conversations = os.getenv("CONVERSATIONS") == "1"
local messages = {
  "Please deploy the hotfix to production before the release window closes",
  "There is a crash with a stack trace in the payment service, can someone fix this bug",
  "Can we plan the next sprint and update the roadmap for the quarter",
  "Found a CVE in one of our dependencies, check the vulnerability",
  "hello there, what is going on today",
}
local counter = 0

function request()
  counter = counter + 1
  if method == "GET" then
    return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
  end
  local m = messages[(counter % #messages) + 1]
  local body = '{"message":"' .. m .. '","channel":"slack"'
  if conversations then
    body = body .. ',"conversationId":"load-' .. (counter % 97) .. '"'
  end
  body = body .. "}"
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"non2xx":%d,"errors":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
