#!/usr/bin/env bash
# Finds, or installs, the Prometheus server binary that the tests start a throwaway server from
# (e2e/prometheus.ts). Nothing here leaves a server running.
#
# Usage: scripts/prometheus.sh --install   install Debian's prometheus package if the binary is
#                                          missing, then print its path
#        scripts/prometheus.sh --bin       print the binary's path (exit 1 if it is missing)
#
# Debian's package ships an init script and a systemd unit, and its postinst starts the service
# (`invoke-rc.d prometheus start`, i.e. start-stop-daemon, as the `prometheus` user, on :9090,
# data in /var/lib/prometheus) when the machine's init lets it, failing the install if that start
# fails. The tests want no such daemon: a policy-rc.d that denies starting services is in place
# for the duration of the install, and a daemon that was started anyway is stopped afterwards.
set -euo pipefail

# The same search as e2e/prometheus.ts: keep the two in step.
find_bin() {
    local bin
    for bin in "$(command -v prometheus || true)" /usr/bin/prometheus; do
        if [[ -n "$bin" && -x "$bin" ]]; then
            echo "$bin"
            return 0
        fi
    done
    return 1
}

POLICY=/usr/sbin/policy-rc.d
POLICY_BACKUP="$POLICY.model-release-backup"

# True if the machine's policy-rc.d already refuses to start prometheus (Docker images ship one
# that refuses everything: `exit 101`).
policy_denies() {
    local rc=0
    [[ -x "$POLICY" ]] || return 1
    "$POLICY" prometheus start >/dev/null 2>&1 || rc=$?
    [[ $rc -eq 101 ]]
}

restore_policy() {
    "${sudo[@]}" rm -f "$POLICY"
    if [[ -e "$POLICY_BACKUP" ]]; then
        "${sudo[@]}" mv -f "$POLICY_BACKUP" "$POLICY"
    fi
}

# Stops a daemon that the package's init script or systemd unit started despite the policy.
stop_daemon() {
    if [[ -d /run/systemd/system ]] && systemctl --quiet is-active prometheus.service 2>/dev/null; then
        echo "[prometheus] stopping the prometheus.service the package started" >&2
        "${sudo[@]}" systemctl stop prometheus.service
    fi
    if [[ -f /run/prometheus/prometheus.pid ]]; then
        echo "[prometheus] stopping the daemon the package's init script started" >&2
        "${sudo[@]}" start-stop-daemon --stop --quiet --oknodo --retry=TERM/30/KILL/5 \
            --exec /usr/bin/prometheus --pidfile /run/prometheus/prometheus.pid --remove-pidfile
    fi
}

case "${1:-}" in
--bin)
    find_bin || {
        echo "prometheus not found on PATH or in /usr/bin (run: bash scripts/prometheus.sh --install)" >&2
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
    if ! policy_denies; then
        if [[ -e "$POLICY" ]]; then
            "${sudo[@]}" mv -f "$POLICY" "$POLICY_BACKUP"
        fi
        trap restore_policy EXIT
        printf '#!/bin/sh\n# scripts/prometheus.sh: no service starts during its install\nexit 101\n' |
            "${sudo[@]}" tee "$POLICY" >/dev/null
        "${sudo[@]}" chmod 755 "$POLICY"
    fi
    echo "[prometheus] installing Debian's prometheus package" >&2
    "${sudo[@]}" apt-get update
    # noninteractive: no debconf prompts on CI. No recommends: prometheus-node-exporter would
    # be another daemon (on :9100) the tests do not want. The lock timeout waits for another apt
    # (e.g. unattended-upgrades) instead of failing.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=300 prometheus
    stop_daemon
    find_bin || {
        echo "prometheus installed but its binary still not found" >&2
        exit 1
    }
    ;;
*)
    echo "usage: bash scripts/prometheus.sh --install | --bin" >&2
    exit 2
    ;;
esac
