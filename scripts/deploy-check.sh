#!/usr/bin/env bash
# `agency deploy` against a local stand-in for the Cloudflare API (scripts/fake-cloudflare.py,
# the API's wire format) with the real Wrangler pointed at it by base URL: plan, a first
# apply on an empty account, a second that does nothing, an apply killed half way and
# run again, destroy. Needs the Workers built (the edge step builds them). Prints
# "deploy: ok|FAIL  <check>" lines and "deploy: N passed, M failed".
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/tools.sh"
ensure_worker_tools
set +e  # each check reports its own failure
AGENCY="${AGENCY_BIN:-$ROOT/target/release/agency}"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/agency-deploy.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -9 -- "-$pid" 2>/dev/null; done
  [ -n "${KEEP_STATE:-}" ] || rm -rf "$STATE"
}
trap cleanup EXIT

passed=0; failed=0
ok() { echo "deploy: ok    $1"; passed=$((passed + 1)); }
fail() { echo "deploy: FAIL  $1"; failed=$((failed + 1)); }

# One fake account: its port in $STATE/$1.port, its requests in $STATE/$1.jsonl.
start_fake() {
  setsid python3 "$ROOT/scripts/fake-cloudflare.py" --port 0 --port-file "$STATE/$1.port" \
    --log "$STATE/$1.jsonl" </dev/null >"$STATE/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do [ -s "$STATE/$1.port" ] && break; sleep 0.1; done
  cat "$STATE/$1.port"
}
account() { # name: the environment to run `agency deploy` in against fake $1
  local port; port=$(cat "$STATE/$1.port")
  export CLOUDFLARE_API_BASE_URL="http://127.0.0.1:$port/client/v4"
  export CLOUDFLARE_ACCOUNT_ID=0123456789abcdef0123456789abcdef CLOUDFLARE_API_TOKEN=fake-token
  export WORKERS_URL="http://127.0.0.1:$port/workers/{worker}" FAKE="http://127.0.0.1:$port"
}
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false WRANGLER_HIDE_BANNER=true CI=1
export npm_registry=http://127.0.0.1:9/

# The agency: the example graph and policy, a Telegram bot (its API is the fake too), a
# Slack workspace and the gateway.
for f in A B; do start_fake "$f" >/dev/null; done
write_config() { # fake dir
  cat > "$2/agency.toml" <<TOML
graph = "$ROOT/examples/graph"
policy = "$ROOT/examples/policy/policy.toml"
data_dir = "$2/data"

[webhooks]
telegram_api = "http://127.0.0.1:$(cat "$STATE/$1.port")/telegram"
discord_api = "http://127.0.0.1:$(cat "$STATE/$1.port")/discord/api/v10"

[[webhooks.telegram]]
id = "agency_bot"
secret_token_env = "TG_SECRET"
bot_token_env = "TG_TOKEN"

[[webhooks.slack]]
id = "T0123"
signing_secret_env = "SLACK_SIGNING_SECRET"
bot_token_env = "SLACK_BOT_TOKEN"

[[webhooks.discord]]
id = "G1"
application_id = "1100000000000000042"
public_key = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
bot_token_env = "DC_TOKEN"

[gateway]
url = "https://gateway.example.com"
secret_env = "GATEWAY_SECRET"
TOML
}
mkdir -p "$STATE/a" "$STATE/b"
write_config A "$STATE/a"
write_config B "$STATE/b"
apply() { # dir
  "$AGENCY" deploy apply --config "$1/agency.toml" --prebuilt --workers-url "$WORKERS_URL"
}

# Plan: what is missing is named by its variable, exit 2; then complete, exit 0.
account A
out=$("$AGENCY" deploy plan --config "$STATE/a/agency.toml" --offline 2>&1); code=$?
if [ "$code" = 2 ] && grep -q "environment variable TG_TOKEN" <<<"$out" && grep -q "SLACK_SIGNING_SECRET" <<<"$out"; then
  ok "plan names each missing secret by its variable and exits 2"
else
  fail "plan with secrets missing (exit $code): $out"
