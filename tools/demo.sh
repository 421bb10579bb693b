#!/usr/bin/env bash
# demo.sh - the whole system on this machine: a Redis with its data under ./var, the API
# and dashboard on 127.0.0.1:8080, the scheduler, two workers and a simulated fleet with
# the cost optimizer. Ctrl-C stops everything it started.
#   LEVEL=1|2 (cost optimization level), PORT=8080
#   AGENTS=real: instead of the simulated fleet, two real node agents (bin/migrate-agent,
#   each in a network namespace of its own: needs root), a flying-squid Minecraft server
#   on the first and mineflayer bots building on it through bin/migrate-router, players
#   127.0.0.1:25565 (tests/real/demo.mjs); data under
#   ./var/real, started afresh each time.
set -euo pipefail
cd "$(dirname "$0")/.."
LEVEL=${LEVEL:-1}
PORT=${PORT:-8080}
AGENTS=${AGENTS:-sim}
VAR=$PWD/var
if [ "$AGENTS" = real ]; then
    VAR=$PWD/var/real
    rm -rf "$VAR/log" "$VAR/redis.sock" "$VAR/appendonlydir" # a real world of its own each time
fi
mkdir -p "$VAR/log"
pids=()

stop() {
    trap - INT TERM EXIT
    echo
    echo "demo: stopping ${#pids[@]} processes"
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    echo "demo: stopped; data kept in $VAR (rm -rf var to start afresh)"
}
trap stop INT TERM EXIT

token() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
if [ ! -f "$VAR/tokens" ]; then # readable by its owner alone: they are the API's keys
    (umask 077 && printf 'VIEWER=%s\nOPERATOR=%s\nOPTIMIZER=%s\n' "$(token)" "$(token)" "$(token)" > "$VAR/tokens")
fi
chmod 600 "$VAR/tokens" # one an older demo wrote for everyone to read
# shellcheck disable=SC1091
. "$VAR/tokens"

redis-server --port 0 --unixsocket "$VAR/redis.sock" --unixsocketperm 700 --dir "$VAR" \
    --appendonly yes --save "" --daemonize no --logfile "$VAR/log/redis.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$VAR/redis.sock" ] && break; sleep 0.05; done

export MIG_REDIS_URL="unix://$VAR/redis.sock"
export MIG_API_TOKENS="viewer:$VIEWER,operator:$OPERATOR,optimizer:$OPTIMIZER"
export MIG_COOLDOWN_S=${MIG_COOLDOWN_S:-120} MIG_IDLE_S=${MIG_IDLE_S:-20}
if [ "$AGENTS" = real ]; then
    export MIG_DRIVER_NODE_URL="http://{node_address}"     # the agents' own addresses
    export MIG_DRIVER_PROXY_URL="http://127.0.0.1:7071"    # the bridge of bin/migrate-router (tests/real/demo.mjs)
    MIG_DRIVER_TOKEN=$(token)
    export MIG_DRIVER_TOKEN
else
    export MIG_DRIVER_NODE_URL="http://127.0.0.1:7070/nodes/{node_id}"
    export MIG_DRIVER_PROXY_URL="http://127.0.0.1:7070/proxy"
fi
export MIG_RETRY_BACKOFF_MS=${MIG_RETRY_BACKOFF_MS:-10000}

run() { # name, program, args...
    local name=$1; shift
    "$@" 2>> "$VAR/log/$name.log" &
    pids+=($!)
}
if [ "$AGENTS" = real ]; then
    run api bin/migrate-api --api-listen="127.0.0.1:$PORT"
    # its progress on the terminal; stopped by pid with the rest (it stops what it started)
    VAR=$VAR MIG_API_URL="http://127.0.0.1:$PORT" MIG_API_TOKEN_OPTIMIZER=$OPTIMIZER MIG_BIN_DIR=bin \
        node tests/real/demo.mjs 2>> "$VAR/log/real-demo.log" &
    pids+=($!)
else
    run fleet-sim bin/fleet-sim --sim-listen=127.0.0.1:7070 --cost-level="$LEVEL" --cost-interval-s=15
    run api bin/migrate-api --api-listen="127.0.0.1:$PORT"
fi
run scheduler bin/migrate-scheduler
run worker-1 bin/migrate-worker --worker-id=worker-1
run worker-2 bin/migrate-worker --worker-id=worker-2

cat <<MSG

  Dashboard:  http://127.0.0.1:$PORT/
  Viewer token:    $VIEWER
  Operator token:  $OPERATOR
  $( [ "$AGENTS" = real ] && echo "Real agents: move Server-1 from Node-A to Node-B (dashboard: New migration; or migratectl create --server-id s1 --to-node-id nB --start-now: players are online)" || echo "Cost optimizer level $LEVEL: $( [ "$LEVEL" = 1 ] && echo "suggestions to approve appear within a minute" || echo "migrations run without approval once a server is idle")")
  Logs: $VAR/log/  (Ctrl-C stops everything)

MSG
# A short readable log: time, program, event and the migration, from the JSON lines.
logs=("$VAR"/log/{api,scheduler,worker-1,worker-2}.log)
[ "$AGENTS" = real ] || logs+=("$VAR/log/fleet-sim.log")
tail -n 0 -F "${logs[@]}" 2>/dev/null |
    sed -un 's/.*"ts":"[0-9-]*T\([0-9:]*\)[^"]*","level":"\([a-z]*\)","program":"\([a-z-]*\)","event":"\([^"]*\)"\(.*"migration_id":"\([^"]*\)"\)\{0,1\}.*/\1 \2 \3 \4 \6/p' |
    grep --line-buffered -v ' debug ' &
pids+=($!)
wait "${pids[0]}"
