#!/usr/bin/env bash
# The Tierdesk benchmark, end to end (see bench/README.md):
#   PostgreSQL: 1,000,000 tickets, server on 127.0.0.1:8100
#   SQLite:       100,000 tickets, server on 127.0.0.1:8101
# Usage: bench/run.sh [pg|sqlite|all]
# Environment: PG_TICKETS, SQLITE_TICKETS, PG_DB, PG_ADMIN_URL, BENCH_DIR, HTTP_BENCH_ARGS;
#   KEEP=0 drops the PostgreSQL database at the end; SKIP_LOAD=1 reuses the loaded database;
#   RUN_ID=r2 tags the result files of a repeated measurement (bench/summarise.py takes medians);
#   VARIANT=proposed measures the changes docs/benchmarks.md proposes that are not in src/ yet:
#   it adds the proposed indexes (dropped again afterwards) and serves bench/wsgi_proposed.py.
# Raw output and JSON results go to bench/results/ (git-ignored).
# The code measured is a snapshot of the last commit (git archive HEAD: src/, tests/, manage.py)
# in bench/results/code-<commit>/, so that edits made to the working tree while the benchmark
# runs do not mix into it; BENCH_CODE=/path uses another checkout instead.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
GRANIAN=$ROOT/.venv/bin/granian
WHAT=${1:-all}
PG_TICKETS=${PG_TICKETS:-1000000}
SQLITE_TICKETS=${SQLITE_TICKETS:-100000}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=${PG_DB:-tierdesk_bench}
RESULTS=${BENCH_DIR:-$ROOT/bench/results}
mkdir -p "$RESULTS"
# One benchmark at a time: two runs share the database, the ports and the result files, and
# each would measure the other's load.
exec 9>"$RESULTS/.run.lock"
if ! flock -n 9; then
    echo "another bench/run.sh is running (lock $RESULTS/.run.lock); wait for it" >&2
    exit 1
fi
CODE=${BENCH_CODE:-$RESULTS/code-$(git rev-parse --short HEAD)}
if [ ! -d "$CODE/src" ]; then
    mkdir -p "$CODE"
    git archive HEAD src tests manage.py | tar -x -C "$CODE"
fi
export TIERDESK_CODE=$CODE

# Exactly what a production process gets: settings from the environment, no debug.
unset TIERDESK_DEBUG DJANGO_SETTINGS_MODULE
export PYTHONPATH=$CODE/src
# Celery is not involved in these requests; keep its embedded broker inside the bench dir too.
unset CELERY_BROKER_URL

machine() {  # what the numbers were measured on, and which code
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "code: $CODE (HEAD is $(git rev-parse --short HEAD))"
    echo "nproc: $(nproc)"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "os: Debian $(cat /etc/debian_version 2>/dev/null), kernel $(uname -r)"
    echo "python: $("$PY" -c 'import platform; print(platform.python_version())')"
    echo "django: $("$PY" -c 'import django; print(django.get_version())')"
    echo "sqlite: $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)')"
    echo "postgresql: $(psql "$PG_ADMIN_URL" -Atc 'SHOW server_version' 2>/dev/null)" \
        "(shared_buffers $(psql "$PG_ADMIN_URL" -Atc 'SHOW shared_buffers' 2>/dev/null))"
    echo "granian: $("$GRANIAN" --version)"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

log() { printf '\n=== %s  %s\n' "$(date '+%H:%M:%S')" "$*"; }

wait_for_port() {  # port, pid
    for _ in $(seq 1 100); do
        if "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" "$1" \
            2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "server exited"; return 1; }
        sleep 0.2
    done
    echo "server did not start on port $1"; return 1
}

# Indexes proposed in docs/benchmarks.md and not yet in src/, created only for VARIANT=proposed
# and dropped afterwards (bench_* names). None at the moment: the last one became
# tickets/migrations/0006_ticket_priority_index.py.
PROPOSED_INDEXES=()

db_exec() {  # sql: run on the database the current variables point at
    "$PY" - "$1" <<'PYEOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["TIERDESK_CODE"], "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")
import django
django.setup()
from django.db import connection
with connection.cursor() as cur:
    cur.execute(sys.argv[1])
    cur.execute("ANALYZE tickets_ticket")
PYEOF
}

drop_proposed_indexes() {
    db_exec "DROP INDEX IF EXISTS bench_ticket_priority_idx"
    db_exec "DROP INDEX IF EXISTS bench_ticket_updated_idx"
}

