#!/usr/bin/env bash
# Social sign-in driven by the real better-auth client against a running Portcullis and a local
# fake OIDC provider. Builds nothing.
#
#   PORTCULLIS_BIN=target/release/portcullis tests/client-social/run.sh
#
# Environment:
#   PORTCULLIS_BIN  the portcullis server binary (required)
#   DATABASE_URL    database to use (default: a fresh SQLite file in a temp directory); the schema
#                   is created on start
#   KEEP_LOGS=1     keep the temp directory (server and IdP logs, config) after the run
#
# Starts fake-idp.mjs on a free port, writes a TOML config with the provider `fake` (type oidc,
# discovery, PKCE), starts `portcullis serve` on another free port with BETTER_AUTH_URL set, runs
# `node --test` on the *.test.mjs files here, and always stops both processes (trap EXIT).
# Installs node_modules with `npm ci` when they are missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${PORTCULLIS_BIN:?set PORTCULLIS_BIN to the portcullis server binary}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
[ -x "$bin" ] || { echo "run.sh: PORTCULLIS_BIN=$bin is not executable" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-client-social.XXXXXX")"
idp_pid=""
server_pid=""

stop() { # pid
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop "$server_pid"
  stop "$idp_pid"
  if [ "$rc" -ne 0 ]; then
    echo "--- server log ($work/server.log), last lines:" >&2
    tail -n 40 "$work/server.log" 2>/dev/null >&2 || true
  fi
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$here"
[ -d node_modules/better-auth ] || npm ci --no-audit --no-fund --loglevel=error

# The fake IdP picks a free port and prints its URL first.
node fake-idp.mjs >"$work/idp.log" 2>&1 &
idp_pid=$!
idp_url=""
for _ in $(seq 1 100); do
  idp_url="$(head -n 1 "$work/idp.log" 2>/dev/null || true)"
  case "$idp_url" in http://*) break ;; esac
  kill -0 "$idp_pid" 2>/dev/null || { cat "$work/idp.log" >&2; echo "run.sh: the fake IdP did not start" >&2; exit 1; }
  sleep 0.1
done
case "$idp_url" in http://*) ;; *) echo "run.sh: the fake IdP printed no URL" >&2; exit 1 ;; esac

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base_url="http://127.0.0.1:$port"
db_url="${DATABASE_URL:-sqlite://$work/portcullis.db?mode=rwc}"

cat >"$work/portcullis.toml" <<EOF
[social.providers.fake]
type = "oidc"
client_id = "social-test-client"
client_secret = "social-test-secret"
discovery_url = "$idp_url/.well-known/openid-configuration"
pkce = true
scopes = ["openid", "email", "profile"]
EOF

# A clean environment for the server: nothing from the caller's shell decides its mode.
env -u NODE_ENV -u PORTCULLIS_PRODUCTION -u PORT -u PORTCULLIS_LISTEN -u DATABASE_URL \
  -u PORTCULLIS_CONFIG -u BETTER_AUTH_SECRETS -u AUTH_SECRET -u BETTER_AUTH_TRUSTED_ORIGINS \
  BETTER_AUTH_URL="$base_url" BETTER_AUTH_SECRET="client-social-test-secret-0123456789abcdef" \
  "$bin" serve -c "$work/portcullis.toml" --listen "127.0.0.1:$port" --database-url "$db_url" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  curl -fsS -o /dev/null --max-time 2 "$base_url/api/auth/ok" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "run.sh: portcullis exited on start" >&2; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null --max-time 2 "$base_url/api/auth/ok" || { echo "run.sh: portcullis is not answering" >&2; exit 1; }
echo "fake IdP $idp_url, portcullis $base_url ($db_url)"

BASE_URL="$base_url" IDP_URL="$idp_url" node --test --test-concurrency=1 ./*.test.mjs
