# Lab prover node: `start --prover-node --archiver`. Serves GET /status on AZTEC_PORT and proves
# epochs through the broker: enqueues LAB_JOBS_PER_EPOCH jobs, polls their status until all are
# fulfilled, finalises the proof and submits it to L1 (LAB_L1_RPC_URL, a lab L1 RPC; without one
# the submission is taken as done). When the broker stops answering for LAB_NODE_GIVE_UP polls in
# a row, the epoch job ends and its broker facade rejects every outstanding job ("Broker facade
# stopped"), as the real orchestrator does.
#
# Lab switches:
#   LAB_NODE_HEAP_OOM_AT_EPOCH=N  in the N-th epoch after start the heap is exhausted: V8's
#                                 report, then a real SIGABRT (the container needs `init: true`)
. /roles/lib.sh
MOD="prover-node"
PORT="${AZTEC_PORT:-8080}"
JOBS="${LAB_JOBS_PER_EPOCH:-4}"
GIVE_UP="${LAB_NODE_GIVE_UP:-5}"
check_log_level
trap 'on_stop "$MOD" ProverNode' TERM INT

say "Starting Aztec with args: $*"
log info "cli" "Starting prover node" "{\"version\":\"2.1.2\",\"network\":\"testnet\"}"
log info "prover-node:config" "Publisher account loaded" \
    "{\"address\":\"${PROVER_ID:-}\",\"privateKey\":\"${PROVER_PUBLISHER_PRIVATE_KEY:-}\"}"
log info "archiver" "Archiver connected to L1" "{\"l1RpcUrl\":\"${ETHEREUM_HOSTS%%,*}\"}"
serve_http "$PORT"
log info "aztec:http" "Aztec Server listening on port $PORT" "{\"port\":$PORT}"

heap_oom() {
    limit="$(echo "${NODE_OPTIONS:-}" | sed -n 's/.*--max-old-space-size=\([0-9]*\).*/\1/p')"
    limit="${limit:-4096}"
    cat >&2 <<V8

<--- Last few GCs --->

[1:0x5581c7a4e000]   612345 ms: Mark-Compact $limit.2 ($((limit + 83)).5) -> $((limit - 1)).8 ($((limit + 84)).0) MB, 2811.33 / 0.00 ms  (average mu = 0.112, current mu = 0.004) allocation failure; scavenge might not succeed
[1:0x5581c7a4e000]   615201 ms: Mark-Compact $limit.9 ($((limit + 84)).0) -> $limit.3 ($((limit + 84)).2) MB, 2799.10 / 0.00 ms  (average mu = 0.061, current mu = 0.002) allocation failure; scavenge might not succeed

<--- JS stacktrace --->

FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory
----- Native stack trace -----

 1: 0xb8d0a3 node::OOMErrorHandler(char const*, v8::OOMDetails const&) [node]
 2: 0xf06250 v8::Utils::ReportOOMFailure(v8::internal::Isolate*, char const*, v8::OOMDetails const&) [node]
 3: 0xf06537 v8::internal::V8::FatalProcessOutOfMemory(v8::internal::Isolate*, char const*, v8::OOMDetails const&) [node]
V8
    kill -ABRT $$
    exit 134  # reached only when this shell is PID 1 (which ignores the signal)
}

submit_to_l1() {
    if [ -z "${LAB_L1_RPC_URL:-}" ]; then
        SUBMIT_TX="0x$(random_hex 32)"; return 0
    fi
    if http "$LAB_L1_RPC_URL/cgi-bin/l1?method=eth_sendRawTransaction&epoch=$1" \
        && case "$HTTP_BODY" in *'"error"'*) false ;; *) true ;; esac; then
        SUBMIT_TX="${HTTP_BODY#*\"result\":\"}"; SUBMIT_TX="${SUBMIT_TX%%\"*}"
        return 0
    fi
    case "$HTTP_BODY" in
        *'"message":"'*) SUBMIT_ERR="${HTTP_BODY#*\"message\":\"}"; SUBMIT_ERR="${SUBMIT_ERR%%\"*}" ;;
        *) SUBMIT_ERR="$(fetch_cause "$LAB_L1_RPC_URL")" ;;
    esac
    return 1
}

