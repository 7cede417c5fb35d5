#!/usr/bin/env bash
# Portcullis and the Better Auth peer, side by side, in one run on this machine.
#
#   bench/compare.sh                 every configuration below, 15 s per workload
#   CONFIGS="pc-db peer-db" bench/compare.sh
#   DURATION=5 bench/compare.sh      a quick look
#
# Configurations (both servers on PostgreSQL 127.0.0.1:5432, each on a fresh database):
#   peer-db / peer-cc     Better Auth 1.7.24 (../shared/peer), cookie cache off / on (maxAge 300),
#                         JWT_HEADER=off so neither server signs a JWT per get-session
#   peer-redis            the peer with Redis secondary storage (cookie cache off)
#   pc-db / pc-cc         Portcullis (release build), cookie cache off / on (max_age 300)
#   pc-normal             pc-db with password_hashing.priority = "normal" (mixed workload only)
#   pc-redis              Portcullis with Redis secondary storage, sessions also in PostgreSQL
#   peer-jwt / pc-jwt     the jwt plugin on: every get-session answer carries a freshly signed
#                         `set-auth-jwt` (EdDSA), the peer's default configuration
#   pc-base               pc-db run with BASE_BIN, a portcullis binary built from an earlier commit
#                         (workloads WORKLOADS_BASE, default "a c"): a change's before/after in one
#                         run, e.g. CONFIGS="pc-base pc-db pc-base pc-db" (interleaved against drift)
#   pc-flood              the mixed workload with 256 sign-in connections against a hashing queue of
#                         16 (password_hashing.max_queue): get-session while sign-ins are refused
#                         with 503 SERVER_BUSY (not in the default CONFIGS)
# The db configurations run every workload; the others only the ones they change (WORKLOADS_*).
# Each runs ../shared/peer/bench/run.sh (get-session DB path, get-session cookie-cache path,
# sign-in, sign-up, get-session while sign-ins run), then bench/coldstart.sh for both servers
# (COLDSTART=0 skips it). The db configurations also run bench/distinct.sh (get-session with 256
# distinct sessions instead of run.sh's one; DISTINCT=0 skips it). Right before and right after
# pc-db's sign-in workload, `portcullis hash-time` times argon2 on this machine, one hash alone and
# the workers hashing side by side, for the sign-in bound (cores / hash time) of that very minute:
# this VM's speed drifts by 15-30 % over tens of minutes, so a bound timed elsewhere in the run
# does not describe the sign-in figure.
# Results: bench/results/*.jsonl (+ hash-time.log) and the tables on stdout;
# `bench/table.py RESULTS_DIR` turns them into BENCHMARKS.md's side-by-side table and sign-in bound.
#
# Everything it starts it stops (trap), and it drops the databases it created.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer="${PEER_DIR:-$root/../shared/peer}"
[ -x "$peer/bench/run.sh" ] || { echo "no Better Auth peer at $peer (../shared/peer)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
CONFIGS="${CONFIGS:-peer-db pc-db pc-normal peer-cc pc-cc peer-redis pc-redis peer-jwt pc-jwt}"
W_ALL="${WORKLOADS_ALL:-a b c d e}" W_CC="${WORKLOADS_CC:-a b}" W_REDIS="${WORKLOADS_REDIS:-a c e}" W_JWT="${WORKLOADS_JWT:-a}"
export DURATION="${DURATION:-15}" RESULTS_DIR="${RESULTS_DIR:-$root/bench/results}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}"
SECRET="bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
PORT_PEER=4110 PORT_PC=4111
mkdir -p "$RESULTS_DIR"
work="$(mktemp -d)"
pids=() dbs=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  for d in "${dbs[@]:-}"; do [ -n "$d" ] && psql -X -q "$PG_ADMIN" -c "drop database if exists \"$d\" with (force)" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fresh_db() { # name -> sets $url (not in a subshell, so cleanup knows the database)
  psql -X -q "$PG_ADMIN" -c "drop database if exists \"$1\" with (force)" -c "create database \"$1\"" >/dev/null
  dbs+=("$1")
  url="${PG_ADMIN%/*}/$1"
}
wait_ok() { for _ in $(seq 1 600); do curl -fs -o /dev/null "$1/api/auth/ok" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }
stop_pid() { kill -TERM "$1" 2>/dev/null || true; for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -KILL "$1" 2>/dev/null || true; }

echo "# building the release binary" >&2
(cd "$root" && cargo build --release -q -p portcullis-cli)
bin="$root/target/release/portcullis"
(cd "$peer" && [ -d node_modules/better-auth ] || npm ci --no-audit --no-fund >/dev/null)

distinct() { # base, label: get-session with 256 distinct sessions (db configurations only)
  case "$2" in *-db) ;; *) return 0 ;; esac
  [ "${DISTINCT:-1}" = 1 ] || return 0
  echo "== $2: get-session, 256 distinct sessions" >&2
  "$root/bench/distinct.sh" "$1" 256 64 "$DURATION" | sed "s/^/$2 /" | tee -a "$RESULTS_DIR/distinct.log" || true
}
run_peer() { # label, env...
  local label=$1; shift
  local url; fresh_db bench_peer
  (cd "$peer" && DATABASE_URL="$url" PASSKEY=on node migrate.mjs >/dev/null)
  (cd "$peer" && exec env "$@" PORT=$PORT_PEER DATABASE_URL="$url" BETTER_AUTH_SECRET="$SECRET" OUTBOX="$work/outbox.jsonl" \
    NODE_ENV=production node server.mjs >"$work/peer.log" 2>&1) &
  local pid=$!; pids+=("$pid"); echo "$pid" >"$work/pid"
  wait_ok "http://127.0.0.1:$PORT_PEER"
  "$peer/bench/run.sh" "http://127.0.0.1:$PORT_PEER" "$label" "$work/pid" || true
  distinct "http://127.0.0.1:$PORT_PEER" "$label"
  stop_pid "$pid"
}
hash_time() { # the sign-in bound (cores / hash time) on this machine, now: one hash alone, and the workers side by side
  echo "== hash time ($1)" >&2
  { echo "# $1 $(date -u +%FT%TZ)"
    BETTER_AUTH_SECRET="$SECRET" RUST_LOG=warn "$bin" hash-time --count 30
    BETTER_AUTH_SECRET="$SECRET" RUST_LOG=warn "$bin" hash-time --count 15 --concurrent; } | tee -a "$RESULTS_DIR/hash-time.log"
}
run_pc() { # label, env...; WORKLOADS: groups of run.sh workloads separated by '|', a group "hash" runs hash_time
  local label=$1; shift
  local url; fresh_db bench_pc
  env "$@" RUST_LOG=warn DATABASE_URL="$url" BETTER_AUTH_SECRET="$SECRET" BETTER_AUTH_URL="http://127.0.0.1:$PORT_PC" \
    "${PC_BIN:-$bin}" serve --listen "127.0.0.1:$PORT_PC" >"$work/pc.log" 2>&1 &
  local pid=$!; pids+=("$pid"); echo "$pid" >"$work/pid"
  wait_ok "http://127.0.0.1:$PORT_PC"
  local groups g; IFS='|' read -ra groups <<<"$WORKLOADS"
  for g in "${groups[@]}"; do
    if [ "$g" = hash ]; then hash_time "$label, next to its sign-in workload"
    else WORKLOADS="$g" "$peer/bench/run.sh" "http://127.0.0.1:$PORT_PC" "$label" "$work/pid" || true; fi
  done
  distinct "http://127.0.0.1:$PORT_PC" "$label"
  stop_pid "$pid"
}

