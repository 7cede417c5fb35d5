#!/usr/bin/env bash
# Cost as data grows: the same measurements on a small database and on a large one, one run.
#
#   bench/datascale.sh                    # 10k users / 20k sessions, then 1M users / 2M sessions
#   SMALL=10000 LARGE=1000000 bench/datascale.sh
#
# Seeds a fresh PostgreSQL database (created and dropped here) with SQL (generate_series): users with
# a credential account (all share one real argon2 hash, made by one sign-up through the server),
# twice as many sessions as users, organizations of 100 members. Then, at each size, against one
# release server (admin and organization on, cookie cache and rate limits off: the database path):
#   get-session    wrk, DISTINCT (4096) session cookies drawn at random over ALL the sessions
#   sign-in        wrk, POST /sign-in/email as users drawn at random (argon2 bound)
#   list-users     wrk, GET /admin/list-users?searchValue=...&limit=20&offset=... as an admin
#                  (contains-search on email, a random prefix of a user number, random page),
#                  one connection (a search's latency), then 16
#   list-members   wrk, GET /organization/list-members?organizationId=... (random organization)
# and prints one RESULT line per measurement (req/s, p50, p99).
#
# Environment: BIN (default target/release/portcullis), PG (admin URL, default
# postgres://postgres@127.0.0.1:5432/postgres), DURATION (s, default 15), CONN (default 64),
# DISTINCT (default 4096), KEEP=1 keeps the database (its name is printed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${BIN:-$root/target/release/portcullis}"
pg="${PG:-postgres://postgres@127.0.0.1:5432/postgres}"
small="${SMALL:-10000}"; large="${LARGE:-1000000}"
dur="${DURATION:-15}"; conn="${CONN:-64}"; distinct="${DISTINCT:-4096}"
secret="datascale-bench-secret-0123456789abcdef-not-for-production"
password="bench-password-123!"
db="pc_datascale_$$"
dburl="${pg%/*}/$db"
port=$((20000 + $$ % 20000))
base="http://127.0.0.1:$port"; api="$base/api/auth"
tmp="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then psql -q "$pg" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
[ -x "$bin" ] || { echo "no server binary at $bin (cargo build --release -p portcullis-cli)" >&2; exit 1; }

cat >"$tmp/config.toml" <<EOF
[admin]
enabled = true

[organization]
enabled = true
EOF
export BETTER_AUTH_SECRET="$secret" BETTER_AUTH_URL="$base" PORTCULLIS_RATE_LIMIT=false PORTCULLIS_COOKIE_CACHE=false
psql -q "$pg" -c "create database $db" >/dev/null
echo "database $db"
"$bin" migrate --config "$tmp/config.toml" --database-url "$dburl" >/dev/null