# stop the epoch's broker facade: every job still outstanding is rejected
facade_stopped() {
    for _job in $outstanding; do
        log error "prover-client:orchestrator" "Error thrown when proving job: Error: Broker facade stopped"
        stack "BrokerCircuitProverFacade.stop@prover-client/dest/proving_broker/broker_prover_facade.js" \
            "async EpochProvingJob.run@prover-node/dest/job/epoch-proving-job.js"
    done
}

epoch="${LAB_FIRST_EPOCH:-1201}"
epochs_run=0
while :; do
    epochs_run=$((epochs_run + 1))
    log info "$MOD" "Starting epoch $epoch proving job with $JOBS blocks" "{\"epochNumber\":$epoch}"
    outstanding=""
    failures=0
    k=0
    # each job is enqueued with the client's retries; a job that cannot be enqueued fails the epoch
    while [ "$k" -lt "$JOBS" ] && [ "$failures" -lt "$GIVE_UP" ]; do
        k=$((k + 1))
        types="PUBLIC_BASE_ROLLUP MERGE_ROLLUP BLOCK_ROOT_ROLLUP ROOT_PARITY"
        type="$(echo "$types" | cut -d' ' -f$(( (k - 1) % 4 + 1 )))"
        job="$epoch-$k"
        outstanding="$outstanding $job"
        until rpc proverBroker_enqueueProvingJob "id=$job&type=$type&epoch=$epoch"; do
            failures=$((failures + 1))
            [ "$failures" -lt "$GIVE_UP" ] || break
            nap 1
        done
        # the facade's line once the broker took it (VERBOSE, as @aztec/prover-client logs it)
        [ "$failures" -lt "$GIVE_UP" ] && log verbose "prover-client:broker-circuit-prover-facade" \
            "Job enqueued with broker id=$job type=$type epochNumber=$epoch" "{\"provingJobId\":\"$job\"}"
    done
    if [ "${LAB_NODE_HEAP_OOM_AT_EPOCH:-0}" -eq "$epochs_run" ]; then
        log verbose "world-state:database" "Reading public data tree for epoch $epoch"
        heap_oom
    fi
    while [ -n "$outstanding" ] && [ "$failures" -lt "$GIVE_UP" ]; do
        nap 1
        left=""
        for job in $outstanding; do
            if rpc proverBroker_getProvingJobStatus "id=$job"; then
                failures=0
                case "$HTTP_BODY" in
                    *fulfilled*) log verbose "prover-client:broker-circuit-prover-facade" "Resolved proving job id=$job" ;;
                    *) left="$left $job" ;;
                esac
            else
                failures=$((failures + 1))
                left="$left $job"
                break
            fi
        done
        [ "$failures" -gt 0 ] && left="$outstanding"
        outstanding="$left"
    done
    if [ -n "$outstanding" ]; then
        facade_stopped
        log warn "$MOD" "Job for $epoch exited with state stopped"
    else
        log info "$MOD" "Finalised proof for epoch $epoch" "{\"epochNumber\":$epoch,\"blocks\":$JOBS}"
        if submit_to_l1 "$epoch"; then
            log info "$MOD" "Submitted proof for epoch $epoch" "{\"txHash\":\"$SUBMIT_TX\",\"epochNumber\":$epoch}"
        else
            log error "prover-node:l1-tx-utils" "Rollup submit epoch proof failed: Error: $SUBMIT_ERR"
            stack "L1TxUtils.sendTransaction@ethereum/dest/l1_tx_utils.js" \
                "ProverNodePublisher.submitEpochProof@prover-node/dest/prover-node-publisher.js"
            log error "$MOD" "Failed to submit epoch proof to L1" "{\"epochNumber\":$epoch}"
        fi
    fi
    epoch=$((epoch + 1))
    nap "${LAB_EPOCH_GAP_S:-2}"
done
