#!/bin/bash
# run.sh - `make test-containers`: the agent's docker runtime against podman's
# Docker-compatible service on this machine, without any registry.
#   1. podman (and runc) from Debian when missing (apt-get; sudo when not root);
#   2. an image imported from a tarball: busybox-static and tests/support/mcfake with the
#      libraries it links, so nothing is pulled;
#   3. one `podman run` as a preflight: a machine that cannot run containers (no user
#      namespaces, no cgroups, a seccomp'd sandbox) makes this script print SKIPPED and why,
#      and exit 0 only then;
#   4. `podman system service` on a unix socket in a temp dir, stopped by its PID at the
#      end whatever happens, and the Check runner of tests/containers/ against it.
# Usage: run.sh <build dir>  (the runner, bin/migrate-agent and tests/support/mcfake in it)
set -u
B=${1:?usage: run.sh <build dir>}
RUNNER=$B/tests/containers/run
MCFAKE=$B/tests/support/mcfake
for f in "$RUNNER" "$B/bin/migrate-agent" "$MCFAKE"; do
    [ -x "$f" ] || { echo "test-containers: $f is not built" >&2; exit 2; }
done

skip() {
    echo "test-containers: SKIPPED: $*"
    exit 0
}

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! command -v podman >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
    echo "test-containers: installing podman, runc and busybox-static (Debian packages)"
    $SUDO apt-get install -y podman runc busybox-static >/dev/null 2>&1 ||
        skip "podman could not be installed (apt-get install podman runc busybox-static failed)"
fi
# crun refuses a machine with cgroups in hybrid mode (v1 controllers with a v2 mount);
# runc runs there, so it is preferred when present.
OCI=
command -v runc >/dev/null 2>&1 && OCI="--runtime runc"

T=$(mktemp -d /tmp/mig-containers-XXXXXX)
SVC=
cleanup() {
    if [ -n "$SVC" ]; then
        kill "$SVC" 2>/dev/null
        wait "$SVC" 2>/dev/null
    fi
    # the storage of this run only (its own --root): containers and the image go with it
    $P rm -af >/dev/null 2>&1
    rm -rf "$T"
}
# its own storage and state: nothing of the machine's podman is touched; vfs needs no
# overlay support; cgroupfs no systemd; file events no journald
P="podman --root $T/storage --runroot $T/run --tmpdir $T/tmp --storage-driver vfs --cgroup-manager cgroupfs --events-backend file $OCI"
trap cleanup EXIT
trap 'exit 1' INT TERM

# the image: busybox and mcfake with its libraries, imported
R=$T/rootfs
mkdir -p "$R/bin" "$R/usr/local/bin" "$R/tmp"
cp "$(command -v busybox)" "$R/bin/busybox"
for c in sh ls cat sleep true; do ln -s busybox "$R/bin/$c"; done
cp "$MCFAKE" "$R/usr/local/bin/mcfake"
for lib in $(ldd "$MCFAKE" | awk '/=>/ {print $3} /^\t\/.*ld-linux/ {print $1}'); do
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
done
IMAGE=localhost/mig-agent-test:latest
tar -C "$R" -cf "$T/rootfs.tar" . || skip "cannot make the image tarball"
$P import "$T/rootfs.tar" "$IMAGE" >"$T/import.log" 2>&1 || skip "podman import failed: $(tail -1 "$T/import.log")"

# can this machine run a container at all? With the limits the agent asks by default
# (MIG_AGENT_DOCKER_ULIMITS=own: its hard nofile and nproc); an engine without
# CAP_SYS_RESOURCE may be unable to give those, so lower nproc values are tried and the
# one that works is given to the agent of the tests (and said here).
NOFILE=$(ulimit -Hn); NPROC=$(ulimit -Hu)
ULIMITS=own
ok=
for np in "$NPROC" 65536 32768 16384 4096; do
    UL=
    [ "$NOFILE" = unlimited ] || UL="$UL --ulimit nofile=$NOFILE:$NOFILE"
    [ "$np" = unlimited ] || UL="$UL --ulimit nproc=$np:$np"
    if timeout 120 $P run --rm --network host --memory 64m $UL "$IMAGE" /bin/true >"$T/preflight.log" 2>&1; then
        ok=1
        if [ "$np" != "$NPROC" ]; then
            ULIMITS="nproc=$np"
            [ "$NOFILE" = unlimited ] || ULIMITS="nofile=$NOFILE,$ULIMITS"
            echo "test-containers: the engine cannot give nproc=$NPROC (the agent's own); the tests' agent uses MIG_AGENT_DOCKER_ULIMITS=$ULIMITS"
        fi
        break
    fi
    grep -q "rlimit" "$T/preflight.log" || break # another failure: lower limits will not help
done
[ -n "$ok" ] || skip "this machine cannot run a container with podman ($(tail -1 "$T/preflight.log"))"
echo "test-containers: podman runs containers here (${OCI:-default OCI runtime}, cgroupfs, vfs, host network)"

SOCK=$T/podman.sock
$P system service --time 0 "unix://$SOCK" >"$T/service.log" 2>&1 &
SVC=$!
i=0
until curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 "$SVC" 2>/dev/null; then
        echo "test-containers: podman system service did not answer on $SOCK:" >&2
        tail -5 "$T/service.log" >&2
        exit 1
    fi
    sleep 0.1
done

MIG_BIN_DIR=$B/bin MIG_TEST_DOCKER_SOCKET=$SOCK MIG_TEST_DOCKER_IMAGE=$IMAGE MIG_TEST_DOCKER_ULIMITS=$ULIMITS "$RUNNER"
rc=$?
[ $rc = 0 ] || { echo "test-containers: podman service log:"; tail -20 "$T/service.log"; }
exit $rc