start() {
  "$bin" serve --config "$tmp/config.toml" --listen "127.0.0.1:$port" --database-url "$dburl" --no-migrate >"$tmp/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "$api/ok" >/dev/null && return 0; sleep 0.1; done
  echo "server did not start" >&2; cat "$tmp/server.log" >&2; exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
sql() { psql -qAt "$dburl" -v ON_ERROR_STOP=1 "$@"; }
signed() { # token -> the session cookie's value, as the server signs it
  python3 -c 'import base64,hmac,hashlib,sys,urllib.parse
s,t=sys.argv[1].encode(),sys.argv[2]
print(urllib.parse.quote(t+"."+base64.b64encode(hmac.new(s,t.encode(),hashlib.sha256).digest()).decode(),safe=""))' "$secret" "$1"
}

start
# One real user: its argon2 hash is every seeded user's; it becomes the admin.
curl -sS -o /dev/null -D "$tmp/h" -X POST -H 'content-type: application/json' -H "Origin: $base" \
  --data-raw "{\"email\":\"admin@scale.example\",\"password\":\"$password\",\"name\":\"Admin\"}" "$api/sign-up/email"
admin_cookie="$(sed -nE 's/^[Ss]et-[Cc]ookie: *([^;]*session_token=[^;]+).*/\1/p' "$tmp/h" | head -1)"
[ -n "$admin_cookie" ] || { echo "admin sign-up failed" >&2; exit 1; }
sql -c "update \"user\" set role = 'admin' where email = 'admin@scale.example'"

seed() { # from to: users (from, to], two sessions each, an organization per 100 users
  local from="$1" to="$2"
  sql <<SQL
insert into "user" (id, name, email, "emailVerified", "createdAt", "updatedAt", role)
  select 'u' || i, 'User ' || i, 'user' || i || '@scale.example', true,
         now() - (i || ' seconds')::interval, now(), 'user'
  from generate_series($from + 1, $to) i;
insert into account (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt")
  select 'a' || i, 'u' || i, 'credential', 'u' || i,
         (select password from account a join "user" u on u.id = a."userId" where u.email = 'admin@scale.example'),
         now(), now()
  from generate_series($from + 1, $to) i;
insert into session (id, token, "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent")
  select 's' || j, 'tok' || j, 'u' || (((j - 1) / 2) + 1), now() + interval '30 days', now(), now(), '127.0.0.1', 'bench'
  from generate_series(2 * $from + 1, 2 * $to) j;
insert into organization (id, name, slug, "createdAt")
  select 'o' || k, 'Org ' || k, 'org-' || k, now() from generate_series($from / 100 + 1, $to / 100) k;
insert into member (id, "organizationId", "userId", role, "createdAt")
  select 'm' || i, 'o' || (((i - 1) / 100) + 1), 'u' || i, case when i % 100 = 1 then 'owner' else 'member' end, now()
  from generate_series($from + 1, $to) i;
SQL
  # As a live database would be: hint bits set, visibility map current, written out (a read right
  # after a bulk load sets hint bits, which writes: not what get-session costs in service).
  sql -c "vacuum analyze"; sql -c "checkpoint"
}

measure() { # users: one RESULT line per workload
  local users="$1" sessions=$((2 * $1))
  python3 - "$secret" "$sessions" "$distinct" >"$tmp/cookies" <<'PY'
import base64, hmac, hashlib, random, sys, urllib.parse
secret, n, k = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
for j in random.sample(range(1, n + 1), min(k, n)):
    t = f"tok{j}"
    v = t + "." + base64.b64encode(hmac.new(secret, t.encode(), hashlib.sha256).digest()).decode()
    print("better-auth.session_token=" + urllib.parse.quote(v, safe=""))
PY
  COOKIES_FILE="$tmp/cookies" wrk -t2 -c"$conn" -d3s -s "$here/distinct.lua" "$api/get-session" >/dev/null
  COOKIES_FILE="$tmp/cookies" wrk -t2 -c"$conn" -d"${dur}s" --timeout 10s -s "$here/distinct.lua" "$api/get-session" |
    sed -n "s/^RESULT/RESULT users=$users sessions=$sessions get-session/p"
  USERS="$users" PASSWORD="$password" ORIGIN="$base" wrk -t2 -c16 -d"${dur}s" --timeout 10s -s "$here/datascale-sign-in.lua" "$api/sign-in/email" |
    sed -n "s/^RESULT/RESULT users=$users sessions=$sessions sign-in/p"
  # One admin searching (its latency), then 16 at once (the throughput).
  for c in 1 16; do
    USERS="$users" COOKIE="$admin_cookie" wrk -t1 -c"$c" -d"${dur}s" --timeout 10s -s "$here/datascale-list.lua" "$api/admin/list-users" |
      sed -n "s/^RESULT/RESULT users=$users sessions=$sessions list-users-search c=$c/p"
  done
  # The admin joins every organization it lists (list-members needs a membership).
  sql -c "insert into member (id, \"organizationId\", \"userId\", role, \"createdAt\")
          select 'madmin' || k, 'o' || k, (select id from \"user\" where email = 'admin@scale.example'), 'admin', now()
          from generate_series(1, $users / 100) k on conflict do nothing"
  ORGS=$((users / 100)) COOKIE="$admin_cookie" wrk -t2 -c16 -d"${dur}s" --timeout 10s -s "$here/datascale-members.lua" "$api/organization/list-members" |
    sed -n "s/^RESULT/RESULT users=$users sessions=$sessions list-members/p"
}

t0=$(date +%s); seed 0 "$small"; echo "seeded $small users in $(( $(date +%s) - t0 )) s"
measure "$small"
t0=$(date +%s); seed "$small" "$large"; echo "seeded up to $large users in $(( $(date +%s) - t0 )) s"
stop; start   # a fresh server: no warm caches carried over from the small run
measure "$large"
sql -c "select pg_size_pretty(pg_database_size(current_database()))" | sed 's/^/database size: /'
