#!/usr/bin/env bash
# Runs the local server with the example agency: `agency serve --example`, every API on
# http://127.0.0.1:8787, state in ./.agency. Extra arguments go to `agency serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/tools.sh"
ensure_rust_targets
cd "$ROOT"
exec cargo run --release -p agency -- serve --example "$@"
