#!/usr/bin/env bash
# A private PostgreSQL server for the archive tests and CI: Debian's postgresql binaries, a new
# cluster in its own folder, listening only on a unix socket in that folder (no TCP port), trust
# authentication for the one role `nodediag`. Run as root, the cluster belongs to an unprivileged
# user ($NODEDIAG_PG_USER, default nobody) and the folder is chowned to it (postgres refuses root).
#
#   eval "$(bash tests/engine/postgres.sh start)"   # prints: export NODEDIAG_TEST_PG_URL=postgresql://...
#   bash tests/engine/postgres.sh status            # exit 0 when running
#   bash tests/engine/postgres.sh stop              # stops the server and deletes the folder
#
# State folder: $NODEDIAG_PG_DIR (default /tmp/nodediag-postgres).
set -euo pipefail

STATE="${NODEDIAG_PG_DIR:-/tmp/nodediag-postgres}"
DATA="$STATE/data"
LOG="$STATE/postgres.log"
RUN_AS="${NODEDIAG_PG_USER:-nobody}"

say() { echo "postgres.sh: $*" >&2; }
die() { say "$*"; exit 1; }

bindir() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] && [ -x "$found/initdb" ] || die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run bash .ci/setup (Debian's postgresql)"
    echo "$found"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

url() { echo "postgresql://nodediag@/postgres?host=$STATE"; }

running() { [ -f "$DATA/postmaster.pid" ] && as_owner "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

case "${1:-}" in
start)
    BIN="$(bindir)"
    if running; then echo "export NODEDIAG_TEST_PG_URL=$(url)"; exit 0; fi
    mkdir -p "$STATE"
    chmod 0755 "$STATE"
    if [ "$(id -u)" = 0 ]; then chown "$RUN_AS" "$STATE"; fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        as_owner "$BIN/initdb" -D "$DATA" -U nodediag --auth=trust -E UTF8 --no-locale >"$STATE/initdb.log" 2>&1 \
            || die "initdb failed: $(tail -n 3 "$STATE/initdb.log" | tr '\n' ' ')"
    fi
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 30 \
        -o "-c listen_addresses='' -c unix_socket_directories='$STATE' -c fsync=off -c full_page_writes=off" \
        start >/dev/null || die "the server did not start: $(tail -n 5 "$LOG" 2>/dev/null | tr '\n' ' ')"
    echo "export NODEDIAG_TEST_PG_URL=$(url)"
    ;;
status)
    running
    ;;
stop)
    if [ -d "$DATA" ] && [ -f "$DATA/postmaster.pid" ]; then
        as_owner "$(bindir)/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || say "pg_ctl stop failed"
    fi
    rm -rf "$STATE"
    ;;
*)
    die "usage: postgres.sh start|status|stop"
    ;;
esac
