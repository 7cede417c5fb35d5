#!/usr/bin/env bash
# Instructions per get-session (PostgreSQL, cookie cache off), free of this VM's speed drift:
# callgrind's total for 200 and for 1,200 requests over one keep-alive connection, (diff)/1000.
#   bench/callgrind-get-session.sh target/release/portcullis [ENV=VALUE ...]
# Needs valgrind, python3 and PostgreSQL at 127.0.0.1:5432 (creates and drops database `cg`).
set -euo pipefail
BIN=$1; shift
PG=postgres://postgres@127.0.0.1:5432
run() { local n=$1; shift; local out=${TMPDIR:-/tmp}/cg-out.$$.$n
  psql -X -q $PG/postgres -c "drop database if exists cg with (force)" -c "create database cg" >/dev/null 2>&1
  env "$@" PORTCULLIS_COOKIE_CACHE=false RUST_LOG=warn DATABASE_URL=$PG/cg BETTER_AUTH_SECRET=bench-secret-0123456789abcdefghijklmnopqrstuvwxyz BETTER_AUTH_URL=http://127.0.0.1:4130 \
    valgrind --tool=callgrind --callgrind-out-file=$out $BIN serve --listen 127.0.0.1:4130 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 600); do curl -fs -o /dev/null http://127.0.0.1:4130/api/auth/ok && break; sleep 0.1; done
  python3 - $n <<'PY'
import http.client, json, sys
n=int(sys.argv[1])
c=http.client.HTTPConnection('127.0.0.1',4130)
c.request('POST','/api/auth/sign-up/email',json.dumps({"email":"c@example.com","password":"password1234","name":"C"}),{'content-type':'application/json','origin':'http://127.0.0.1:4130'})
r=c.getresponse(); r.read()
ck=[v for k,v in r.getheaders() if k.lower()=='set-cookie'][0].split(';')[0]
for _ in range(n):
    c.request('GET','/api/auth/get-session',headers={'cookie':ck}); r=c.getresponse(); r.read(); assert r.status==200
PY
  kill -INT $pid; wait $pid || true
  grep -E "^(summary|totals):" $out | head -1 | awk '{print $2}'
  rm -f $out
}
a=$(run 200 "$@"); b=$(run 1200 "$@")
echo "$BIN $*: $(( (b-a)/1000 )) instr/get-session"
