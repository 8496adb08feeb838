# shellcheck shell=bash
# PostgreSQL helpers shared by scripts/serve, scripts/test and .ci/run. Source, don't run.

# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# Prints the directory holding initdb and pg_ctl, or nothing.
pg_bindir() {
    local initdb
    if initdb=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$initdb")"
        return
    fi
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Makes sure PostgreSQL's server binaries are present, installing Debian's `postgresql` package
# when they are missing and we are root (or have password-less sudo).
ensure_postgres_binaries() {
    local dir
    dir=$(pg_bindir)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        return 0
    fi
    apt_install postgresql
    dir=$(pg_bindir)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] || { echo "PostgreSQL install did not provide initdb" >&2; return 1; }
}

# Runs a PostgreSQL tool as the unprivileged `postgres` user when we are root (PostgreSQL will
# not run as root), as ourselves otherwise.
pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Starts a throwaway cluster on a free loopback port and exports DATABASE_URL for it.
# Call stop_throwaway_cluster when done (the caller sets the EXIT trap).
start_throwaway_cluster() {
    local bindir port
    bindir=$(pg_bindir)
    PG_THROWAWAY_DIR=$(mktemp -d /tmp/rolemine-pg.XXXXXX)
    export PG_THROWAWAY_DIR PG_THROWAWAY_BINDIR="$bindir"
    chmod 755 "$PG_THROWAWAY_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_THROWAWAY_DIR"
    pg_as_owner "$bindir/initdb" -D "$PG_THROWAWAY_DIR/data" -U rolemine -A trust -E UTF8 \
        --locale=C -N >"$PG_THROWAWAY_DIR/initdb.log" 2>&1 \
        || { cat "$PG_THROWAWAY_DIR/initdb.log" >&2; return 1; }
    port=55432
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    # Durability settings off: the cluster lives for one test run. Benchmarks that publish a
    # user's number set PG_DURABLE=1 and get PostgreSQL's defaults (fsync on).
    local fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${PG_DURABLE:-}" = 1 ] && fast=""
    pg_as_owner "$bindir/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -l "$PG_THROWAWAY_DIR/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_THROWAWAY_DIR $fast -c max_connections=300 -c shared_buffers=256MB" \
        start >/dev/null \
        || { cat "$PG_THROWAWAY_DIR/postgres.log" >&2; return 1; }
    pg_as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U rolemine rolemine
    export DATABASE_URL="postgres://rolemine@127.0.0.1:$port/rolemine"
    echo "Throwaway PostgreSQL on 127.0.0.1:$port ($PG_THROWAWAY_DIR)" >&2
}

stop_throwaway_cluster() {
    [ -n "${PG_THROWAWAY_DIR:-}" ] || return 0
    pg_as_owner "$PG_THROWAWAY_BINDIR/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_THROWAWAY_DIR"
    PG_THROWAWAY_DIR=""
}
