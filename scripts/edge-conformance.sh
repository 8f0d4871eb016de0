#!/usr/bin/env bash
# Runs the HTTP conformance suite against the five Workers (router, skill-graph,
# assistant, webhooks, monitoring) as `agency deploy dev` runs them: their generated
# configuration in one `wrangler dev` (real workerd, local D1, KV, Durable Objects and
# Queues) behind the generated front, on one URL. Each generated configuration also
# passes `wrangler deploy --dry-run`. Everything started is stopped by PID.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/tools.sh"
ensure_rust_targets
ensure_worker_tools
ensure_browser

STATE="$(mktemp -d "${TMPDIR:-/tmp}/agency-edge.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -- "-$pid" 2>/dev/null || true
  done
  sleep 1
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -9 -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$STATE"
}
trap cleanup EXIT
WORKERS="skill-graph router assistant webhooks monitoring"
AGENCY="${AGENCY_BIN:-$ROOT/target/release/agency}"
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true

# Four distinct free ports at once (sockets held open until all are chosen, so no two
# calls can return the same port): the agency's one URL and its inspector, and a second
# agency's (the check with no policy).
read -r PORT INSPECT BARE_PORT BARE_INSPECT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()')
token() { python3 -c 'import secrets; print("agt_" + secrets.token_hex(16))'; }
export AGENCY_GATEWAY_TOKEN="$(token)" AGENCY_OPERATOR_TOKEN="$(token)" AGENCY_VIEWER_TOKEN="$(token)"

# What a helper started in the background announces as `NAME: VALUE` in LOG (within 5
# s), printed; else the log, and the run stops.
announced() { # NAME LOG WHAT
  local value=""
  for _ in $(seq 1 50); do
    value=$(sed -n "s/^$1: //p" "$2")
    [ -n "$value" ] && { echo "$value"; return; }
    sleep 0.1
  done
  echo "[edge] $3 did not start" >&2
  cat "$2" >&2
  exit 1
}

# The assistant's free-text chat goes to a local stand-in for a chat-completions API.
# It binds a port of its own and prints it (a port chosen here and bound later could be
# taken meanwhile, and the chat checks would meet no model).
setsid python3 "$ROOT/scripts/fake-chat-model.py" 0 </dev/null >"$STATE/model.log" 2>&1 &
PIDS+=($!)
LLM_PORT=$(announced model "$STATE/model.log" "the fake chat model")
export AGENCY_LLM_API_KEY=fake-key
export AGENCY_CONFORMANCE_FAKE_MODEL=1 AGENCY_CONFORMANCE_QUICK_EXPIRY=1

# The webhook checks need the fake gateway and platform APIs, and the webhooks Worker
# configured for them (its secrets in the environment, its sections in agency.toml).
CONFORMANCE="${CONFORMANCE_BIN:-$ROOT/target/release/agency-conformance}"
setsid "$CONFORMANCE" fakes </dev/null >"$STATE/fakes.log" 2>&1 &
PIDS+=($!)
FAKES=$(announced fakes "$STATE/fakes.log" "the fakes")
while IFS='=' read -r key value; do export "$key=$value"; done < <("$CONFORMANCE" webhook-env)

# The agency under test, as a user writes it: the example policy plus a rule whose asks
# expire in a second, the chat model, and the webhook, gateway and monitoring sections.
cat "$ROOT/examples/policy/policy.toml" "$ROOT/examples/policy/quick-expiry.toml" > "$STATE/policy.toml"
{
  printf 'policy = "%s"\n\n[llm]\nbase_url = "http://127.0.0.1:%s/v1"\nmodel = "fake-model"\n\n' "$STATE/policy.toml" "$LLM_PORT"
  "$CONFORMANCE" webhook-config "$FAKES"
  # Decisions kept 45 days instead of 90: the archive check below sees it at the edge.
  printf '\n[retention]\ndecisions_days = 45\n'
} > "$STATE/agency.toml"

echo "[edge] building the Workers"
for w in $WORKERS; do
  (cd "$ROOT/workers/$w" && worker-build --release >"$STATE/build-$w.log" 2>&1) || { cat "$STATE/build-$w.log"; exit 1; }
  raw=$(stat -c %s "$ROOT/workers/$w/build/index_bg.wasm")
  gz=$(gzip -9 -c "$ROOT/workers/$w/build/index_bg.wasm" | wc -c)
  echo "[edge] $w worker wasm: $raw bytes, $gz bytes gzipped"
  if [ "$gz" -ge 1048576 ]; then echo "[edge] $w worker is over 1 MB gzipped"; exit 1; fi
done

