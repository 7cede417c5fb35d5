#!/usr/bin/env bash
# Cost as data grows: the same measurements on a small database and on a large one, interleaved.
#
#   bench/datascale.sh                    # 10k users / 20k sessions against 1M users / 2M sessions
#   SMALL=10000 LARGE=1000000 ROUNDS=3 ONLY="get-session list-users" bench/datascale.sh
#
# Seeds two fresh PostgreSQL databases (created and dropped here) with SQL (generate_series): users
# with a credential account (all share one real argon2 hash, made by one sign-up through the
# server), twice as many sessions as users, organizations of 100 members (the admin is in each, as
# list-members needs a membership). Then ROUNDS times, small then large, a fresh release server
# (admin and organization on, cookie cache and rate limits off: the database path) is measured:
#   get-session    wrk, DISTINCT (4096) session cookies drawn at random over ALL the sessions
#   sign-in        wrk, POST /sign-in/email as users drawn at random (argon2 bound)
#   list-users     wrk, GET /admin/list-users?searchValue=...&limit=20&offset=... as an admin
#                  (contains-search on email, a random prefix of a user number, random page),
#                  one connection (a search's latency), then 16
#   list-members   wrk, GET /organization/list-members?organizationId=... (random organization)
# and prints one RESULT line per measurement (req/s, p50, p99), then the median of the rounds per
# size and the change. Interleaving rounds cancels a shared VM's drift (15-30 % over tens of
# minutes), which a small-then-large run reads as a cost of size. get-session also prints the
# PostgreSQL buffer reads (blocks not in shared_buffers) per request.
#
# Environment: BIN (default target/release/portcullis), PG (admin URL, default
# postgres://postgres@127.0.0.1:5432/postgres), DURATION (s, default 15), CONN (default 64),
# DISTINCT (default 4096), ROUNDS (default 3), ONLY (workloads, default all), KEEP=1 keeps the
# databases (their names are printed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${BIN:-$root/target/release/portcullis}"
pg="${PG:-postgres://postgres@127.0.0.1:5432/postgres}"
small="${SMALL:-10000}"; large="${LARGE:-1000000}"
dur="${DURATION:-15}"; conn="${CONN:-64}"; distinct="${DISTINCT:-4096}"
secret="datascale-bench-secret-0123456789abcdef-not-for-production"
password="bench-password-123!"
rounds="${ROUNDS:-3}"; only="${ONLY:-get-session sign-in list-users list-members}"
dbs=("pc_datascale_small_$$" "pc_datascale_large_$$")
url() { echo "${pg%/*}/$1"; }
port=$((20000 + $$ % 20000))
base="http://127.0.0.1:$port"; api="$base/api/auth"
tmp="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then
    for db in "${dbs[@]}"; do psql -q "$pg" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true; done
  fi
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
start() { # database
  "$bin" serve --config "$tmp/config.toml" --listen "127.0.0.1:$port" --database-url "$(url "$1")" --no-migrate >"$tmp/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "$api/ok" >/dev/null && return 0; sleep 0.1; done
  echo "server did not start" >&2; cat "$tmp/server.log" >&2; exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
sql() { local db="$1"; shift; psql -qAt "$(url "$db")" -v ON_ERROR_STOP=1 "$@"; }
prepare() { # database users: created, migrated, seeded, vacuumed; its admin's cookie in $tmp/$1.admin
  local db="$1" users="$2" t0
  t0=$(date +%s)
  psql -q "$pg" -c "create database $db" >/dev/null
  echo "database $db"
  "$bin" migrate --config "$tmp/config.toml" --database-url "$(url "$db")" >/dev/null
  start "$db"
  # One real user: its argon2 hash is every seeded user's; it becomes the admin.
  curl -sS -o /dev/null -D "$tmp/h" -X POST -H 'content-type: application/json' -H "Origin: $base" \
    --data-raw "{\"email\":\"admin@scale.example\",\"password\":\"$password\",\"name\":\"Admin\"}" "$api/sign-up/email"
  stop
  sed -nE 's/^[Ss]et-[Cc]ookie: *([^;]*session_token=[^;]+).*/\1/p' "$tmp/h" | head -1 >"$tmp/$db.admin"
  [ -s "$tmp/$db.admin" ] || { echo "admin sign-up failed" >&2; exit 1; }
  sql "$db" <<SQL
update "user" set role = 'admin' where email = 'admin@scale.example';
insert into "user" (id, name, email, "emailVerified", "createdAt", "updatedAt", role)
  select 'u' || i, 'User ' || i, 'user' || i || '@scale.example', true,
         now() - (i || ' seconds')::interval, now(), 'user'
  from generate_series(1, $users) i;
insert into account (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt")
  select 'a' || i, 'u' || i, 'credential', 'u' || i,
         (select password from account a join "user" u on u.id = a."userId" where u.email = 'admin@scale.example'),
         now(), now()
  from generate_series(1, $users) i;
insert into session (id, token, "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent")
  select 's' || j, 'tok' || j, 'u' || (((j - 1) / 2) + 1), now() + interval '30 days', now(), now(), '127.0.0.1', 'bench'
  from generate_series(1, 2 * $users) j;
insert into organization (id, name, slug, "createdAt")
  select 'o' || k, 'Org ' || k, 'org-' || k, now() from generate_series(1, $users / 100) k;
insert into member (id, "organizationId", "userId", role, "createdAt")
  select 'm' || i, 'o' || (((i - 1) / 100) + 1), 'u' || i, case when i % 100 = 1 then 'owner' else 'member' end, now()
  from generate_series(1, $users) i;
insert into member (id, "organizationId", "userId", role, "createdAt")
  select 'madmin' || k, 'o' || k, (select id from "user" where email = 'admin@scale.example'), 'admin', now()
  from generate_series(1, $users / 100) k;
SQL
  # As a live database would be: hint bits set, visibility map current, written out (a read right
  # after a bulk load sets hint bits, which writes: not what get-session costs in service).
  sql "$db" -c "vacuum analyze"; sql "$db" -c "checkpoint"
  echo "seeded $users users in $(( $(date +%s) - t0 )) s, $(sql "$db" -c "select pg_size_pretty(pg_database_size(current_database()))")"
}

cpu_ticks() { # "server postgres": CPU ticks (user + system) of the server and of all PostgreSQL processes
  python3 - "$server" <<'PY'
import os, sys
def ticks(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return 0
pg = sum(ticks(p) for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/comm") and open(f"/proc/{p}/comm").read().strip().startswith("postgres"))
print(ticks(sys.argv[1]), pg)
PY
}
wants() { [[ " $only " == *" $1 "* ]]; }
reads() { sql "$1" -c "select blks_read from pg_stat_database where datname = current_database()"; }

measure() { # database users round: one RESULT line per workload
  local db="$1" users="$2" sessions=$((2 * $2)) tag="round=$3 users=$2 sessions=$((2 * $2))" admin_cookie
  admin_cookie="$(cat "$tmp/$db.admin")"
  if wants get-session; then
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
    local before cpu; before="$(reads "$db")"; cpu="$(cpu_ticks)"
    COOKIES_FILE="$tmp/cookies" wrk -t2 -c"$conn" -d"${dur}s" --timeout 10s -s "$here/distinct.lua" "$api/get-session" >"$tmp/gs"
    cpu="$cpu $(cpu_ticks)"
    sed -n "s/^RESULT/RESULT $tag get-session/p" "$tmp/gs"
    sleep 11   # idle backends report their counters within 10 s
    python3 - "$before" "$(reads "$db")" "$tmp/gs" $cpu "$(getconf CLK_TCK)" <<'PY'
import re, sys
ok = int(re.search(r"ok=(\d+)", open(sys.argv[3]).read()).group(1))
b, a, s0, p0, s1, p1, hz = (int(x) for x in (sys.argv[1], sys.argv[2], *sys.argv[4:]))
print(f"  buffer reads (not in shared_buffers): {a - b} for {ok} requests")
us = lambda t: 1e6 * t / hz / ok
print(f"  CPU per request: server {us(s1 - s0):.1f} us, PostgreSQL {us(p1 - p0):.1f} us")
PY
  fi
  if wants sign-in; then
    USERS="$users" PASSWORD="$password" ORIGIN="$base" wrk -t2 -c16 -d"${dur}s" --timeout 10s -s "$here/datascale-sign-in.lua" "$api/sign-in/email" |
      sed -n "s/^RESULT/RESULT $tag sign-in/p"
  fi
  if wants list-users; then
    # One admin searching (its latency), then 16 at once (the throughput).
    for c in 1 16; do
      USERS="$users" COOKIE="$admin_cookie" wrk -t1 -c"$c" -d"${dur}s" --timeout 10s -s "$here/datascale-list.lua" "$api/admin/list-users" |
        sed -n "s/^RESULT/RESULT $tag list-users-search-c$c/p"
    done
  fi
  if wants list-members; then
    ORGS=$((users / 100)) COOKIE="$admin_cookie" wrk -t2 -c16 -d"${dur}s" --timeout 10s -s "$here/datascale-members.lua" "$api/organization/list-members" |
      sed -n "s/^RESULT/RESULT $tag list-members/p"
  fi
}

prepare "${dbs[0]}" "$small"
prepare "${dbs[1]}" "$large"
for round in $(seq 1 "$rounds"); do
  # A fresh server each time: no warm caches carried over from the other size.
  for i in 0 1; do
    users=$([ "$i" = 0 ] && echo "$small" || echo "$large")
    start "${dbs[$i]}"; measure "${dbs[$i]}" "$users" "$round" | tee -a "$tmp/results"; stop
  done
done
echo "median of $rounds rounds (req/s, p50 ms, p99 ms):"
python3 - "$tmp/results" "$small" "$large" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"RESULT round=\d+ users=(\d+) sessions=\d+ (\S+) req_s=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+)", line)
    if m:
        rows.setdefault((m[2], m[1]), []).append(tuple(float(x) for x in m.group(3, 4, 5)))
small, large = sys.argv[2], sys.argv[3]
for work in dict.fromkeys(w for w, _ in rows):
    s, l = ([statistics.median(col) for col in zip(*rows[(work, n)])] for n in (small, large))
    print(f"  {work:24} {small} users: {s[0]:9.1f} {s[1]:7.2f} {s[2]:7.2f} | {large} users: {l[0]:9.1f} {l[1]:7.2f} {l[2]:7.2f} | req/s {100 * (l[0] / s[0] - 1):+.1f} %")
PY