fi
export TG_SECRET=tg-secret-0123 TG_TOKEN=4242:tg-token SLACK_SIGNING_SECRET=slack-signing SLACK_BOT_TOKEN=xoxb-1 GATEWAY_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw DC_TOKEN=discord-bot-token
json=$("$AGENCY" deploy plan --config "$STATE/a/agency.toml" --offline --json); code=$?
if [ "$code" = 0 ] && python3 -c 'import json,sys; p=json.load(sys.stdin); assert not p["missing"] and p["steps"][0]["step"]=="create"' <<<"$json"; then
  ok "plan --offline --json is complete once the variables are set"
else
  fail "plan --offline --json (exit $code)"
fi

# A first apply on an empty account.
if out=$(apply "$STATE/a" 2>&1); then ok "a first apply on an empty account succeeds"; else fail "first apply: $out"; fi
echo "$out" > "$STATE/apply-a1.log"
state_a=$(curl -s "$FAKE/state")
if python3 - "$state_a" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
parts = ["skill-graph", "router", "assistant", "webhooks", "monitoring"]
assert s["workers"] == sorted(f"agency-{p}-production" for p in parts), s["workers"]
assert s["d1"] == sorted(f"agency-{p}-production" for p in parts), s["d1"]
assert s["kv"] == ["agency-assistant-sessions-production", "agency-skill-graph-cache-production"], s["kv"]
assert s["queues"] == ["agency-webhook-dead-production", "agency-webhook-work-production"], s["queues"]
assert s["r2"] == ["agency-archive-production"], s["r2"]
assert s["graphs"] == ["agency-skill-graph-production"], s["graphs"]
assert list(s["telegram"].values()) == [{"url": s["telegram"][next(iter(s["telegram"]))]["url"], "secret_token": "tg-secret-0123"}]
assert next(iter(s["telegram"].values()))["url"].endswith("/agency-webhooks-production/telegram/agency_bot")
roles = {"AGENCY_GATEWAY_TOKEN", "AGENCY_OPERATOR_TOKEN", "AGENCY_VIEWER_TOKEN"}
for w, names in s["secrets"].items():
    assert roles <= set(names), (w, names)
