#!/usr/bin/env bash
# A Better Auth database imported into another engine (issue 16, "Import"): Better Auth 1.7.24
# (../shared/peer, on PostgreSQL) signs users up, `portcullis import` copies its database into a
# SQLite file, and the users sign in to Portcullis with their old passwords.
#
#   tests/import/peer-import.sh PORTCULLIS_BIN
#
#   1. copy the peer to a temp directory with its node_modules from a cache (npm ci only when the
#      peer's package-lock.json changed; the cache is shared with tests/fields/peer-readback.sh);
#   2. create a fresh PostgreSQL database and migrate it with the peer;
#   3. start the peer, sign up three users through it (one with an organization), stop it;
#   4. `portcullis migrate` a fresh SQLite file (peer-import.toml: admin, organization, twoFactor),
#      then `portcullis import --from <the peer's database> --sessions`: a dry run first (nothing
#      written), the import (every user, account, session, organization and member imported, none
#      refused), a re-run (nothing imported);
#   5. serve Portcullis on the SQLite file: each user signs in with the password Better Auth
#      hashed (scrypt), a wrong one is refused, and the stored hash becomes argon2id.
#
# Environment:
#   PORTCULLIS_TEST_PG  admin URL of a PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
#   PEER_DIR            the peer (default ../shared/peer beside the repository)
#   PEER_NODE_MODULES   where the peer's node_modules are kept between runs (default tests/fields/.peer-node-modules)
#   KEEP_LOGS=1         keep the temp directory (logs, reports, the SQLite file) after the run
#
# Exit status 0 when every check holds. Stops every process it started and drops its database
# whatever happens.
set -uo pipefail

name=peer-import
logs="peer.log import.log portcullis.log"
# shellcheck source=../lib/peer.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/peer.sh"
target="$work/target.db"
target_url="sqlite://$target?mode=rwc"
# One value from the SQLite target (python3's sqlite3: no sqlite3 binary needed).
target_sql() {
  python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print("" if r is None else r[0])' "$target" "$1"
}
# `field` of `table` in a JSON report (0 when the table is absent).
report_count() {
  python3 -c 'import json,sys; t=[t for t in json.load(open(sys.argv[1]))["tables"] if t["table"]==sys.argv[2]]; print(t[0][sys.argv[3]] if t else 0)' "$1" "$2" "$3"
}
report_refused() {
  python3 -c 'import json,sys; print(sum(t["refused"] for t in json.load(open(sys.argv[1]))["tables"]))' "$1"
}
# ------------------------------------------------------------------ 1. the peer, with node_modules
copy_peer

# ------------------------------------------------------------------ 2. a fresh database, migrated by the peer
create_db
peer_env() {
  env -u SECONDARY -u PASSKEY -u ANONYMOUS -u GENERIC_OAUTH_DISCOVERY -u OPENAPI -u TRUSTED_ORIGINS -u NODE_ENV -u FIELDS \
    DATABASE_URL="$db_url" COOKIE_CACHE=off RATE_LIMIT=off JWT_HEADER=off \
    BETTER_AUTH_SECRET="$secret" OUTBOX="$work/outbox.jsonl" "$@"
}
(cd "$peer" && peer_env node migrate.mjs >"$work/migrate.log" 2>&1) || { cat "$work/migrate.log" >&2; die "the peer's migration failed"; }

# ------------------------------------------------------------------ 3. Better Auth writes
port="$(free_port)" && peer_url="http://127.0.0.1:$port" &&
  peer_env PORT="$port" PIDFILE="$work/peer.pid" LOGFILE="$work/peer.log" "$peer/start.sh" || die "the peer did not start"
BASE_URL="$peer_url" STATE="$work/state.json" node "$here/peer-import.mjs" record || die "signing up through the peer failed"
stop_peer

# ------------------------------------------------------------------ 4. portcullis import
# `portcullis --exec ...` replaces the shell it runs in: started in the background, `$!` is then the
# server itself (not a subshell whose end would leave the server running).
portcullis() {
  local run=()
  if [ "$1" = --exec ]; then run=(exec); shift; fi
  "${run[@]}" env -u NODE_ENV -u PORTCULLIS_PRODUCTION -u PORT -u PORTCULLIS_LISTEN -u DATABASE_URL \
    -u PORTCULLIS_CONFIG -u BETTER_AUTH_SECRETS -u AUTH_SECRET -u BETTER_AUTH_TRUSTED_ORIGINS \
    -u SMTP_URL -u PORTCULLIS_MIGRATE -u PORTCULLIS_JWT -u PORTCULLIS_BEARER -u PORTCULLIS_RATE_LIMIT \
    BETTER_AUTH_SECRET="$secret" PORTCULLIS_DEV_OUTBOX=true RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" "$1" --config "$here/peer-import.toml" --database-url "$target_url" "${@:2}"
}
portcullis migrate >>"$work/import.log" 2>&1 || die "portcullis migrate failed"
portcullis import --from "$db_url" --sessions --dry-run --report "$work/dry.json" >>"$work/import.log" 2>&1 || die "the dry run failed"
check "a dry run writes nothing" '[ "$(target_sql "select count(*) from \"user\"")" = 0 ]'
check "the dry run would import the peer's three users" '[ "$(report_count "$work/dry.json" user imported)" = 3 ]'
portcullis import --from "$db_url" --sessions --report "$work/run.json" >>"$work/import.log" 2>&1 || die "the import failed"
cat "$work/import.log"
check "three users imported" '[ "$(report_count "$work/run.json" user imported)" = 3 ]'
check "their password accounts imported" '[ "$(report_count "$work/run.json" account imported)" = 3 ]'
check "their sessions imported" '[ "$(report_count "$work/run.json" session imported)" -ge 3 ]'
check "the organization and its member imported" \
  '[ "$(report_count "$work/run.json" organization imported)" = 1 ] && [ "$(report_count "$work/run.json" member imported)" = 1 ]'
check "no row refused" '[ "$(report_refused "$work/run.json")" = 0 ]'
check "the dry run reported what the import did" \
  '[ "$(report_count "$work/dry.json" account imported)" = 3 ] && [ "$(report_count "$work/dry.json" member imported)" = 1 ]'
portcullis import --from "$db_url" --sessions --report "$work/again.json" >>"$work/import.log" 2>&1 || die "the re-run failed"
check "a re-run imports nothing" \
  '[ "$(python3 -c "import json,sys; print(sum(t[\"imported\"] for t in json.load(open(sys.argv[1]))[\"tables\"]))" "$work/again.json")" = 0 ]'
check "a re-run skips the three users" '[ "$(report_count "$work/again.json" user skipped)" = 3 ]'

# ------------------------------------------------------------------ 5. old passwords sign in to Portcullis
port="$(free_port)"
base_url="http://127.0.0.1:$port"
BETTER_AUTH_URL="$base_url" portcullis --exec serve --listen "127.0.0.1:$port" >"$work/portcullis.log" 2>&1 &
server_pid=$!
wait_for_server "$base_url"
BASE_URL="$base_url" STATE="$work/state.json" node "$here/peer-import.mjs" signin || failed=1
upgraded=0
for _ in $(seq 1 100); do
  upgraded="$(target_sql "select count(*) from \"account\" where \"providerId\" = 'credential' and \"password\" like '\$argon2id\$%'")"
  [ "$upgraded" = 3 ] && break
  sleep 0.1
done
check "the Better Auth scrypt hashes became argon2id at sign-in ($upgraded of 3)" '[ "$upgraded" = 3 ]'
stop_server
exit "$failed"
