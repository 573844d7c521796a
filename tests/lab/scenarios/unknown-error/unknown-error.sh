# The lab's prover node (roles/node.sh, run as is) with a second writer on its stderr: every
# lab second an ERROR in a wording no nodediag rule knows, and every other second a WARN.
. /roles/lib.sh
(
    n=0
    nap 1
    while :; do
        n=$((n + 1))
        log error "prover-node:checkpoint-sync" \
            "Checkpoint store refused slot $((4000 + n)): reconciliation cursor 0x$(random_hex 8) is behind by $n blocks"
        if [ $((n % 2)) -eq 0 ]; then
            log warn "p2p:gossip" "Dropping attestation batch $n from peer 16Uiu2HAm$(random_hex 6): stale view"
        fi
        nap 1
    done
) &
exec /bin/sh /roles/node.sh "$@"
