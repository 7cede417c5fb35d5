#!/usr/bin/env bash
# Runs the two JWKS recipes of docs/jwt.md (verify.py, verify.mjs) against a real Portcullis:
# starts the server (jwt on, throwaway SQLite database, spare loopback port), signs a user up, gets
# a JWT from /token, and requires both verifiers to accept it and to refuse a wrong issuer and a
# tampered token. Stops the server it started.
#
# Usage: tests/jwks/run.sh [PORTCULLIS_BINARY]   (default: target/debug/portcullis)
# Needs: curl, node with `npm ci` done in tests/jwks, and a Python with tests/jwks/requirements.txt
# installed (PYTHON=/path/to/venv/bin/python; default python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$here/../../target/debug/portcullis}"
py="${PYTHON:-python3}"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
origin="http://127.0.0.1:$port"
BETTER_AUTH_SECRET="jwks-recipe-secret-0123456789abcdefghij" PORTCULLIS_JWT=true PORTCULLIS_MIGRATE=true \
  DATABASE_URL="sqlite://$work/auth.db?mode=rwc" BETTER_AUTH_URL="$origin" PORTCULLIS_LISTEN="127.0.0.1:$port" \
  "$bin" serve >"$work/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -fs "$origin/api/auth/ok" >/dev/null 2>&1 && break; sleep 0.1; done

curl -fs -c "$work/jar" -H "origin: $origin" -H 'content-type: application/json' \
  -d '{"email":"recipe@example.com","password":"correct-horse-battery","name":"Recipe"}' \
  "$origin/api/auth/sign-up/email" >/dev/null
token="$(curl -fs -b "$work/jar" "$origin/api/auth/token" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).token))')"
jwks="$origin/api/auth/jwks"

fail=0
expect() { # expect ok|fail NAME CMD...
  local want="$1" name="$2"; shift 2
  if "$@" >/dev/null 2>"$work/err"; then got=ok; else got=fail; fi
  if [ "$got" = "$want" ]; then echo "ok - $name"; else echo "not ok - $name (wanted $want)"; cat "$work/err"; fail=1; fi
}
# Flip one character inside the signature (not the last one, whose low bits base64url ignores).
c="${token: -10:1}"; [ "$c" = A ] && r=B || r=A
tampered="${token:0:${#token}-10}$r${token: -9}"
expect ok   "python verifies the token"        "$py" "$here/verify.py" "$jwks" "$token" "$origin"
expect ok   "node verifies the token"          node "$here/verify.mjs" "$jwks" "$token" "$origin"
expect fail "python refuses a wrong issuer"    "$py" "$here/verify.py" "$jwks" "$token" "https://elsewhere.example"
expect fail "node refuses a wrong issuer"      node "$here/verify.mjs" "$jwks" "$token" "https://elsewhere.example"
expect fail "python refuses a tampered token"  "$py" "$here/verify.py" "$jwks" "$tampered" "$origin"
expect fail "node refuses a tampered token"    node "$here/verify.mjs" "$jwks" "$tampered" "$origin"
[ "$fail" = 0 ] && echo "jwks recipes: 6 passed, 0 failed" || { echo "jwks recipes: failed"; exit 1; }
