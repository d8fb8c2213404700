#!/usr/bin/env bash
# Starts a private PostgreSQL cluster on 127.0.0.1 for the store's tests and
# prints, as its last line on stdout, the export that points the tests at it:
#
#   eval "$(bash tools/ci/postgres.sh)"
#
# Everything else goes to stderr, so the eval sees only the export. Meant for
# Debian 12 as root without systemd (CI, developer machines); it installs
# Debian's postgresql only when no initdb is present. Idempotent: when a server
# already answers on the port, it only prints the export.
#
# Environment: CERTFLOW_PG_PORT (default 54329).
set -euo pipefail

port="${CERTFLOW_PG_PORT:-54329}"
url="postgres://postgres@127.0.0.1:${port}/postgres"

log() { echo "postgres.sh: $*" >&2; }

print_export() { echo "export CERTFLOW_TEST_POSTGRES_URL=${url}"; }

server_answers() {
    # A bare TCP connect is enough: nothing else is expected on this port.
    (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null
}

newest_bindir() {
    local dirs=()
    shopt -s nullglob
    for initdb in /usr/lib/postgresql/*/bin/initdb; do dirs+=("$(dirname "$initdb")"); done
    shopt -u nullglob
    ((${#dirs[@]})) || return 1
    printf '%s\n' "${dirs[@]}" | sort -V | tail -n1
}

if server_answers; then
    log "a server already answers on 127.0.0.1:${port}"
    print_export
    exit 0
fi

if ! bindir="$(newest_bindir)"; then
    log "installing postgresql from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    bindir="$(newest_bindir)" || { log "initdb still missing after install"; exit 1; }
fi

# initdb refuses to run as root: as root the cluster belongs to the postgres
# user (created by Debian's package), otherwise to whoever runs this.
as_owner() {
    if [[ "$(id -u)" != 0 ]]; then
        "$@"
    elif command -v runuser >/dev/null; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c '"$0" "$@"' -- "$@"
    fi
}

datadir="$(mktemp -d "${TMPDIR:-/tmp}/certflow-pg-${port}.XXXXXX")"
if [[ "$(id -u)" == 0 ]]; then
    chown postgres:postgres "$datadir"
fi
chmod 700 "$datadir"

log "initialising a cluster in ${datadir} with ${bindir}"
if ! initdb_output="$(as_owner "${bindir}/initdb" -D "$datadir" -A trust -U postgres --no-sync 2>&1)"; then
    echo "$initdb_output" >&2
    exit 1
fi

# A throwaway cluster for tests: fsync off trades crash safety for speed (each
# test creates its own database), and enough connections for parallel tests.
options="-p ${port} -c listen_addresses=127.0.0.1 -k ${datadir}"
options+=" -c fsync=off -c full_page_writes=off -c max_connections=300"
if ! as_owner "${bindir}/pg_ctl" -D "$datadir" -l "${datadir}/server.log" -o "$options" -w -t 60 start >&2; then
    log "server did not start; its log follows"
    cat "${datadir}/server.log" >&2 || true
    exit 1
fi

server_answers || { log "server started but does not answer on 127.0.0.1:${port}"; exit 1; }
log "PostgreSQL $("${bindir}/postgres" --version | awk '{print $3}') on 127.0.0.1:${port}, data in ${datadir}"
print_export
