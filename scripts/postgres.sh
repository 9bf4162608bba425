#!/usr/bin/env bash
# Finds, or installs, the PostgreSQL server binaries (initdb, pg_ctl, postgres) that the tests
# start a throwaway cluster from (e2e/postgres.ts). Nothing here starts a server.
#
# Usage: scripts/postgres.sh --install   install Debian's postgresql package if they are missing,
#                                        then print the bin dir
#        scripts/postgres.sh --bin       print the bin dir (exit 1 if they are missing)
set -euo pipefail
shopt -s nullglob

has_all() {
    [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/postgres" ]]
}

# The same search as e2e/postgres.ts: keep the two in step.
find_bin() {
    local initdb dir
    # On PATH first; a symlink (e.g. /usr/local/bin/initdb) leads to the real bin dir, which
    # also holds pg_isready and the rest.
    if initdb=$(command -v initdb); then
        dir=$(dirname "$(readlink -f "$initdb")")
        if has_all "$dir"; then
            echo "$dir"
            return 0
        fi
    fi
    # Debian keeps them off PATH, one dir per major version: the newest wins.
    local dirs=(/usr/lib/postgresql/*/bin)
    for dir in $(printf '%s\n' "${dirs[@]}" | sort -rV); do
        if has_all "$dir"; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

case "${1:-}" in
--bin)
    find_bin || {
        echo "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin (run: bash scripts/postgres.sh --install)" >&2
        exit 1
    }
    ;;
--install)
    if find_bin; then
        exit 0
    fi
    # apt needs root; a CI runner usually has passwordless sudo, a container is usually root.
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        sudo=(sudo)
    fi
    echo "[postgres] installing Debian's postgresql package" >&2
    "${sudo[@]}" apt-get update
    # noninteractive: no debconf prompts on CI. The package also creates the `postgres` system
    # user, which the tests run the server as when they run as root (PostgreSQL refuses root).
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
    find_bin || {
        echo "postgresql installed but initdb, pg_ctl or postgres still not found" >&2
        exit 1
    }
    ;;
*)
    echo "usage: bash scripts/postgres.sh --install | --bin" >&2
    exit 2
    ;;
esac
