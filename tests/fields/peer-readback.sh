#!/usr/bin/env bash
# Better Auth writes, Portcullis reads back (issue 13): a database where Better Auth 1.7.24
# (../shared/peer, with the additionalFields of tests/fields/fields.toml) wrote users, sessions and
# cookie-cache cookies is served by Portcullis identically, byte for byte.
#
#   tests/fields/peer-readback.sh PORTCULLIS_BIN
#
#   1. copy the peer to a temp directory (its source may be read-only), with its node_modules from
#      a cache next to this script (npm ci only when the peer's package-lock.json changed);
#   2. create a fresh PostgreSQL database, migrate it with the peer (FIELDS=on node migrate.mjs);
#   3. start the peer (FIELDS=on COOKIE_CACHE=on, a fixed secret) and record, with
#      peer-readback.mjs, users signed up / updated through it, their get-session answers (from
#      the cache cookie and from the database), cache cookies and sign-in answers;
#   4. stop it and start Portcullis on the same database with the same secret, the cookie cache on
#      and peer-fields.toml (the peer's plugin fields, then the same additional fields); check that
#      it adds no column to the peer's tables and answers exactly as the peer did;
#   5. let Portcullis change a user and a session, restart the peer and check it reads them back
#      (database and Portcullis-written cache cookie).
#
# Environment:
#   PORTCULLIS_TEST_PG  admin URL of a PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
#   PEER_DIR            the peer (default ../shared/peer beside the repository)
#   PEER_NODE_MODULES   where the peer's node_modules are kept between runs (default tests/fields/.peer-node-modules)
#   KEEP_LOGS=1         keep the temp directory (logs, state) after the run
#
# Exit status 0 when every comparison holds. Stops every process it started and drops its database
# whatever happens.
set -uo pipefail

name=peer-readback
logs="peer.log portcullis.log"
# shellcheck source=../lib/peer.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/peer.sh"

# ------------------------------------------------------------------ 1. the peer, with node_modules
copy_peer

# ------------------------------------------------------------------ 2. a fresh database, migrated by the peer
create_db

# The peer's environment, nothing inherited that would change its configuration (auth.mjs header).
peer_env() {
  env -u SECONDARY -u PASSKEY -u ANONYMOUS -u GENERIC_OAUTH_DISCOVERY -u OPENAPI -u TRUSTED_ORIGINS -u NODE_ENV \
    DATABASE_URL="$db_url" FIELDS=on COOKIE_CACHE=on RATE_LIMIT=off JWT_HEADER=off \
    BETTER_AUTH_SECRET="$secret" OUTBOX="$work/outbox.jsonl" "$@"
}
(cd "$peer" && peer_env node migrate.mjs >"$work/migrate.log" 2>&1) || { cat "$work/migrate.log" >&2; die "the peer's migration failed"; }

columns() {
  psql -X -A -t "$db_url" -c "select table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
    from information_schema.columns where table_schema = current_schema() order by 1"
}
columns >"$work/columns-peer.txt" || die "cannot list the peer's columns"

start_peer() {
  local port
  port="$(free_port)" && peer_url="http://127.0.0.1:$port" &&
    peer_env PORT="$port" PIDFILE="$work/peer.pid" LOGFILE="$work/peer.log" "$peer/start.sh" || die "the peer did not start"
}

# ------------------------------------------------------------------ 3. Better Auth writes
start_peer
BASE_URL="$peer_url" STATE="$work/state.json" node "$here/peer-readback.mjs" record || die "recording through the peer failed"
stop_peer

# ------------------------------------------------------------------ 4. Portcullis reads
port="$(free_port)"
base_url="http://127.0.0.1:$port"
# A clean environment, as scripts/test's start_server: only what this run states decides the mode.
# Migration stays on (the default): on a database Better Auth migrated it must add nothing, which
# the column listing below checks.
env -u NODE_ENV -u PORTCULLIS_PRODUCTION -u PORT -u PORTCULLIS_LISTEN -u DATABASE_URL \
  -u PORTCULLIS_CONFIG -u BETTER_AUTH_SECRETS -u AUTH_SECRET -u BETTER_AUTH_TRUSTED_ORIGINS \
  -u SMTP_URL -u PORTCULLIS_MIGRATE -u PORTCULLIS_JWT -u PORTCULLIS_BEARER -u PORTCULLIS_RATE_LIMIT \
  BETTER_AUTH_URL="$base_url" BETTER_AUTH_SECRET="$secret" PORTCULLIS_COOKIE_CACHE=true \
  PORTCULLIS_DEV_OUTBOX=true PORTCULLIS_OUTBOX="$work/outbox-portcullis.jsonl" RUST_LOG="${RUST_LOG:-warn}" \
  "$bin" serve --config "$here/peer-fields.toml" --listen "127.0.0.1:$port" --database-url "$db_url" \
  >"$work/portcullis.log" 2>&1 &
server_pid=$!
wait_for_server "$base_url"

failed=0
# Portcullis may create tables of its own; it must not add, drop or retype a column of the peer's.
columns >"$work/columns-portcullis.txt" || die "cannot list the columns"
awk -F. 'NR == FNR { peer[$1] = 1; next } $1 in peer' "$work/columns-peer.txt" "$work/columns-portcullis.txt" \
  >"$work/columns-after.txt"
if diff "$work/columns-peer.txt" "$work/columns-after.txt" >"$work/columns.diff"; then
  echo "ok - Portcullis's migration leaves the peer's tables as they were"
else
  echo "not ok - Portcullis's migration changed the peer's tables (< peer, > after Portcullis):"
  sed 's/^/    /' "$work/columns.diff"
  failed=1
fi

BASE_URL="$base_url" STATE="$work/state.json" node "$here/peer-readback.mjs" check || failed=1
stop_server

# ------------------------------------------------------------------ 5. Better Auth reads Portcullis's writes
start_peer
BASE_URL="$peer_url" STATE="$work/state.json" node "$here/peer-readback.mjs" readback || failed=1
stop_peer

exit "$failed"