# Every generated configuration passes Wrangler's own checks (a dry-run deploy bundles
# the Worker as it would upload it).
"$AGENCY" deploy build --config "$STATE/agency.toml" --env ci --out "$STATE/dry" --prebuilt >/dev/null
for w in $WORKERS; do
  wrangler deploy --dry-run --config "$STATE/dry/$w.jsonc" --outdir "$STATE/dry/out-$w" >"$STATE/dry-$w.log" 2>&1 \
    || { echo "[edge] wrangler deploy --dry-run refused the generated $w.jsonc:"; cat "$STATE/dry-$w.log"; exit 1; }
  gz=$(cat "$STATE/dry/out-$w"/* | gzip -9 | wc -c)
  echo "[edge] $w: the generated configuration passes wrangler deploy --dry-run; the upload is $gz bytes gzipped"
  if [ "$gz" -ge 1048576 ]; then echo "[edge] $w's upload is over 1 MB gzipped"; exit 1; fi
done

# `agency deploy dev` of config $1 as environment $2 on ports $3 (inspector $4), state
# and log under $STATE/$2; waits until it answers, and sets DEV to its PID.
dev() {
  (exec setsid "$AGENCY" deploy dev --config "$1" --env "$2" --port "$3" --inspector-port "$4" \
      --out "$STATE/$2" --persist "$STATE/$2-state" --prebuilt </dev/null >"$STATE/$2.log" 2>&1) &
  DEV=$!
  PIDS+=($DEV)
  for _ in $(seq 1 240); do
    # A path only the agency serves, behind its token, so another process on the port
    # can't pass.
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$3/api/route/decisions" 2>/dev/null || true)
    [ "$code" = 401 ] && return 0
    sleep 1
  done
  echo "[edge] the agency ($2) did not come up; its log:"; cat "$STATE/$2.log"; exit 1
}

# The whole agency in one `wrangler dev` behind the generated front, on one URL.
dev "$STATE/agency.toml" ci "$PORT" "$INSPECT"
URL="http://127.0.0.1:$PORT"
echo "[edge] the five Workers behind one URL, $URL; fakes at $FAKES"

# The monitoring Worker's cron (a probe round) runs every second instead of every
# minute, through the front's POST /internal/cron/monitoring.
setsid bash -c "while true; do curl -s -o /dev/null -X POST -H 'authorization: Bearer $AGENCY_OPERATOR_TOKEN' '$URL/internal/cron/monitoring'; sleep 1; done" </dev/null >/dev/null 2>&1 &
PIDS+=($!)

# Approval cards here come from the assistant Worker's call to the webhooks Worker (its
# WEBHOOKS binding), as they do when deployed: its cron is not triggered.
if ! "$CONFORMANCE" --router "$URL" --graph "$URL" --assistant "$URL" \
    --webhooks "$URL" --fakes "$FAKES" --monitoring "$URL"; then
  echo "[edge] --- wrangler dev's log ---"; tail -100 "$STATE/ci.log"
  exit 1
fi

# The dashboard, served by the monitoring Worker, in headless Chromium (at the edge it
# polls: one snapshot a connection, then it reconnects), with a grant in force to list.
curl -sf -o /dev/null -X POST "$URL/api/grants" -H "authorization: Bearer $AGENCY_OPERATOR_TOKEN" \
  -H 'content-type: application/json' \
  -d '{"agent": "devops", "action": "read", "durationSecs": 3600, "totalCostUsd": 10.0, "by": "ana", "reason": "dashboard check"}'
if ! node "$ROOT/scripts/dashboard-check.mjs" "$URL" "$AGENCY_VIEWER_TOKEN" "$ROOT/target/dashboard" edge; then
  echo "[edge] --- wrangler dev's log ---"; tail -100 "$STATE/ci.log"
  exit 1
fi

# Retention at the edge: old rows written straight into the local D1 databases, the
# router's and assistant's crons run, and what they archived read back out of the
# local R2 bucket with `agency archive read`.
archive_check() {
  local now old kept ancient day aday got
  now=$(python3 -c 'import time; print(int(time.time() * 1000))')
  old=$((now - 50 * 86400000)); kept=$((now - 40 * 86400000)); ancient=$((now - 400 * 86400000))
  d1() { # PART SQL
    wrangler d1 execute DB --local --config "$STATE/ci/$1.jsonc" --persist-to "$STATE/ci-state" \
      --json --command "$2" 2>"$STATE/d1.err" || { cat "$STATE/d1.err" >&2; return 1; }
  }
  d1 router "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json) VALUES
    ('edge-archive-old', $old, 'an old message', 'general', 'codegen', 'keyword', 'v0', '{}'),
    ('edge-archive-kept', $kept, 'a newer message', 'general', 'codegen', 'keyword', 'v0', '{}');
    INSERT INTO feedback (decision_id, correct_agent, created_ms) VALUES ('edge-archive-old', 'pm', $old);" >/dev/null || return 1
  d1 assistant "INSERT INTO audit (seq, created_ms, kind, approval_id, actor, detail_json) VALUES
    (900000001, $ancient, 'decided', 'edge-archive-approval', 'alice', '{}');" >/dev/null || return 1
  for part in router assistant; do
    curl -s -X POST -H "authorization: Bearer $AGENCY_OPERATOR_TOKEN" "$URL/internal/cron/$part" >"$STATE/cron-$part.json"
  done
  python3 - "$STATE/cron-router.json" "$STATE/cron-assistant.json" <<'PY' || return 1
import json, sys
r, a = (json.load(open(p)) for p in sys.argv[1:])
assert r["archived"].get("decisions") == 1, r
assert a["archived"].get("audit") == 1, a
PY
  day=$(python3 -c "import time,sys; print(time.strftime('%Y/%m/%d', time.gmtime($old / 1000)))")
  aday=$(python3 -c "import time,sys; print(time.strftime('%Y/%m/%d', time.gmtime($ancient / 1000)))")
  for key in "decisions/$day/edge-archive-old" "audit/$aday/900000001"; do
    got="$STATE/$(echo "$key" | tr / _).ndjson.gz"
    wrangler r2 object get "agency-archive-ci/archive/$key.ndjson.gz" --local --persist-to "$STATE/ci-state" \
      --file "$got" >"$STATE/r2.log" 2>&1 || { cat "$STATE/r2.log" >&2; return 1; }
    "$AGENCY" archive read "$got" >>"$STATE/archived.ndjson" || return 1
  done
  d1 router "SELECT id FROM decisions WHERE id LIKE 'edge-archive-%'" >"$STATE/left.json" || return 1
  python3 - "$STATE/archived.ndjson" "$STATE/left.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert [r.get("id") or r.get("seq") for r in rows] == ["edge-archive-old", 900000001], rows
assert [f["correct_agent"] for f in rows[0]["feedback"]] == ["pm"], rows[0]
assert rows[1]["approval_id"] == "edge-archive-approval", rows[1]
left = [r["id"] for r in json.load(open(sys.argv[2]))[0]["results"]]
assert left == ["edge-archive-kept"], left
PY
}
# An export of many pages at the edge: 2,500 decisions written straight into the
# router's local D1 (in runs of 700 within one millisecond, so pages end inside ties),
# streamed back whole by GET /api/route/decisions/export, each once and in order.
export_check() {
  local base
  base=$(python3 -c 'import time; print(int(time.time() * 1000) - 10 * 86400000)')
  wrangler d1 execute DB --local --config "$STATE/ci/router.jsonc" --persist-to "$STATE/ci-state" \
    --command "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json)
      WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2499)
      SELECT printf('edge-export-%05d', 2500 - i), $base + i / 700, 'exported', NULL, 'pm', 'match', 'v0', '{}' FROM n" \
    >"$STATE/d1.log" 2>&1 || { cat "$STATE/d1.log" >&2; return 1; }
  curl -sf -H "authorization: Bearer $AGENCY_OPERATOR_TOKEN" \
    "$URL/api/route/decisions/export?from=$(python3 -c "import datetime; print(datetime.datetime.fromtimestamp($base / 1000, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z')")" \
    >"$STATE/export.ndjson" || return 1
  python3 - "$STATE/export.ndjson" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ours = [(r["created_ms"], r["id"]) for r in rows if r["id"].startswith("edge-export-")]
assert len(ours) == 2500, len(ours)
assert ours == sorted(set(ours)), "out of order, or a row twice"
keys = [(r["created_ms"], r["id"]) for r in rows]
assert keys == sorted(keys), "the export is not in (time, id) order"
PY
}
if export_check; then
  echo "edge-only: ok    an export of 2,500 decisions streams from D1 over three pages, each row once, in order"
else
  echo "edge-only: FAIL  a multi-page export at the edge"; tail -50 "$STATE/ci.log"
  exit 1
fi

if archive_check; then
  echo "edge-only: ok    the crons archive rows past [retention] to R2 (a decision with its feedback, an audit entry), delete them, keep the rest; agency archive read reads them back"
else
  echo "edge-only: FAIL  retention at the edge"; tail -50 "$STATE/ci.log"
  exit 1
fi

# No silent example policy: an agency.toml that names none gives an assistant that
# answers approvals 503 policy_missing, naming the variable, and says so in /health.
kill -- "-$DEV" 2>/dev/null; sleep 1; kill -9 -- "-$DEV" 2>/dev/null || true
printf '[monitoring]\ndown_after = 2\n' > "$STATE/bare.toml"
dev "$STATE/bare.toml" bare "$BARE_PORT" "$BARE_INSPECT"
BARE="http://127.0.0.1:$BARE_PORT"
approve=$(curl -s -w '\n%{http_code}' "$BARE/api/approve" -H "authorization: Bearer $AGENCY_GATEWAY_TOKEN" \
  -H 'content-type: application/json' \
  -d @"$ROOT/examples/policy/deploy-request.json")
health=$(curl -s -w '\n%{http_code}' "$BARE/health")
bare_passed=0
if python3 - "$approve" "$health" <<'PY'
import json, sys
body, status = sys.argv[1].rsplit("\n", 1)
assert status == "503", status
e = json.loads(body)["error"]
assert e["code"] == "policy_missing" and "AGENCY_POLICY" in e["message"], e
body, status = sys.argv[2].rsplit("\n", 1)
assert status == "503", status
h = json.loads(body)
assert h["parts"]["assistant"]["error"]["code"] == "policy_missing", h
PY
then
  echo "edge-only: ok    with no policy, approvals answer 503 policy_missing and /health says why"
  bare_passed=1
else
  echo "edge-only: FAIL  an agency with no policy: $approve / $health"
  exit 1
fi
echo "edge-only: $((bare_passed + 2)) passed, 0 failed"
