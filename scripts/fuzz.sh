#!/usr/bin/env bash
# Runs cargo-fuzz targets for a bounded time each and prints, per target,
# how many inputs ran and how many crashed; exits 1 if any crashed or did
# not run. `make fuzz` calls it (after installing nightly and cargo-fuzz).
#
#   scripts/fuzz.sh SECONDS [TARGET ...]   # default: every fuzz/fuzz_targets/*.rs
#
# Findings land in fuzz/artifacts/TARGET/ (reproduce one with
# `cd fuzz && cargo +nightly fuzz run TARGET artifacts/TARGET/crash-...`);
# the corpus grows in fuzz/corpus/TARGET/ and is reused by the next run.
set -euo pipefail

seconds=${1:?usage: $0 SECONDS [TARGET ...]}
shift
cd "$(dirname "$0")/../fuzz"
targets=("$@")
if ((${#targets[@]} == 0)); then
    for f in fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

# One build for all targets, so a compile error stops everything at once.
cargo +nightly fuzz build

logs=$(mktemp -d)
rows=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    echo "fuzz: $t for ${seconds} s (log: $logs/$t.log)"
    rc=0
    cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -print_final_stats=1 \
        >"$logs/$t.log" 2>&1 || rc=$?
    crashes=$(($(find "artifacts/$t" -type f | wc -l) - before))
    # libFuzzer's final stats (printed on crashes too); else its last status line.
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$logs/$t.log" | tail -n 1)
    if [[ -z $execs ]]; then
        execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$logs/$t.log" | tail -n 1)
    fi
    note=""
    if ((crashes > 0)); then
        note="see fuzz/artifacts/$t/"
    elif ((rc != 0)); then
        # Failed without leaving an input behind (a build or start-up error).
        crashes="?"
        note="exit $rc, see $logs/$t.log"
    fi
    if [[ $crashes != 0 ]]; then
        failed=1
        tail -n 30 "$logs/$t.log" >&2
    fi
    rows+=("$(printf '%-20s %14s %8s  %s' "$t" "${execs:-?}" "$crashes" "$note")")
done

echo
printf '%-20s %14s %8s\n' target executions crashes
printf '%s\n' "${rows[@]}"
exit "$failed"
