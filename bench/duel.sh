#!/usr/bin/env bash
# Two servers under the same get-session load at the same time (32 connections each), so the
# VM's speed drift hits both alike: compare their cpu_us/req within one run, and swap the order
# between runs (the first-started server has shown a few per cent of advantage).
#   bench/duel.sh "base /path/to/old/portcullis" "new target/release/portcullis EXTRA_ENV=1"
set -euo pipefail
PG=postgres://postgres@127.0.0.1:5432
W=$(mktemp -d)
cleanup() {
  for i in 1 2; do [ -f "$W/duel$i.pid" ] && kill "$(cat "$W/duel$i.pid")" 2>/dev/null; done
  sleep 0.3
  for i in 1 2; do psql -X -q $PG/postgres -c "drop database if exists duel$i with (force)" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
D=${DURATION:-10}
start() { # idx label bin env...
  local i=$1 label=$2 bin=$3; shift 3
  psql -X -q $PG/postgres -c "drop database if exists duel$i with (force)" -c "create database duel$i" 2>/dev/null >/dev/null
  env "$@" PORTCULLIS_COOKIE_CACHE=false RUST_LOG=warn DATABASE_URL=$PG/duel$i BETTER_AUTH_SECRET=bench-secret-0123456789abcdefghijklmnopqrstuvwxyz BETTER_AUTH_URL=http://127.0.0.1:412$i $bin serve --listen 127.0.0.1:412$i >$W/duel$i.log 2>&1 &
  echo $! > $W/duel$i.pid
  for _ in $(seq 200); do curl -fs -o /dev/null http://127.0.0.1:412$i/api/auth/ok && break; sleep 0.05; done
  curl -s -o /dev/null -c $W/jar$i -H 'content-type: application/json' -H "origin: http://127.0.0.1:412$i" \
    -d '{"email":"d@example.com","password":"password1234","name":"D"}' http://127.0.0.1:412$i/api/auth/sign-up/email
  grep session_token $W/jar$i | awk '{print $6"="$7}' > $W/cookie$i
}
cpu() { awk '{print $14+$15}' /proc/$(cat $W/duel$1.pid)/stat; }
read -ra A <<<"$1"; read -ra B <<<"$2"
start 1 "${A[@]}"; start 2 "${B[@]}"
for i in 1 2; do wrk -t1 -c32 -d2s -H "cookie: $(cat $W/cookie$i)" http://127.0.0.1:412$i/api/auth/get-session >/dev/null; done
c1=$(cpu 1); c2=$(cpu 2)
wrk -t1 -c32 -d${D}s -H "cookie: $(cat $W/cookie1)" http://127.0.0.1:4121/api/auth/get-session > $W/w1 & w1=$!
wrk -t1 -c32 -d${D}s -H "cookie: $(cat $W/cookie2)" http://127.0.0.1:4122/api/auth/get-session > $W/w2 & w2=$!
wait $w1 $w2
c1b=$(cpu 1); c2b=$(cpu 2)
tck=$(getconf CLK_TCK)
labels=("" "${A[0]}" "${B[0]}") ticks=("" $((c1b-c1)) $((c2b-c2)))
for i in 1 2; do
  lab=${labels[$i]} d=${ticks[$i]}
  rps=$(awk '/Requests\/sec/{print $2}' $W/w$i); n=$(awk '/requests in/{print $1}' $W/w$i)
  non2=$(awk '/Non-2xx/{print $NF}' $W/w$i)
  python3 -c "print(f'{\"$lab\":10s} rps {float(\"$rps\"):9.1f}  cpu_us/req {($d/$tck)/int(\"$n\")*1e6:6.1f}  non2xx ${non2:-0}')"
done
