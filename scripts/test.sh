#!/usr/bin/env bash
# THE test command: ./scripts/test.sh [extra pytest arguments...]
#
# 1. creates/updates .venv (scripts/_setup_venv.sh),
# 2. makes sure Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) are up, starting them
#    when they are down; a service that is still down after 30 s fails the run loudly
#    (the tests never skip for a missing service),
# 3. ruff check, mypy (configured in setup.cfg), pytest (configured in setup.cfg).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/_setup_venv.sh
source scripts/_setup_venv.sh

REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_HOST=127.0.0.1
PG_PORT=5432
SERVICE_WAIT_S=30

section() { printf '\n==> %s\n' "$*"; }

die() {
    printf '\n!!! ERROR: %s\n' "$*" >&2
    exit 1
}

redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
    else
        "$VENV_PYTHON" -c 'import sys, redis; redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), socket_connect_timeout=2).ping()' \
            "$REDIS_HOST" "$REDIS_PORT" >/dev/null 2>&1
    fi
}

postgres_up() {
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

# wait_for NAME CHECK_FUNCTION: polls once a second for SERVICE_WAIT_S seconds.
wait_for() {
    local name="$1" check="$2" i
    for ((i = 0; i < SERVICE_WAIT_S; i++)); do
        if "$check"; then
            echo "$name is up"
            return 0
        fi
        sleep 1
    done
    die "$name is still down after ${SERVICE_WAIT_S}s. The integration tests need it; they are never skipped. Start it by hand and run again."
}

ensure_redis() {
    if redis_up; then
        echo "Redis at $REDIS_HOST:$REDIS_PORT is up"
        return 0
    fi
    echo "Redis at $REDIS_HOST:$REDIS_PORT is down; starting redis-server"
    command -v redis-server >/dev/null 2>&1 ||
        die "Redis at $REDIS_HOST:$REDIS_PORT is down and redis-server is not installed (apt-get install redis-server)."
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no ||
        echo "redis-server failed to start; waiting in case another start is under way" >&2
    wait_for "Redis at $REDIS_HOST:$REDIS_PORT" redis_up
}

ensure_postgres() {
    command -v pg_isready >/dev/null 2>&1 ||
        die "pg_isready is not installed (apt-get install postgresql-client); cannot check PostgreSQL."
    if postgres_up; then
        echo "PostgreSQL at $PG_HOST:$PG_PORT is up"
        return 0
    fi
    echo "PostgreSQL at $PG_HOST:$PG_PORT is down; starting the local cluster"
    local version
    version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null |
        sort -V | tail -n 1 || true)"
    if [[ -z "$version" ]] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        die "PostgreSQL at $PG_HOST:$PG_PORT is down and no local cluster was found (/etc/postgresql, pg_ctlcluster)."
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        echo "pg_ctlcluster failed; waiting in case another start is under way" >&2
    wait_for "PostgreSQL at $PG_HOST:$PG_PORT" postgres_up
}

section "Python environment (.venv)"
setup_venv
"$VENV_PYTHON" --version

section "Services: Redis and PostgreSQL"
ensure_redis
ensure_postgres

section "Lint: ruff check ."
"$VENV/bin/ruff" check .

section "Types: mypy (setup.cfg)"
"$VENV/bin/mypy"

section "Tests: pytest $*"
"$VENV_PYTHON" -m pytest "$@"
