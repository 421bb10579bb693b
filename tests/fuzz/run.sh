#!/bin/sh
# run.sh - runs each fuzz target of `make fuzz` for a bounded time, one at a time, and
# reports every crash: run.sh <build dir> <seconds> <target>...
# A target starts from its seed corpus (tests/fuzz/corpus/<name>/, in the repository) and
# the inputs earlier runs found (<build dir>/corpus/<name>/, where new ones are written).
# A crash leaves its input in <build dir>/crashes/<name>-crash-*; replay it with
# `<build dir>/tests/fuzz/<name> <file>`. Exits 1 when any target crashed.
set -u
B=$1
SECONDS_EACH=$2
shift 2
failed=""
for t in "$@"; do
    mkdir -p "$B/corpus/$t" "$B/crashes"
    echo "fuzz: $t for ${SECONDS_EACH}s"
    if ! "$B/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix="$B/crashes/$t-" "$B/corpus/$t" "tests/fuzz/corpus/$t" \
        >"$B/$t.log" 2>&1; then
        failed="$failed $t"
        echo "fuzz: $t CRASHED; see $B/$t.log and $B/crashes/$t-*"
        grep -m1 -E "ERROR|runtime error|SUMMARY" "$B/$t.log"
    else
        grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$B/$t.log" | tr '\n' ' '
        echo
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: crashes in:$failed"
    exit 1
fi
echo "fuzz: no crash in $*"
