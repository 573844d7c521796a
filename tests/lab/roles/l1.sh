# A lab L1 execution client (like an operator's own geth/anvil next to the prover): JSON-RPC on
# 127.0.0.1:8545 through cgi/l1. Not an Aztec role.
. /roles/lib.sh
serve_http 8545
echo "l1 rpc listening on 127.0.0.1:8545"
trap 'exit 0' TERM INT
while :; do nap 60; done