for c in $CONFIGS; do
  case "$c" in
    peer-db) WORKLOADS="$W_ALL" run_peer peer-db COOKIE_CACHE=off JWT_HEADER=off ;;
    peer-cc) WORKLOADS="$W_CC" run_peer peer-cc COOKIE_CACHE=on JWT_HEADER=off ;;
    peer-redis) WORKLOADS="$W_REDIS" run_peer peer-redis COOKIE_CACHE=off JWT_HEADER=off SECONDARY=redis ;;
    peer-jwt) WORKLOADS="$W_JWT" run_peer peer-jwt COOKIE_CACHE=off JWT_HEADER=on ;;
    pc-db) WORKLOADS="${W_ALL/ c/|hash|c|hash|}" run_pc pc-db PORTCULLIS_COOKIE_CACHE=false ;;
    pc-normal) WORKLOADS="${WORKLOADS_NORMAL:-e}" run_pc pc-normal PORTCULLIS_COOKIE_CACHE=false PORTCULLIS_HASHING_PRIORITY=normal ;;
    pc-cc) WORKLOADS="$W_CC" run_pc pc-cc PORTCULLIS_COOKIE_CACHE=true ;;
    pc-redis) WORKLOADS="$W_REDIS" run_pc pc-redis PORTCULLIS_COOKIE_CACHE=false REDIS_URL=redis://127.0.0.1:6379 PORTCULLIS_STORE_SESSION_IN_DATABASE=true ;;
    pc-jwt) WORKLOADS="$W_JWT" run_pc pc-jwt PORTCULLIS_COOKIE_CACHE=false PORTCULLIS_JWT=true ;;
    pc-base)
      [ -x "${BASE_BIN:-}" ] || { echo "pc-base needs BASE_BIN=<portcullis binary of the base commit>" >&2; exit 2; }
      PC_BIN="$BASE_BIN" WORKLOADS="${WORKLOADS_BASE:-a c}" run_pc pc-base PORTCULLIS_COOKIE_CACHE=false ;;
    pc-flood)
      printf '[password_hashing]\nmax_queue = 16\n' >"$work/flood.toml"
      C_SIGNIN=256 WORKLOADS=e run_pc pc-flood PORTCULLIS_COOKIE_CACHE=false PORTCULLIS_CONFIG="$work/flood.toml" ;;
    *) echo "unknown configuration $c" >&2; exit 2 ;;
  esac
done

if [ "${COLDSTART:-1}" = 1 ]; then
  fresh_db bench_cold
  (cd "$peer" && DATABASE_URL="$url" PASSKEY=on node migrate.mjs >/dev/null)
  echo "== cold start and idle RSS: Better Auth peer" >&2
  (cd "$peer" && PORT=$PORT_PEER DATABASE_URL="$url" BETTER_AUTH_SECRET="$SECRET" NODE_ENV=production JWT_HEADER=off \
    bench/coldstart.sh "http://127.0.0.1:$PORT_PEER" 7 -- node server.mjs) | tail -1
  echo "== cold start and idle RSS: Portcullis (schema already migrated)" >&2
  DATABASE_URL="$url" BETTER_AUTH_SECRET="$SECRET" RUST_LOG=warn "$bin" migrate >/dev/null
  DATABASE_URL="$url" BETTER_AUTH_SECRET="$SECRET" RUST_LOG=warn PORTCULLIS_MIGRATE=false \
    "$peer/bench/coldstart.sh" "http://127.0.0.1:$PORT_PC" 7 -- "$bin" serve --listen "127.0.0.1:$PORT_PC" | tail -1
fi
