# Lab proving broker: `start --prover-broker`. A real job queue: the node enqueues jobs and agents
# take, heartbeat and complete them over HTTP (cgi/rpc, served by busybox httpd on AZTEC_PORT);
# this loop re-queues a job whose agent has not reported for PROVER_BROKER_JOB_TIMEOUT_MS (lab
# time). Jobs persist as files in DATA_DIRECTORY, and each enqueue appends to its job store, so a
# small data volume really fills up.
#
# Lab switches (scenario environment):
#   LAB_BROKER_DIE_AFTER_S=N   SIGKILL this process N s after start, once jobs are in flight
#                              (the container needs `init: true`: PID 1 ignores signals)
#   LAB_BROKER_DIE_IDLE=1      ... even with no job in flight (a broker nobody uses yet)
#   LAB_BROKER_FAIL_AFTER_S=N  N s after start the server turns unhealthy: every request,
#                              GET /status included, answers HTTP 500
. /roles/lib.sh
MOD="prover-client:proving-broker"
PORT="${AZTEC_PORT:-8080}"
DATA="${DATA_DIRECTORY:-/data}"
Q="$DATA/queue"
check_log_level
trap 'on_stop "$MOD" ProvingBroker' TERM INT

say "Starting Aztec with args: $*"
log info "cli" "Starting proving broker" "{\"dataDirectory\":\"$DATA\"}"
log info "kv-store:lmdb-v2:proving-broker" "Starting data store with maxReaders 16"
mkdir -p "$Q/queued" "$Q/active" "$Q/done"
: >> "$DATA/proving-jobs.mdb"
timeout_ms="${PROVER_BROKER_JOB_TIMEOUT_MS:-30000}"
timeout_s="$(lab_seconds "$timeout_ms")"
export BROKER_QUEUE="$Q" BROKER_STORE="$DATA/proving-jobs.mdb"
serve_http "$PORT"
log info "$MOD" "Proving Broker started" "{\"jobTimeoutMs\":$timeout_ms,\"maxRetries\":${PROVER_BROKER_JOB_MAX_RETRIES:-3}}"
log info "aztec:http" "Aztec Server listening on port $PORT" "{\"port\":$PORT}"

started="$(date -u +%s)"
failing=""
while :; do
    nap 0.5
    now="$(date -u +%s)"
    # re-queue jobs whose agent went quiet (heartbeat = mtime of the active file)
    for job in "$Q"/active/*; do
        [ -f "$job" ] || continue
        age=$((now - $(stat -c %Y "$job" 2>/dev/null || echo "$now")))
        # mtimes are whole seconds, so an age can read up to 1 s short: allow for it, as the
        # real broker (millisecond clock) sees a heartbeat that is late by any amount as late
        if awk -v a="$age" -v t="$timeout_s" 'BEGIN { exit !(a >= t - 1) }'; then
            id="$(basename "$job")"
            read -r type attempts _agent < "$job" || true
            echo "$type $attempts" > "$job"  # drop the agent before the job is visible again
            if mv "$job" "$Q/queued/$id" 2>/dev/null; then
                log warn "$MOD" "Proving job id=$id timed out. Adding it back to the queue." \
                    "{\"type\":\"$type\",\"timeoutMs\":$timeout_ms}"
            fi
        fi
    done
    in_flight="$(find "$Q/queued" "$Q/active" -type f | wc -l)"
    if [ -n "${LAB_BROKER_DIE_AFTER_S:-}" ] && [ $((now - started)) -ge "$LAB_BROKER_DIE_AFTER_S" ] \
        && { [ "$in_flight" -gt 0 ] || [ -n "${LAB_BROKER_DIE_IDLE:-}" ]; }; then
        kill -KILL $$
    fi
    if [ -n "${LAB_BROKER_FAIL_AFTER_S:-}" ] && [ -z "$failing" ] \
        && [ $((now - started)) -ge "$LAB_BROKER_FAIL_AFTER_S" ]; then
        failing=1
        kill "$HTTPD_PID" 2>/dev/null; wait "$HTTPD_PID" 2>/dev/null
        # busybox httpd runs CGI only under /cgi-bin/, so an unhealthy server is an nc loop
        # answering 500 to every request (GET /status and JSON-RPC alike)
        nc -ll -p "$PORT" -e /roles/http-500.sh &
    fi
done
