#!/usr/bin/env bash
# Runs the HTTP conformance suite against the five Workers (router, skill-graph,
# assistant, webhooks, monitoring) under `wrangler dev` (real workerd, local D1, KV,
# Durable Objects and Queues), then stops them by PID.
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
  for w in $WORKERS; do rm -f "$ROOT/workers/$w/.dev.vars"; done
  rm -rf "$STATE"
}
WORKERS="skill-graph router assistant webhooks monitoring"
trap cleanup EXIT

# Eleven distinct free ports at once (sockets held open until all are chosen, so no two
# calls can return the same port): each Worker and its inspector, and the fake model.
read -r SG_PORT SG_INSPECT R_PORT R_INSPECT A_PORT A_INSPECT LLM_PORT W_PORT W_INSPECT M_PORT M_INSPECT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(11)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()')
token() { python3 -c 'import secrets; print("agt_" + secrets.token_hex(16))'; }
export AGENCY_GATEWAY_TOKEN="$(token)" AGENCY_OPERATOR_TOKEN="$(token)" AGENCY_VIEWER_TOKEN="$(token)"
for w in $WORKERS; do
  printf 'AGENCY_GATEWAY_TOKEN=%s\nAGENCY_OPERATOR_TOKEN=%s\nAGENCY_VIEWER_TOKEN=%s\n' \
    "$AGENCY_GATEWAY_TOKEN" "$AGENCY_OPERATOR_TOKEN" "$AGENCY_VIEWER_TOKEN" > "$ROOT/workers/$w/.dev.vars"
done

# The assistant's free-text chat goes to a local stand-in for a chat-completions API.
printf 'AGENCY_LLM_BASE_URL=http://127.0.0.1:%s/v1\nAGENCY_LLM_MODEL=fake-model\nAGENCY_LLM_API_KEY=fake-key\n' "$LLM_PORT" \
  >> "$ROOT/workers/assistant/.dev.vars"
setsid python3 "$ROOT/scripts/fake-chat-model.py" "$LLM_PORT" </dev/null >/dev/null 2>&1 &
PIDS+=($!)
export AGENCY_CONFORMANCE_FAKE_MODEL=1 AGENCY_CONFORMANCE_QUICK_EXPIRY=1

# The webhook checks need the fake gateway and platform APIs, and the webhooks Worker
# configured for them (its secrets in .dev.vars, its sections in AGENCY_WEBHOOKS).
CONFORMANCE="${CONFORMANCE_BIN:-$ROOT/target/release/agency-conformance}"
setsid "$CONFORMANCE" fakes </dev/null >"$STATE/fakes.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
  FAKES=$(sed -n 's/^fakes: //p' "$STATE/fakes.log")
  [ -n "$FAKES" ] && break
  sleep 0.1
done
[ -n "$FAKES" ] || { echo "[edge] the fakes did not start"; cat "$STATE/fakes.log"; exit 1; }
"$CONFORMANCE" webhook-env >> "$ROOT/workers/webhooks/.dev.vars"
WEBHOOKS_CONFIG="$("$CONFORMANCE" webhook-config "$FAKES")"

echo "[edge] building the Workers"
for w in $WORKERS; do
  (cd "$ROOT/workers/$w" && worker-build --release >"$STATE/build-$w.log" 2>&1) || { cat "$STATE/build-$w.log"; exit 1; }
  raw=$(stat -c %s "$ROOT/workers/$w/build/index_bg.wasm")
  gz=$(gzip -9 -c "$ROOT/workers/$w/build/index_bg.wasm" | wc -c)
  echo "[edge] $w worker wasm: $raw bytes, $gz bytes gzipped"
  if [ "$gz" -ge 1048576 ]; then echo "[edge] $w worker is over 1 MB gzipped"; exit 1; fi
done

