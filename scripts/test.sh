#!/usr/bin/env bash
# The whole test suite, as CI runs it: format, unused dependencies, lints (host and wasm
# crates), unit and integration tests (real SQLite, real wasmtime, the conformance suite
# against `agency serve`, the dashboard in headless Chromium), the benchmarks compiled,
# schemathesis against `agency serve` (the OpenAPI document must hold), and the
# conformance suite against the Workers under `wrangler dev`. Installs what it needs
# (idempotent, cached outside the repository in $AGENCY_TOOLS).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/tools.sh"
ensure_rust_targets
ensure_worker_tools
ensure_promtool
ensure_browser
ensure_machete

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "unused dependencies (cargo-machete)"
cargo-machete

step "clippy (host crates)"
cargo clippy --release --all-targets -- -D warnings
step "clippy (wasm crates: guests and Workers)"
# The wasm crates are the workspace members a plain build skips (not default-members):
# Cargo.toml lists them once.
wasm_crates=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
m = json.load(sys.stdin)
default = set(m["workspace_default_members"])
names = {p["id"]: p["name"] for p in m["packages"]}
print(" ".join("-p " + names[i] for i in m["workspace_members"] if i not in default))')
# shellcheck disable=SC2086
cargo clippy --release --target wasm32-unknown-unknown $wasm_crates -- -D warnings

step "benchmarks compile"
# The default members, as `cargo test` below selects them: one feature set, so the
# tests reuse what this compiles (`-p agency-bench` resolved other features and built
# wasmtime a second time).
cargo bench --benches --no-run

step "conformance runner"
cargo build --release -p agency-conformance

step "tests (core crates, components under wasmtime, local server and CLI)"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
set +e
cargo test "${AGENCY_CARGO_TARGETS[@]}" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || { echo "cargo test failed"; exit "$status"; }
read -r unit_passed unit_failed < <(awk '/^test result:/ {p+=$4; f+=$6} END {print p+0, f+0}' FS='[ ;]+' "$LOG")

step "schemathesis: the OpenAPI document against agency serve"
"$ROOT/scripts/schemathesis.sh" | tee "$LOG"
read -r st_passed st_failed < <(sed -n 's/^schemathesis: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG")

step "edge: conformance suite against the Workers under wrangler dev"
CONFORMANCE_BIN="$ROOT/target/release/agency-conformance" "$ROOT/scripts/edge-conformance.sh" | tee "$LOG"
read -r edge_passed edge_failed < <(sed -n 's/^conformance: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG")
read -r dash_passed dash_failed < <(sed -n 's/^dashboard: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG")
read -r only_passed only_failed < <(sed -n 's/^edge-only: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG")
edge_passed=$((edge_passed + ${dash_passed:-0} + ${only_passed:-0})); edge_failed=$((edge_failed + ${dash_failed:-0} + ${only_failed:-0}))

step "deploy: agency deploy against a local stand-in for the Cloudflare API, with the real Wrangler"
"$ROOT/scripts/deploy-check.sh" | tee "$LOG"
read -r dep_passed dep_failed < <(sed -n 's/^deploy: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG")
[ "${dep_failed:-1}" = 0 ] || { echo "deploy checks failed"; exit 1; }
edge_passed=$((edge_passed + dep_passed)); edge_failed=$((edge_failed + dep_failed))

echo
echo "cargo tests: $unit_passed passed, $unit_failed failed; schemathesis operations: $st_passed passed, $st_failed failed; edge conformance, dashboard and deploy checks: $edge_passed passed, $edge_failed failed"
echo "summary: $((unit_passed + st_passed + edge_passed)) passed, $((unit_failed + st_failed + edge_failed)) failed"
