# Shared by the scripts that drive the real Better Auth (../shared/peer) beside Portcullis
# (tests/fields/peer-readback.sh, tests/import/peer-import.sh). Source it after setting:
#   name   the script's name, used in messages, temp and database names
#   logs   the files of $work whose last lines a failure prints (e.g. "peer.log portcullis.log")
# and with $1 = the Portcullis binary. It sets bin, peer_src, modules_cache, admin_url, secret,
# work, peer, t0; defines stop_peer, stop_server (of $server_pid), die, free_port, check, and
# the EXIT trap that stops both, drops $db and removes $work (KEEP_LOGS=1 keeps it);
# wait_for_server URL (until $server_pid answers URL/api/auth/ok, or die), copy_peer (the peer with node_modules from a cache, npm ci only when its lockfile changed) and
# create_db (a fresh PostgreSQL database: db, db_url).
here="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:?usage: $name.sh PORTCULLIS_BIN}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
[ -x "$bin" ] || { echo "$name: $bin is not executable" >&2; exit 2; }
peer_src="${PEER_DIR:-$root/../shared/peer}"
[ -f "$peer_src/auth.mjs" ] || { echo "$name: no peer at $peer_src" >&2; exit 2; }
modules_cache="${PEER_NODE_MODULES:-$root/tests/fields/.peer-node-modules}"
admin_url="${PORTCULLIS_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
secret="$name-secret-0123456789abcdef-not-for-production"

work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-$name.XXXXXX")"
peer="$work/peer"
db=""
server_pid=""
t0=$SECONDS

stop_peer() {
  [ -f "$work/peer.pid" ] && PIDFILE="$work/peer.pid" "$peer/stop.sh" >/dev/null
}
stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
  fi
  wait "$server_pid" 2>/dev/null
  server_pid=""
}
cleanup() {
  local rc=$?
  stop_peer
  stop_server
  if [ -n "$db" ]; then
    psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "$name: could not drop database $db" >&2
  fi
  if [ "$rc" -ne 0 ]; then
    for f in $logs; do
      [ -s "$work/$f" ] && { echo "--- $f, last lines:" >&2; tail -n 30 "$work/$f" >&2; }
    done
  fi
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
  echo "$name: $([ "$rc" -eq 0 ] && echo PASS || echo FAIL) ($((SECONDS - t0)) s)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "$name: $*" >&2; exit 1; }
free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
failed=0
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; failed=1; fi; }

# Until the Portcullis of $server_pid answers $1/api/auth/ok (30 s at most); dies if it exits.
wait_for_server() {
  for _ in $(seq 1 300); do
    if node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$1/api/auth/ok"; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  die "portcullis did not start"
}

# Its files only: an installed node_modules, pid file, log or outbox there are not ours to copy.
copy_peer() {
  mkdir -p "$peer" &&
    tar -C "$peer_src" --exclude=./node_modules --exclude=./peer.pid --exclude=./peer.log --exclude=./outbox.jsonl -cf - . |
    tar -C "$peer" -xf - && chmod -R u+w "$peer" || die "cannot copy $peer_src"
  if ! { [ -d "$modules_cache/node_modules/better-auth" ] && cmp -s "$peer/package-lock.json" "$modules_cache/package-lock.json"; }; then
    echo "npm ci (the peer's dependencies, into $modules_cache)"
    rm -rf "$modules_cache" && mkdir -p "$modules_cache" &&
      cp "$peer/package.json" "$peer/package-lock.json" "$modules_cache/" &&
      { [ ! -f "$peer/.npmrc" ] || cp "$peer/.npmrc" "$modules_cache/"; } &&
      (cd "$modules_cache" && npm ci --no-audit --no-fund --loglevel=error) || { rm -rf "$modules_cache"; die "npm ci failed"; }
  fi
  ln -s "$modules_cache/node_modules" "$peer/node_modules"
}

create_db() {
  db="portcullis_${name//-/_}_$$_$RANDOM"
  db_url="$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.href)' "$admin_url" "$db")"
  psql -X -q "$admin_url" -c "CREATE DATABASE \"$db\"" || { db=""; die "cannot create a database through $admin_url"; }
}
