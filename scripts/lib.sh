# Shared by scripts/dev, scripts/test and scripts/bench: install what is missing, run a
# throwaway or project-local PostgreSQL cluster, build the components and the host.
# Sourced, not run.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN="${PG_BIN:-}"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

apt_install() {
  # apt-get update once per machine boot, then install what is missing.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (Debian packages)"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ ! -f /tmp/.quotekit-apt-updated ]; then $sudo apt-get update -qq && touch /tmp/.quotekit-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_rust_target() {
  command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    log "adding the wasm32-wasip2 Rust target"
    rustup target add wasm32-wasip2
  fi
}

# The style and lint gates: rustfmt.toml's format, and clippy with every warning an error, in
# each configuration the code is built in: the whole workspace natively (there `shared` has its
# `native` feature, for bench/native), the workspace without bench/native (as the unit tests
# build it), and the components as they are deployed (wasm32-wasip2).
check_format() {
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  log "checking the format (cargo fmt --check)"
  (cd "$ROOT" && cargo fmt --check) || {
    echo "cargo fmt --check: the files above are not formatted; run cargo fmt" >&2
    return 1
  }
}

check_lints() {
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  log "checking the lints (cargo clippy -D warnings)"
  local components
  components=$(for f in "$ROOT"/functions/*/; do printf -- '-p %s ' "$(basename "$f")"; done)
  (cd "$ROOT" \
    && cargo clippy --quiet --workspace --all-targets -- -D warnings \
    && cargo clippy --quiet --workspace --exclude bench-native --all-targets -- -D warnings \
    && cargo clippy --quiet --target wasm32-wasip2 $components -p shared -p quotekit -p probe -- -D warnings)
}

ensure_postgres() {
  if [ -z "$PG_BIN" ]; then
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
      apt_install postgresql postgresql-contrib
      found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    PG_BIN="$found"
  fi
  command -v psql >/dev/null || apt_install postgresql-client
}

free_port() {
  command -v python3 >/dev/null || apt_install python3
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# pg_start DIR PORT: initialise (if needed) and start a cluster owned by the current user,
# or by `postgres` when running as root (initdb refuses root).
pg_start() {
  local dir="$1" port="$2" run=()
  ensure_postgres
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$dir" postgres
    chown -R postgres "$dir"
    run=(runuser -u postgres --)
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${run[@]}" "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 128MB
fsync = ${PG_FSYNC:-on}
synchronous_commit = ${PG_SYNC_COMMIT:-on}
CONF
  fi
  if ! "${run[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    "${run[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -o "-p $port" -l "$dir/postgres.log" -w start >/dev/null
  fi
}

# pg_stop DIR: stop the cluster in DIR, if there is one (whether or not this shell started it).
pg_stop() {
  local dir="$1" run=()
  [ -f "$dir/data/PG_VERSION" ] || return 0
  ensure_postgres
  [ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
}

build_components() {
  ensure_rust_target
  log "building the components (wasm32-wasip2, release)"
  (cd "$ROOT" && cargo build --target wasm32-wasip2 --release $(for f in "$ROOT"/functions/*/; do printf -- '-p %s ' "$(basename "$f")"; done) "$@")
}

# The host is built together with the end-to-end test crate: one feature set for both, so the
# test run reuses the host's dependencies (wasmtime above all) instead of building them again.
build_host() {
  log "building the edge host"
  (cd "$ROOT" && cargo build --profile host -p edge -p e2e)
  EDGE="$ROOT/target/host/edge"
}

# venv_install DIR PKG==VERSION...: a virtualenv at DIR (created if needed) holding exactly these
# pinned PyPI packages; returns non-zero, having said why, when pip cannot install them.
venv_install() {
  local venv="$1"; shift
  local installed missing=()
  installed="$("$venv/bin/pip" freeze 2>/dev/null || true)"
  for pkg in "$@"; do grep -qix "$pkg" <<<"$installed" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v python3 >/dev/null || apt_install python3
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; } || return 1
  log "installing ${missing[*]} (PyPI, in ${venv#"$ROOT"/})"
  "$venv/bin/pip" install -q --disable-pip-version-check "${missing[@]}"
}