assert {"TG_SECRET", "TG_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "GATEWAY_SECRET"} <= set(s["secrets"]["agency-webhooks-production"])
assert "TG_TOKEN" not in s["secrets"]["agency-router-production"]
assert s["consumers"]["agency-webhook-work-production"] == ["agency-webhooks-production"]
assert s["discord"]["app"]["interactions_endpoint_url"].endswith("/agency-webhooks-production/discord/G1"), s["discord"]
assert s["discord"]["1100000000000000042/G1"] == ["agency"], s["discord"]
assert "DC_TOKEN" in s["secrets"]["agency-webhooks-production"]
PY
then ok "it created, migrated, deployed, put the secrets, uploaded the graph, registered the Telegram webhook and set Discord's endpoint and command"
else fail "the account after the first apply: $state_a"; fi

# Every upload binds only Workers that exist already (the platform refuses the rest),
# each database got its migrations, and the last upload of each Worker binds them all.
if python3 - "$STATE/A.jsonl" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
there, last = set(), {}
for e in log:
    path = e["path"]
    if e["method"] in ("PUT", "POST") and "/workers/scripts/" in path and "multipart" in e \
            and (path.endswith("/versions") or path.count("/") == 5):
        name = path.split("/")[5]
        services = {b["service"] for b in e["multipart"]["metadata"]["json"]["bindings"] if b["type"] == "service"}
        missing = services - there - {name}
        assert not missing, f"{name} bound {missing} before they existed"
        there.add(name)
        last[name] = services
assert len(last) == 5, last
assert last["agency-monitoring-production"] == {f"agency-{p}-production" for p in ["skill-graph", "router", "assistant", "webhooks"]}
assert "agency-monitoring-production" in last["agency-router-production"]
queries = [e for e in log if e["path"].endswith("/query") and "INSERT INTO d1_migrations" in json.dumps(e.get("body"))]
assert len(queries) >= 10, len(queries)
PY
then ok "each upload binds only Workers already there; every binding is in place at the end"
else fail "deploy order (see $STATE/A.jsonl)"; fi

# A second apply does nothing, and says so.
before=$(wc -l < "$STATE/A.jsonl")
out=$(apply "$STATE/a" 2>&1); code=$?
writes=$(tail -n +"$((before + 1))" "$STATE/A.jsonl" | python3 -c '
import json, sys
n = 0
for l in sys.stdin:
    e = json.loads(l)
    if e["path"].startswith("/accounts") and e["method"] != "GET": n += 1
print(n)')
if [ "$code" = 0 ] && grep -q "Nothing to do" <<<"$out" && [ "$writes" = 0 ]; then
  ok "a second apply changes nothing and says so"
else
  fail "second apply (exit $code, $writes writes): $out"
fi
out=$("$AGENCY" deploy plan --config "$STATE/a/agency.toml" --workers-url "$WORKERS_URL" 2>&1); code=$?
if [ "$code" = 0 ] && grep -q "Nothing to do" <<<"$out"; then ok "plan against the account finds nothing to do"; else fail "plan after apply (exit $code): $out"; fi

# A secret's new value is put again, on the Worker that reads it alone.
before=$(wc -l < "$STATE/A.jsonl")
export SLACK_BOT_TOKEN=xoxb-2
out=$(apply "$STATE/a" 2>&1); code=$?
writes=$(tail -n +"$((before + 1))" "$STATE/A.jsonl" | python3 -c '
import json, sys
print(" ".join(sorted(e["method"] + " " + e["path"].split("/")[5] for e in map(json.loads, sys.stdin)
                      if e["path"].startswith("/accounts") and e["method"] != "GET")))')
if [ "$code" = 0 ] && [ "$writes" = "PATCH agency-webhooks-production" ]; then
  ok "a changed secret is put again on the one Worker that reads it"
else
  fail "rotating SLACK_BOT_TOKEN (exit $code): writes [$writes]: $out"
fi

# A new secret token for the Telegram bot: the Worker's secret and the webhook follow.
export TG_SECRET=tg-secret-4567
out=$(apply "$STATE/a" 2>&1); code=$?
token=$(curl -s "$FAKE/state" | python3 -c 'import json,sys; print(next(iter(json.load(sys.stdin)["telegram"].values()))["secret_token"])')
if [ "$code" = 0 ] && [ "$token" = tg-secret-4567 ] && grep -q "register the Telegram webhook" <<<"$out"; then
  ok "a new Telegram secret token is put on the Worker and registered with setWebhook"
else
  fail "rotating TG_SECRET (exit $code, registered $token): $out"
fi

# An apply killed (kill -9) half way, then run again, ends where an uninterrupted one does.
account B
(exec setsid "$AGENCY" deploy apply --config "$STATE/b/agency.toml" --prebuilt --workers-url "$WORKERS_URL" \
  </dev/null >"$STATE/apply-b1.log" 2>&1) &
victim=$!
for _ in $(seq 1 600); do
  uploads=$(grep -c '"multipart"' "$STATE/B.jsonl" 2>/dev/null || true)
  [ "${uploads:-0}" -ge 3 ] && break
  sleep 0.1
done
kill -9 -- "-$victim" 2>/dev/null; wait "$victim" 2>/dev/null
out=$(apply "$STATE/b" 2>&1); code=$?
state_b=$(curl -s "$FAKE/state")
if [ "$code" = 0 ] && [ "$(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); [d.pop(k) for d in (a,b) for k in ("telegram", "discord")]; print(a==b)' "$state_a" "$state_b")" = True ]; then
  ok "an apply killed after ${uploads:-?} uploads and run again ends in the same state"
else
  fail "resumed apply (exit $code): $out; state $state_b"
fi

# Destroy: a wrong name deletes nothing; the right one leaves only the archive.
account A
if "$AGENCY" deploy destroy --config "$STATE/a/agency.toml" --confirm staging >/dev/null 2>&1; then
  fail "destroy with the wrong name went on"
elif [ "$(curl -s "$FAKE/state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["workers"]))')" = 5 ]; then
  ok "destroy asks for the environment's name and deletes nothing without it"
else
  fail "destroy with the wrong name deleted something"
fi
out=$("$AGENCY" deploy destroy --config "$STATE/a/agency.toml" --confirm production 2>&1); code=$?
left=$(curl -s "$FAKE/state")
if [ "$code" = 0 ] && python3 -c '
import json, sys
s = json.loads(sys.argv[1])
assert not s["workers"] and not s["d1"] and not s["kv"] and not s["queues"], s
assert s["r2"] == ["agency-archive-production"], s' "$left"; then
  ok "destroy leaves nothing but the archive bucket"
else
  fail "destroy (exit $code): $out; left $left"
fi

echo "deploy: $passed passed, $failed failed"
[ "$failed" = 0 ]
