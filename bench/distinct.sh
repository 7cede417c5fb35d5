#!/usr/bin/env bash
# get-session on the database path with many distinct sessions (run.sh's workload (a) sends one
# session from every connection). Signs up N users, then runs wrk at C connections, each request
# carrying the next user's session cookie.
#   bench/distinct.sh BASE_URL [N=256] [C=64] [DURATION=15]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${1:?usage: bench/distinct.sh BASE_URL [N] [C] [DURATION]}"; n="${2:-256}"; c="${3:-64}"; dur="${4:-${DURATION:-15}}"
api="$base/api/auth"; tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
run="$(date +%s)-$$"
for i in $(seq 1 "$n"); do
  curl -sS -D "$tmp/h" -o /dev/null -X POST -H 'content-type: application/json' -H "Origin: $base" \
    --data-raw "{\"email\":\"distinct-$run-$i@bench.example.com\",\"password\":\"bench-password-123!\",\"name\":\"D $i\"}" "$api/sign-up/email"
  grep -i '^set-cookie:' "$tmp/h" | sed -nE 's/^[Ss]et-[Cc]ookie: *([^;]*session_token=[^;]+).*/\1/p' | head -1 >>"$tmp/cookies"
done
[ "$(grep -c . "$tmp/cookies")" = "$n" ] || { echo "only $(grep -c . "$tmp/cookies") of $n sign-ups set a session cookie" >&2; exit 1; }
COOKIES_FILE="$tmp/cookies" wrk -t2 -c"$c" -d3s -s "$here/distinct.lua" "$api/get-session" >/dev/null
COOKIES_FILE="$tmp/cookies" wrk -t2 -c"$c" -d"${dur}s" --timeout 10s -s "$here/distinct.lua" "$api/get-session" | grep '^RESULT' |
  sed "s/^RESULT/get-session distinct sessions=$n c=$c/"
