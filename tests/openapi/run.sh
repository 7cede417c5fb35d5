#!/usr/bin/env bash
# Fuzzes a Portcullis server with schemathesis, driven by the server's OWN OpenAPI document
# (`[openapi] enabled = true`, served at /api/auth/open-api/generate-schema), and fails when the
# server answers a 5xx, drops a connection, answers a status the document does not list, or answers
# a body that does not fit the document's schema for that status:
#   pass 1 "anon"    every operation, no session;
#   pass 2 "session" the same with the session cookie of a user this script signs up first (the
#                    operations that end that session are left out: sign-out, revoke-session(s),
#                    delete-user, delete-anonymous-user).
# Deterministic (--generation-deterministic, no example database, no cache), one worker, redirects
# not followed.
#
# Usage:
#   tests/openapi/run.sh URL                  a running server (origin or auth base URL) with the
#                                             openapi capability on
#   tests/openapi/run.sh --serve [BINARY]     starts BINARY (default target/debug/portcullis) on a
#                                             throwaway SQLite file with every capability on
#                                             (everything.toml) and PORTCULLIS_OPENAPI=1, then fuzzes
#                                             it, then stops it
# Env:
#   CHECKS        schemathesis checks (default not_a_server_error,status_code_conformance,
#                 response_schema_conformance)
#   MAX_EXAMPLES  examples per operation (default 25)
#   PASSES        "anon session" (default), or one of them
#   OUT           report folder (default: a new /tmp/openapi-own.XXXX): <pass>.log, <pass>.ndjson
#   SCHEMATHESIS  the schemathesis executable (default /tmp/schemathesis-venv/bin/schemathesis,
#                 created with pip from PyPI when missing; tested with 4.x)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -ge 1 ] || { sed -n '2,30p' "$0" >&2; exit 2; }

pid=""; work="$(mktemp -d)"
cleanup() { [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$work"; }
trap cleanup EXIT

if [ "$1" = --serve ]; then
  bin="${2:-$here/../../target/debug/portcullis}"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  url="http://127.0.0.1:$port"
  # Hashing at normal priority: at the default `idle`, a machine saturated by other work (a CI
  # runner building) starves sign-ins past the request timeout.
  BETTER_AUTH_SECRET="openapi-fuzz-secret-0123456789abcdefghij" PORTCULLIS_OPENAPI=1 PORTCULLIS_MIGRATE=true \
    PORTCULLIS_HASHING_PRIORITY=normal \
    DATABASE_URL="sqlite://$work/auth.db?mode=rwc" BETTER_AUTH_URL="$url" PORTCULLIS_LISTEN="127.0.0.1:$port" \
    "$bin" serve --config "$here/everything.toml" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do curl -fs "$url/api/auth/ok" >/dev/null 2>&1 && break; sleep 0.1; done
else
  url="${1%/}"
fi
case "$url" in */api/auth) base="$url" ;; *) base="$url/api/auth" ;; esac
origin="$(printf '%s' "$base" | sed -E 's#^(https?://[^/]+).*#\1#')"
CHECKS="${CHECKS:-not_a_server_error,status_code_conformance,response_schema_conformance}"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
PASSES="${PASSES:-anon session}"
if [ -z "${SCHEMATHESIS:-}" ]; then
  SCHEMATHESIS=/tmp/schemathesis-venv/bin/schemathesis
  if [ ! -x "$SCHEMATHESIS" ]; then
    echo "installing schemathesis from PyPI into /tmp/schemathesis-venv"
    { python3 -m venv /tmp/schemathesis-venv && /tmp/schemathesis-venv/bin/pip install -q schemathesis; } || {
      echo "could not install schemathesis" >&2; exit 2; }
  fi
fi
OUT="${OUT:-$(mktemp -d /tmp/openapi-own.XXXX)}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"

curl -fsS -m 5 -o /dev/null "$base/ok" || { echo "no answer from $base/ok" >&2; [ -n "$pid" ] && cat "$work/server.log" >&2; exit 2; }
doc="$work/openapi.json"
curl -fsS -m 10 -o "$doc" "$base/open-api/generate-schema" || {
  echo "no document at $base/open-api/generate-schema: is [openapi] enabled (PORTCULLIS_OPENAPI=1)?" >&2; exit 2; }
echo "schemathesis $("$SCHEMATHESIS" --version | awk '{print $NF}') against $base, its own document \
($(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(len(v) for v in d["paths"].values()))' "$doc") operations; \
checks: $CHECKS; $MAX_EXAMPLES examples/operation); reports in $OUT"

status=0
for pass in $PASSES; do
  extra=()
  if [ "$pass" = session ]; then
    email="openapi-$(date +%s%N)@example.com"
    cookie="$(curl -sS -m 30 -D - -o /dev/null -H "Origin: $origin" -H 'Content-Type: application/json' \
      --data "{\"name\":\"Schemathesis\",\"email\":\"$email\",\"password\":\"correct-horse-battery-staple\"}" \
      "$base/sign-up/email" | tr -d '\r' | sed -n -E 's/^[Ss]et-[Cc]ookie: ([^=;]*session_token=[^;]*).*/\1/p' | head -1)"
    if [ -z "$cookie" ]; then echo "pass session: sign-up of $email gave no session cookie" >&2; status=1; continue; fi
    extra=(-H "Cookie: $cookie" --exclude-path /sign-out --exclude-path /revoke-session --exclude-path /revoke-sessions
           --exclude-path /delete-user --exclude-path /delete-anonymous-user)
  elif [ "$pass" != anon ]; then
    echo "unknown pass $pass" >&2; exit 2
  fi
  echo "== pass $pass"
  (cd "$work" && timeout 1200 "$SCHEMATHESIS" --config-file "$here/schemathesis.toml" --no-color run "$doc" \
      --url "$base" -H "Origin: $origin" "${extra[@]}" \
      --checks "$CHECKS" --max-examples "$MAX_EXAMPLES" --continue-on-failure --generation-deterministic \
      --workers 1 --max-redirects 0 --request-timeout 30 --output-sanitize false \
      --report ndjson --report-ndjson-path "$OUT/$pass.ndjson" >"$OUT/$pass.log" 2>&1)
  st=$?
  sed -n '/^=* SUMMARY =*$/,$p' "$OUT/$pass.log" | sed 's/^/   /' | head -40
  if [ $st -ne 0 ]; then
    echo "pass $pass: schemathesis exited $st; failures in $OUT/$pass.log" >&2
    sed -n '/^=* FAILURES =*$/,/^=* SUMMARY =*$/p' "$OUT/$pass.log" | head -80 >&2
    status=1
  fi
  curl -fsS -m 5 -o /dev/null "$base/ok" || { echo "pass $pass: $base/ok no longer answers: the server died" >&2; status=1; break; }
  if [ "$pass" = session ]; then
    s="$(curl -sS -m 5 -H "Cookie: $cookie" "$base/get-session")"
    case "$s" in *'"session"'*) ;; *) echo "   note: the session was gone by the end of the pass (get-session: ${s:0:80})" ;; esac
  fi
done
[ $status -eq 0 ] && echo "OK: no 5xx, every status and body as documented" || echo "FAIL (details: $OUT/*.log)"
exit $status
