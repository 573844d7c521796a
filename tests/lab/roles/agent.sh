# Lab proving agent: `start --prover-agent`. Polls the broker every PROVER_AGENT_POLL_INTERVAL_MS
# (lab time) for a job, "proves" it for LAB_PROVE_MS, reporting progress at every poll (the poll
# interval is also the heartbeat period, as in the real agent), then reports success.
#
# Lab switches:
#   LAB_AGENT_OOM_ON_JOB=N  on its N-th job the agent loads a witness far larger than the
#                           container's memory limit into its own memory: the kernel OOM-kills it
#   LAB_VK_TREE_ROOT=0x..   the circuits vk tree root of this agent's release (default: the broker's,
#                           0x1a2b): another one makes it reject every job the broker hands it with
#                           ComponentsVersionsError, as the real JSON-RPC client does
# Without PROVER_BROKER_HOST it refuses to start like the real agent: one console line, exit 1.
. /roles/lib.sh
MOD="prover-client:proving-agent"
check_log_level
trap 'on_stop "$MOD" ProvingAgent' TERM INT

poll_ms="${PROVER_AGENT_POLL_INTERVAL_MS:-100}"
poll_s="$(lab_seconds "$poll_ms")"
prove_s="$(lab_seconds "${LAB_PROVE_MS:-10000}")"
agent="$(hostname)"
say "Starting Aztec with args: $*"
if [ -z "${PROVER_BROKER_HOST:-}" ]; then
    say "Missing prover broker URL. Pass --proverAgent.proverBrokerUrl <value>"
    exit 1
fi
log info "cli" "Starting proving agent" "{\"proverAgentCount\":${PROVER_AGENT_COUNT:-1},\"proverId\":\"${PROVER_ID:-}\"}"
log info "$MOD" "Proving agent started" "{\"pollIntervalMs\":$poll_ms}"

jobs_taken=0
while :; do
    nap "$poll_s"
    take="$BROKER_URL/cgi-bin/rpc?method=proverBroker_getProvingJob&agent=$agent"
    # one quick retry, like the client's own, before the failure is worth an error record
    if ! http "$take" && ! { nap 0.2; http "$take"; }; then
        log error "$MOD" "Error in running promise: Error: $(fetch_cause "$BROKER_URL")"
        stack "TCPConnectWrap.afterConnect@node:net" "fetch@foundation/dest/json-rpc/client/fetch.js"
        continue
    fi
    case "$HTTP_BODY" in *'"id":"'*) ;; *) continue ;; esac
    id="${HTTP_BODY#*\"id\":\"}"; id="${id%%\"*}"
    type="${HTTP_BODY#*\"type\":\"}"; type="${type%%\"*}"
    theirs="${HTTP_BODY#*\"vkTreeRoot\":\"}"; theirs="${theirs%%\"*}"
    mine="${LAB_VK_TREE_ROOT:-0x1a2b}"
    if [ "$theirs" != "$mine" ]; then
        log error "$MOD" "Error in running promise: ComponentsVersionsError: Expected component version L2 circuits vk tree root to be $mine but received $theirs"
        stack "checkCompressedComponentVersion@stdlib/dest/versioning/versioning.js" \
            "JsonRpcClient.request@foundation/dest/json-rpc/client/safe_json_rpc_client.js"
        continue
    fi
    jobs_taken=$((jobs_taken + 1))
    log info "$MOD:job-controller-$(random_hex 4)" "Starting job id=$id type=$type inputsUri=data:..."
    if [ "${LAB_AGENT_OOM_ON_JOB:-0}" -eq "$jobs_taken" ]; then
        # the witness is read into this shell's own memory: far above the memory limit
        witness="$(head -c "${LAB_AGENT_WITNESS_BYTES:-134217728}" /dev/zero | tr '\0' w)"
        log info "$MOD" "Loaded witness of ${#witness} bytes"
    fi
    began="$(date -u +%s)"
    end_at="$(awk -v b="$began" -v p="$prove_s" 'BEGIN { printf "%d", b + p + 0.999 }')"
    while [ "$(date -u +%s)" -lt "$end_at" ]; do
        nap "$poll_s"
        http "$BROKER_URL/cgi-bin/rpc?method=proverBroker_reportProvingJobProgress&id=$id" || true
    done
    took=$(( $(date -u +%s) - began ))
    if http "$BROKER_URL/cgi-bin/rpc?method=proverBroker_reportProvingJobSuccess&id=$id"; then
        log info "$MOD" "Job id=$id type=$type completed outputUri=data:..." "{\"durationMs\":$((took * LAB_MS_PER_SECOND))}"
    else
        log error "$MOD" "Error in running promise: Error: $(fetch_cause "$BROKER_URL")"
    fi
done
