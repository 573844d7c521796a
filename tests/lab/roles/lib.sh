# Shared helpers for the failure lab's roles (busybox ash), sourced by node.sh, broker.sh, agent.sh
# and the broker's CGI program. Extended from tests/fixtures/roles/lib.sh: the lab's roles talk to
# each other for real (the node enqueues jobs over HTTP, agents take them, the broker times them
# out), so a failure in one role reaches the others the way it does in a real deployment.
#
# Writes pino "pretty" records like the real image:
#   [HH:MM:SS.mmm] INFO: prover-client:proving-broker Message {"k":"v"}
# to STDERR (pino's stream), or pino JSON records when LOG_JSON is set.
#
# Lab time: every *_MS setting keeps its real value in the environment (what an operator would
# write, what the collector and analyzer read) and is divided by LAB_MS_PER_SECOND (default 10000)
# when the scripts wait, so 30000 ms of real time take 3 s here.

LAB_MS_PER_SECOND="${LAB_MS_PER_SECOND:-10000}"
BROKER_URL="${PROVER_BROKER_HOST:-http://127.0.0.1:8080}"

# log, stack, say, check_log_level, nap, on_stop: shared with tests/fixtures/roles
. /common/common.sh


# lab_seconds MS: a real-time setting in milliseconds as lab seconds (fractional, at least 0.1)
lab_seconds() {
    awk -v ms="$1" -v per="$LAB_MS_PER_SECOND" 'BEGIN { s = ms / per; if (s < 0.1) s = 0.1; printf "%.2f", s }'
}

# http GET URL: 0 when it answered 2xx; HTTP_BODY holds the body, HTTP_ERR wget's complaint.
# busybox 1.35 wget segfaults with -T: bound it with timeout instead. 10 s, the real client's fetch
# timeout (the "timeout: 10000ms" fetch_cause prints): the broker's CGI answers in milliseconds, but on a
# loaded machine running every lab engine at once it took more than 3 s, and a healthy deployment's
# node logged "broker could not be reached". No scenario depends on a request timing out.
http() {
    _out="/tmp/http.$$.out"; _err="/tmp/http.$$.err"
    if timeout 10 wget -q -O "$_out" "$1" 2>"$_err"; then
        HTTP_BODY="$(cat "$_out")"; HTTP_ERR=""; rm -f "$_out" "$_err"; return 0
    fi
    HTTP_BODY="$(cat "$_out" 2>/dev/null)"; HTTP_ERR="$(cat "$_err")"; rm -f "$_out" "$_err"
    [ -n "$HTTP_ERR" ] || HTTP_ERR="wget: download timed out"
    return 1
}

# the Node.js error a failed fetch of URL would have carried, from wget's complaint in HTTP_ERR
fetch_cause() {
    _hostport="${1#*://}"; _hostport="${_hostport%%/*}"; _host="${_hostport%%:*}"
    case "$HTTP_ERR" in
        *"Connection refused"*) echo "connect ECONNREFUSED $_hostport" ;;
        *"bad address"*) echo "getaddrinfo ENOTFOUND $_host" ;;
        *"timed out"*) echo "Connect Timeout Error (attempted address: $_hostport, timeout: 10000ms)" ;;
        *) echo "$HTTP_ERR" ;;
    esac
}

# the HTTP status in a wget complaint ("server returned error: HTTP/1.1 500 ..."), or nothing
http_status() {
    case "$HTTP_ERR" in
        *"server returned error: HTTP/1."?" "*) _rest="${HTTP_ERR#*HTTP/1.? }"; echo "${_rest%% *}" ;;
        *) echo "" ;;
    esac
}

# rpc METHOD QUERY: a JSON-RPC call to the broker (the lab's broker takes it as GET
# /cgi-bin/rpc?method=METHOD&QUERY). On failure, logs what the real JsonRpcClient logs and returns 1.
rpc() {
    _url="$BROKER_URL/cgi-bin/rpc?method=$1&$2"
    http "$_url" && return 0
    _code="$(http_status)"
    if [ -n "$_code" ]; then
        log error "json-rpc:json_rpc_client" "Error $_code response from server $BROKER_URL on $1: Internal Server Error"
    else
        log error "json-rpc:json_rpc_client" "Error fetching from host $BROKER_URL: TypeError: fetch failed"
        json_mode || echo "  [cause]: Error: $(fetch_cause "$BROKER_URL")" >&2
        stack "node:internal/deps/undici/undici@node:internal/deps/undici/undici.js" \
            "defaultFetch@foundation/dest/json-rpc/client/fetch.js"
    fi
    log warn "json-rpc:json_rpc_client" "JsonRpcClient request $1 to $BROKER_URL failed. Will retry in 1s..."
    return 1
}

# a status server on 127.0.0.1:PORT: GET /status answers 200 (empty body); CGI programs under
# /cgi-bin/ (copied from /roles/cgi) serve the broker's JSON-RPC methods. Runs in the background,
# in the foreground of its own process so that CGI programs log to this container's stderr.
serve_http() {
    _port="$1"; _www="/tmp/www-$_port"
    mkdir -p "$_www/cgi-bin"
    : > "$_www/status"
    if [ -d /roles/cgi ]; then
        cp /roles/cgi/* "$_www/cgi-bin/"
        chmod 755 "$_www/cgi-bin/"*
    fi
    httpd -f -p "127.0.0.1:$_port" -h "$_www" &
    HTTPD_PID=$!
}

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
