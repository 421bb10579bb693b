#!/bin/sh
# image.sh - `make test-image` (optional, not part of `make test`): builds deploy/Dockerfile
# with podman and runs the stack from the image on this machine: Redis (the host's
# redis-server), fleet-sim as the node agents and proxy, migrate-api, migrate-scheduler
# and migrate-worker, each a container of the one image on the host's network; then
# migratectl, from the image too, moves a server and waits until the move completed.
#
# Needs podman and runc (Debian: apt-get install podman runc). The base image
# debian:bookworm-slim is pulled when a registry answers, else made from Debian's
# packages with debootstrap (apt-get install debootstrap), since some machines reach the
# Debian mirror and nothing else.
set -eu
cd "$(dirname "$0")/../.."
IMAGE=localhost/migrate:test
BASE=docker.io/library/debian:bookworm-slim
# Sandboxes that refuse raising process limits make runc fail on podman's defaults:
# ask for limits under the current ones, which anyone may set.
LIMITS="--ulimit nofile=4096:4096 --ulimit nproc=1000:1000"
passed=0
failed=0
tmp=$(mktemp -d)
redis_pid=""
names=""

cleanup() {
    for n in $names; do podman rm -f -t 5 "$n" >/dev/null 2>&1 || true; done
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

check() { # name, command...
    name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok - $name"
    else
        failed=$((failed + 1))
        echo "not ok - $name"
    fi
}

command -v podman >/dev/null 2>&1 || { echo "test-image: podman is not installed (apt-get install podman runc)" >&2; exit 1; }

if ! podman image exists "$BASE"; then
    if ! timeout 60 podman pull -q "$BASE" >/dev/null 2>&1; then
        command -v debootstrap >/dev/null 2>&1 ||
            { echo "test-image: no registry answers and debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
        echo "test-image: making $BASE with debootstrap"
        # the mirror this machine's apt uses (debootstrap's own default when none is found)
        mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
        [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
        # shellcheck disable=SC2086
        debootstrap --variant=minbase bookworm "$tmp/rootfs" $mirror >"$tmp/debootstrap.log" 2>&1 ||
            { tail "$tmp/debootstrap.log" >&2; exit 1; }
        rm -rf "$tmp"/rootfs/var/cache/apt/archives/*.deb
        tar -C "$tmp/rootfs" -c . | podman import -q - "$BASE" >/dev/null
        rm -rf "$tmp/rootfs"
    fi
fi

# shellcheck disable=SC2086
check "the image builds from deploy/Dockerfile" \
    sh -c "podman build -q --network=host $LIMITS -f deploy/Dockerfile -t $IMAGE . >'$tmp/build.log' 2>&1 || { tail -20 '$tmp/build.log'; exit 1; }"
[ "$failed" -eq 0 ] || { echo "0 passed, 1 failed"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
SPORT=$(free_port)
APORT=$(free_port)
PW=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
TOKEN=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
redis-server --port "$RPORT" --bind 127.0.0.1 --requirepass "$PW" --save "" --appendonly no \
    --daemonize no --logfile "$tmp/redis.log" &
redis_pid=$!

run() { # name, program, args...
    n=$1
    shift
    names="$names $n"
    # shellcheck disable=SC2086
    podman run -d --rm --name "$n" --network=host $LIMITS \
        -e MIG_REDIS_URL="redis://:$PW@127.0.0.1:$RPORT/0" -e MIG_API_TOKENS="operator:$TOKEN" \
        -e MIG_DRIVER_NODE_URL="http://127.0.0.1:$SPORT/nodes/{node_id}" \
        -e MIG_DRIVER_PROXY_URL="http://127.0.0.1:$SPORT/proxy" \
        "$IMAGE" "$@" >/dev/null
}
run migtest-sim fleet-sim --sim-listen="127.0.0.1:$SPORT" --sim-zero-delays=1 --sim-nodes=3 --sim-servers=4
run migtest-api migrate-api --api-listen="127.0.0.1:$APORT"
run migtest-scheduler migrate-scheduler
run migtest-worker migrate-worker

ctl() { podman run --rm --network=host $LIMITS -e MIG_API_URL="http://127.0.0.1:$APORT" -e MIG_API_TOKEN="$TOKEN" "$IMAGE" migratectl "$@"; }

ready() {
    for _ in $(seq 150); do
        curl -fs "http://127.0.0.1:$APORT/readyz" >/dev/null 2>&1 &&
            curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$APORT/api/servers" | grep -q '"total":[1-9]' &&
            return 0
        sleep 0.2
    done
    podman logs migtest-api 2>&1 | tail -5
    return 1
}
check "migrate-api from the image is ready and fleet-sim put its inventory" ready

moved() {
    servers=$(curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$APORT/api/servers")
    nodes=$(curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$APORT/api/nodes")
    pick=$(printf '%s\n%s\n' "$servers" "$nodes" | python3 -c '
import json, sys
servers, nodes = (json.loads(l) for l in sys.stdin.read().splitlines()[:2])
s = servers["items"][0]
n = next(n for n in nodes["items"] if n["id"] != s["node_id"])
print(s["id"], n["id"])')
    set -- $pick
    id=$(ctl create --server-id "$1" --to-node-id "$2" --start-now --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') || return 1
    for _ in $(seq 120); do
        status=$(ctl show "$id" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
        case $status in
        completed) return 0 ;;
        failed | cancelled) ctl show "$id"; return 1 ;;
        esac
        sleep 1
    done
    ctl show "$id"
    return 1
}
check "migratectl from the image moves a server and the migration completes" moved

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