export WRANGLER_REGISTRY_PATH="$STATE/registry"
start() { # name port inspector-port
  local w=$1 port=$2 insp=$3
  (cd "$ROOT/workers/$w" && wrangler d1 migrations apply DB --local --persist-to "$STATE/$w" >"$STATE/migrate-$w.log" 2>&1) \
    || { cat "$STATE/migrate-$w.log"; exit 1; }
  local extra=()
  # The assistant runs the example policy plus a rule whose asks expire in a second.
  [ "$w" = assistant ] && extra=(--var "AGENCY_POLICY:$(cat "$ROOT/examples/policy/policy.toml" "$ROOT/examples/policy/quick-expiry.toml")")
  [ "$w" = webhooks ] && extra=(--var "AGENCY_WEBHOOKS:$WEBHOOKS_CONFIG")
  # The monitoring Worker reads [monitoring] and the gateway's health URLs from the same
  # text; --test-scheduled lets the loop below stand in for its cron.
  [ "$w" = monitoring ] && extra=(--test-scheduled --var "AGENCY_MONITORING:$WEBHOOKS_CONFIG")
  (cd "$ROOT/workers/$w" && exec setsid wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$insp" \
      --persist-to "$STATE/$w" --show-interactive-dev-session=false --log-level warn ${extra[@]+"${extra[@]}"} \
      </dev/null >"$STATE/dev-$w.log" 2>&1) &
  PIDS+=($!)
}
wait_up() { # name url
  # Probe a path only this worker serves, so another process on the port can't pass.
  local probe="/api/graph"
  [ "$1" = router ] && probe="/api/route/decisions"
  [ "$1" = assistant ] && probe="/api/approvals"
  [ "$1" = webhooks ] && probe="/api/events"
  [ "$1" = monitoring ] && probe="/api/stats"
  for _ in $(seq 1 240); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$2$probe" 2>/dev/null || true)
    if [ "$code" = 401 ]; then return 0; fi
    sleep 1
  done
  echo "[edge] $1 did not come up; its log:"; cat "$STATE/dev-$1.log"; exit 1
}

start skill-graph "$SG_PORT" "$SG_INSPECT"
wait_up skill-graph "http://127.0.0.1:$SG_PORT"
start router "$R_PORT" "$R_INSPECT"
wait_up router "http://127.0.0.1:$R_PORT"
start assistant "$A_PORT" "$A_INSPECT"
wait_up assistant "http://127.0.0.1:$A_PORT"
start webhooks "$W_PORT" "$W_INSPECT"
wait_up webhooks "http://127.0.0.1:$W_PORT"
start monitoring "$M_PORT" "$M_INSPECT"
wait_up monitoring "http://127.0.0.1:$M_PORT"
echo "[edge] skill-graph on $SG_PORT, router on $R_PORT, assistant on $A_PORT, webhooks on $W_PORT, monitoring on $M_PORT, fakes at $FAKES"

# wrangler dev runs no crons: the monitoring Worker's scheduled handler (a probe round)
# is triggered through its /__scheduled route every second instead of every minute.
setsid bash -c "while true; do curl -s -o /dev/null 'http://127.0.0.1:$M_PORT/__scheduled?cron=*+*+*+*+*'; sleep 1; done" </dev/null >/dev/null 2>&1 &
PIDS+=($!)

# Approval cards here come from the assistant Worker's call to the webhooks Worker (its
# WEBHOOKS binding), as they do when deployed: its cron is not triggered.
if ! "$CONFORMANCE" --router "http://127.0.0.1:$R_PORT" \
    --graph "http://127.0.0.1:$SG_PORT" --assistant "http://127.0.0.1:$A_PORT" \
    --webhooks "http://127.0.0.1:$W_PORT" --fakes "$FAKES" \
    --monitoring "http://127.0.0.1:$M_PORT"; then
  for w in $WORKERS; do
    echo "[edge] --- $w log ---"; tail -50 "$STATE/dev-$w.log"
  done
  exit 1
fi

# The dashboard, served by the monitoring Worker, in headless Chromium (at the edge it
# polls: one snapshot a connection, then it reconnects).
if ! node "$ROOT/scripts/dashboard-check.mjs" "http://127.0.0.1:$M_PORT" "$AGENCY_VIEWER_TOKEN" "$ROOT/target/dashboard" edge; then
  echo "[edge] --- monitoring log ---"; tail -50 "$STATE/dev-monitoring.log"
  exit 1
fi
