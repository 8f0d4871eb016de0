#!/usr/bin/env bash
# What a backup costs the server (a benchmark, not a test): `agency serve --example`
# on a database grown to BACKUP_DB_MB, approvals written by wrk at 16 connections, once
# alone and once while `agency backup` copies the database; prints the backup's time
# and size, and each run's throughput and write latency (p50, p99), the second against
# the first.
#
#   BACKUP_DB_MB   the database's size before the runs (default 1024)
#   LOAD_SECONDS   seconds per run (default 20; the backup starts 2 s into its run)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIZE_MB="${BACKUP_DB_MB:-1024}"
SECONDS_PER="${LOAD_SECONDS:-20}"
if ! command -v wrk >/dev/null; then
  echo "[backup-load] installing wrk (Debian package)" >&2
  sudo -n apt-get install -y wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null
fi
cargo build --release -p agency >&2
AGENCY="$ROOT/target/release/agency"

WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

TOKEN=gw-token-0123456789abcdef
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start() {
  AGENCY_LOG=warn AGENCY_GATEWAY_TOKEN=$TOKEN "$AGENCY" serve --example --data "$WORK/data" \
    --addr "127.0.0.1:$PORT" >>"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && return; sleep 0.1; done
  echo "[backup-load] the server did not start"; tail -20 "$WORK/server.log"; exit 1
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

start; stop
echo "[backup-load] growing the database to ${SIZE_MB} MB"
python3 - "$WORK/data/agency.db" "$SIZE_MB" <<'PY'
import sqlite3, sys
db, mb = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.execute("CREATE TABLE IF NOT EXISTS load_filler (x BLOB)")
c.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
          "INSERT INTO load_filler SELECT randomblob(1000) FROM n", (mb * 1024,))
c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
PY
start
echo "[backup-load] agency serve on 127.0.0.1:$PORT ($(nproc) cores), database $(du -m "$WORK/data/agency.db" | cut -f1) MB, ${SECONDS_PER}s per run, wrk -t2 -c16"
load() { # run-name
  TOKEN=$TOKEN RUN="$1" wrk -t2 -c16 -d"${SECONDS_PER}s" --timeout 10s \
    -s "$ROOT/scripts/load/approve.lua" "http://127.0.0.1:$PORT" | tail -1
}
alone=$(load alone)
load during >"$WORK/during" &
WRK=$!
sleep 2
backup_out=$("$AGENCY" backup --out "$WORK/backup.db" --data "$WORK/data")
wait "$WRK"
during=$(cat "$WORK/during")
stop
python3 - "$alone" "$during" "$backup_out" <<'PY'
import json, sys
a, d, b = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(f"[backup-load] {b.strip()}")
for name, r in (("alone", a), ("during backup", d)):
    print(f"[backup-load] approvals {name:<14} {r['requests'] / r['seconds']:8.0f} requests/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  non-2xx {r['non2xx']}  errors {r['errors']}")
print(f"[backup-load] during the backup: throughput {d['requests'] / d['seconds'] / (a['requests'] / a['seconds']):.2f}x, p99 {d['p99_ms'] / a['p99_ms']:.2f}x of the run alone")
PY
