# Sourced by the other scripts: installs (once, into a cache outside the repository) and
# puts on PATH everything the build and tests need beyond cargo. Idempotent.
#   AGENCY_TOOLS   cache directory (default: $XDG_CACHE_HOME/agency-tools or ~/.cache/agency-tools)
set -euo pipefail

AGENCY_TOOLS="${AGENCY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/agency-tools}"
WASM_BINDGEN_VERSION=0.2.130   # must equal wasm-bindgen in Cargo.lock
WORKER_BUILD_VERSION=0.8.7
WRANGLER_VERSION=4.86.0        # the last wrangler that runs on Node 20
mkdir -p "$AGENCY_TOOLS"

log() { printf '[tools] %s\n' "$*" >&2; }

# What `cargo test` builds in test.sh. serve.sh builds the server with the same targets
# so that cargo resolves the same features (dev-dependencies included) and, after the
# tests, compiles nothing again; `cargo run -p agency` alone would rebuild about a third
# of the dependency tree with other features.
AGENCY_CARGO_TARGETS=(--release --lib --bins --tests)

ensure_rust_targets() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown >&2
  fi
}

ensure_worker_tools() {
  local bin="$AGENCY_TOOLS/bin"
  if ! "$bin/wasm-bindgen" --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION into $AGENCY_TOOLS (takes minutes, once)"
    cargo install --quiet --root "$AGENCY_TOOLS" wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" >&2
  fi
  if ! "$bin/worker-build" --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
    log "installing worker-build $WORKER_BUILD_VERSION into $AGENCY_TOOLS (takes minutes, once)"
    cargo install --quiet --root "$AGENCY_TOOLS" worker-build --version "$WORKER_BUILD_VERSION" >&2
  fi
  local npm_dir="$AGENCY_TOOLS/npm"
  if ! [ -x "$npm_dir/node_modules/.bin/wrangler" ] || ! grep -q "\"version\": \"$WRANGLER_VERSION\"" "$npm_dir/node_modules/wrangler/package.json" 2>/dev/null; then
    log "installing wrangler $WRANGLER_VERSION into $npm_dir"
    mkdir -p "$npm_dir"
    (cd "$npm_dir" && npm install --silent --no-audit --no-fund "wrangler@$WRANGLER_VERSION" >&2)
  fi
  export PATH="$bin:$npm_dir/node_modules/.bin:$PATH"
  export WASM_BINDGEN_BIN="$bin/wasm-bindgen"
  export ESBUILD_BIN="$npm_dir/node_modules/@esbuild/linux-x64/bin/esbuild"
  export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
  export CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV=false
}

CARGO_MACHETE_VERSION=0.9.2

# cargo-machete: the test command fails on a dependency no crate uses.
ensure_machete() {
  local bin="$AGENCY_TOOLS/bin"
  if ! "$bin/cargo-machete" --version 2>/dev/null | grep -q "$CARGO_MACHETE_VERSION"; then
    log "installing cargo-machete $CARGO_MACHETE_VERSION into $AGENCY_TOOLS"
    cargo install --quiet --locked --root "$AGENCY_TOOLS" cargo-machete --version "$CARGO_MACHETE_VERSION" >&2
  fi
  export PATH="$bin:$PATH"
}

# promtool (Debian's prometheus package): the tests check the Prometheus exposition
# with `promtool check metrics`.
ensure_promtool() {
  command -v promtool >/dev/null && return 0
  log "installing Debian's prometheus package (for promtool)"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >&2; }
  command -v promtool >/dev/null || { log "promtool is still missing"; return 1; }
}

PLAYWRIGHT_VERSION=1.65.1

# Headless Chromium for the dashboard's tests: Debian's chromium package, driven by
# playwright-core (npm, into $AGENCY_TOOLS/npm beside wrangler) over the DevTools
# protocol.
ensure_browser() {
  if ! [ -x /usr/bin/chromium ]; then
    log "installing Debian's chromium package (for the dashboard's tests)"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo -n)
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2; }
    [ -x /usr/bin/chromium ] || { log "chromium is still missing"; return 1; }
  fi
  local npm_dir="$AGENCY_TOOLS/npm"
  if ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$npm_dir/node_modules/playwright-core/package.json" 2>/dev/null; then
    log "installing playwright-core $PLAYWRIGHT_VERSION into $npm_dir"
    mkdir -p "$npm_dir"
    (cd "$npm_dir" && npm install --silent --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" >&2)
  fi
  export AGENCY_TOOLS
}

SCHEMATHESIS_VERSION=4.32.5

# schemathesis (API fuzzing from the OpenAPI document) in a virtualenv under
# $AGENCY_TOOLS/venv; sets SCHEMATHESIS to its command.
ensure_schemathesis() {
  local venv="$AGENCY_TOOLS/venv"
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
  fi
  export SCHEMATHESIS="$venv/bin/schemathesis"
}