serve_and_measure() {  # name, port
    local name=$1 port=$2 pid tag=$1${VARIANT:+-$VARIANT}${RUN_ID:+-$RUN_ID} app=tierdesk.config.wsgi:application
    local -a env=()
    drop_proposed_indexes  # whatever an interrupted run left behind: measure the schema as migrated
    case ${VARIANT:-} in
        "") ;;
        proposed)  # the proposals not yet in src/: two indexes and the keyset row comparison
            app=wsgi_proposed:application
            env=(PYTHONPATH="$CODE/src:$ROOT/bench")
            for sql in "${PROPOSED_INDEXES[@]+"${PROPOSED_INDEXES[@]}"}"; do db_exec "$sql"; done ;;
        *) echo "unknown VARIANT=$VARIANT"; return 2 ;;
    esac
    if "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" "$port" \
        2>/dev/null; then
        echo "port $port is already in use; stop that server first" >&2
        return 1
    fi
    log "$tag: starting granian (WSGI) $app on 127.0.0.1:$port"
    env "${env[@]}" "$GRANIAN" --interface wsgi --host 127.0.0.1 --port "$port" --blocking-threads 8 --no-ws "$app" \
        >"$RESULTS/$tag-server.log" 2>&1 &
    pid=$!
    trap 'kill '"$pid"' 2>/dev/null || true; drop_proposed_indexes' EXIT
    wait_for_port "$port" "$pid"
    log "$tag: http_bench.py"
    "$PY" bench/http_bench.py --base-url "http://127.0.0.1:$port" --facts "$RESULTS/$name-facts.json" \
        --pid "$pid" --label "$tag" --json-out "$RESULTS/$tag-http.json" ${HTTP_BENCH_ARGS:-} \
        | tee "$RESULTS/$tag-http.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    trap - EXIT
    drop_proposed_indexes
}

run_pg() {
    export TIERDESK_DATA_DIR=$RESULTS/pg-data
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$PG_DB
    if [ "${SKIP_LOAD:-0}" = 1 ]; then
        "$PY" "$CODE/manage.py" migrate --noinput -v0
        serve_and_measure pg 8100
        return
    fi
    rm -rf "$TIERDESK_DATA_DIR"
    mkdir -p "$TIERDESK_DATA_DIR"
    log "pg: (re)creating database $PG_DB"
    psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -q \
        -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
    "$PY" "$CODE/manage.py" migrate --noinput -v0
    log "pg: loading $PG_TICKETS tickets"
    "$PY" bench/load_tickets.py --tickets "$PG_TICKETS" --tokens-out "$RESULTS/pg-facts.json" \
        | tee "$RESULTS/pg-load.txt"
    psql "$DATABASE_URL" -q -c "SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid)) AS total
        FROM pg_stat_user_tables WHERE relname LIKE 'tickets_%' ORDER BY relname" | tee -a "$RESULTS/pg-load.txt"
    serve_and_measure pg 8100
    if [ "${KEEP:-1}" != 1 ]; then
        psql "$PG_ADMIN_URL" -q -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
    fi
    unset DATABASE_URL
}

run_sqlite() {
    unset DATABASE_URL
    export TIERDESK_DATA_DIR=$RESULTS/sqlite-data
    if [ "${SKIP_LOAD:-0}" = 1 ]; then
        "$PY" "$CODE/manage.py" migrate --noinput -v0
        serve_and_measure sqlite 8101
        return
    fi
    rm -rf "$TIERDESK_DATA_DIR"
    mkdir -p "$TIERDESK_DATA_DIR"
    log "sqlite: migrating $TIERDESK_DATA_DIR/tierdesk.sqlite3"
    "$PY" "$CODE/manage.py" migrate --noinput -v0
    log "sqlite: loading $SQLITE_TICKETS tickets"
    "$PY" bench/load_tickets.py --tickets "$SQLITE_TICKETS" --chunk 20000 \
        --tokens-out "$RESULTS/sqlite-facts.json" | tee "$RESULTS/sqlite-load.txt"
    ls -l "$TIERDESK_DATA_DIR"/tierdesk.sqlite3* | tee -a "$RESULTS/sqlite-load.txt"
    serve_and_measure sqlite 8101
}

machine | tee "$RESULTS/machine-$WHAT${VARIANT:+-$VARIANT}.txt"

case $WHAT in
    pg) run_pg ;;
    sqlite) run_sqlite ;;
    all) run_pg; run_sqlite ;;
    *) echo "usage: $0 [pg|sqlite|all]"; exit 2 ;;
esac
log "done; results in $RESULTS"
