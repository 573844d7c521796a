#!/usr/bin/env bash
# A private Docker engine for nodediag's tests and CI: Debian's dockerd with its own data-root,
# exec-root, socket, config and managed containerd, all under one state folder. It never touches
# a system daemon, /var/run/docker.sock or /etc/docker, and it has no bridge, no iptables rules
# and no forwarding: containers get `--network none` or share another container's namespace.
#
#   eval "$(bash tests/engine/dockerd.sh start)"   # prints: export DOCKER_HOST=unix://...
#   bash tests/engine/dockerd.sh status            # exit 0 when running
#   bash tests/engine/dockerd.sh stop              # removes containers, unmounts, deletes state
#
# State folder: $NODEDIAG_ENGINE_DIR (default /tmp/nodediag-engine).
set -euo pipefail

STATE="${NODEDIAG_ENGINE_DIR:-/tmp/nodediag-engine}"
SOCK="$STATE/docker.sock"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
HOST="unix://$SOCK"
START_TIMEOUT_S="${NODEDIAG_ENGINE_START_TIMEOUT:-30}"
STOP_TIMEOUT_S=20

say() { echo "dockerd.sh: $*" >&2; }
die() { say "$*"; exit 1; }

engine_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    # the pid must still be our dockerd, not a recycled pid
    tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -q -- "--exec-root $STATE/exec" || return 1
    echo "$pid"
}

answers() { DOCKER_HOST="$HOST" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

print_export() { echo "export DOCKER_HOST=$HOST"; }

# pids of our managed containerd and its shims (their command lines name our exec-root)
state_pids() {
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF -- "$STATE/exec/containerd/" && echo "${p#/proc/}"
    done
    return 0
}

# leftovers of an unclean stop: our managed containerd and shims (by pid, never by name)
kill_leftovers() {
    local left pids
    pids="$(state_pids)"
    [ -n "$pids" ] || return 0
    for left in $pids; do kill -TERM "$left" 2>/dev/null || true; done
    sleep 0.3
    for left in $(state_pids); do kill -KILL "$left" 2>/dev/null || true; done
    sleep 0.1
}

# another dockerd (a system one, another state folder) may rely on /run/docker/plugins
other_dockerd_running() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = "dockerd" ] && return 0
    done
    return 1
}

start() {
    command -v dockerd >/dev/null || die "dockerd is not installed: run 'bash .ci/setup' (Debian docker.io)"
    command -v docker >/dev/null || die "the docker CLI is not installed: run 'bash .ci/setup' (Debian docker.io)"
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    exec 9>"$STATE/.lock"
    flock -w 60 9 || die "another dockerd.sh holds $STATE/.lock"

    if engine_pid >/dev/null && answers; then
        say "engine already running (pid $(engine_pid))"
        print_export
        return 0
    fi
    if engine_pid >/dev/null; then
        die "dockerd (pid $(engine_pid)) runs but does not answer on $SOCK: run '$0 stop' first"
    fi

    # leftovers of a dockerd that died (kill -9, a reboot of the session): its containerd and
    # shims, mounts and pid file; the data-root (images) is kept
    kill_leftovers
    unmount_state
    rm -rf --one-file-system "$PIDFILE" "$STATE/exec"

    # Note whether /run/docker/plugins exists: this dockerd creates it (a hard-coded path), and
    # stop removes it again only if we made it and it is still empty.
    [ -e /run/docker ] || touch "$STATE/created-run-docker"
    # a config file of our own (so /etc/docker/daemon.json never applies) that also moves the
    # engine's identity key out of /etc/docker
    printf '{"deprecated-key-path": "%s/key.json"}\n' "$STATE" > "$STATE/daemon.json"
    rm -f "$SOCK"

    setsid dockerd \
        --config-file "$STATE/daemon.json" \
        --data-root "$STATE/data" \
        --exec-root "$STATE/exec" \
        --pidfile "$PIDFILE" \
        --host "$HOST" \
        --iptables=false --ip6tables=false --bridge=none \
        --ip-forward=false --ip-masq=false \
        --storage-driver=overlay2 \
        --exec-opt native.cgroupdriver=cgroupfs \
        </dev/null >"$LOG" 2>&1 9>&- &
    local launched=$! waited=0
    while ! answers; do
        if ! kill -0 "$launched" 2>/dev/null; then
            tail -n 15 "$LOG" >&2 || true
            die "dockerd exited during start-up (log above, full log in $LOG)"
        fi
        if [ "$waited" -ge $((START_TIMEOUT_S * 10)) ]; then
            tail -n 15 "$LOG" >&2 || true
            kill "$launched" 2>/dev/null || true
            die "dockerd did not answer on $SOCK within ${START_TIMEOUT_S}s (log in $LOG)"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    say "engine ready in $((waited / 10)).$((waited % 10))s (pid $launched, state $STATE)"
    print_export
}

unmount_state() {
    # deepest mount points first
    local mp
    awk -v s="$STATE" '{ gsub(/\\040/, " ", $5); if ($5 == s || index($5, s "/") == 1) print $5 }' \
        /proc/self/mountinfo | sort -r | while IFS= read -r mp; do
        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || say "could not unmount $mp"
    done
}

stop() {
    [ -d "$STATE" ] || { say "no engine state at $STATE: nothing to stop"; return 0; }
    exec 9>"$STATE/.lock"
    flock -w 60 9 || die "another dockerd.sh holds $STATE/.lock"
    local pid
    if pid="$(engine_pid)"; then
        if answers; then
            local ids
            ids="$(DOCKER_HOST="$HOST" docker ps -aq 2>/dev/null || true)"
            if [ -n "$ids" ]; then
                # shellcheck disable=SC2086
                DOCKER_HOST="$HOST" timeout 60 docker rm -f -v $ids >/dev/null 2>&1 \
                    || say "some containers could not be removed"
            fi
        fi
        kill -TERM "$pid" 2>/dev/null || true
        local waited=0
        while [ -d "/proc/$pid" ] && [ "$waited" -lt $((STOP_TIMEOUT_S * 10)) ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if [ -d "/proc/$pid" ]; then
            say "dockerd (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT_S}s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    kill_leftovers
    unmount_state
    if [ -f "$STATE/created-run-docker" ] && ! other_dockerd_running; then
        rmdir /run/docker/plugins 2>/dev/null || true
        rmdir /run/docker 2>/dev/null || true
    fi
    exec 9>&-
    rm -rf --one-file-system "$STATE"
    [ ! -e "$STATE" ] || die "could not delete $STATE"
    say "engine stopped, $STATE removed"
}

status() {
    local pid
    if pid="$(engine_pid)" && answers; then
        echo "running: pid $pid, DOCKER_HOST=$HOST, state $STATE"
        return 0
    fi
    echo "not running (state $STATE)"
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status   (state folder: \$NODEDIAG_ENGINE_DIR, default /tmp/nodediag-engine)" >&2
       exit 2 ;;
esac
