#!/usr/bin/env bash
# Regenerates daemon/hot-text.ld: the functions orbitd runs, placed together
# at the front of its code so that the pages it never runs are never mapped.
#
# Why: the kernel maps each code fault's whole neighbourhood of cached pages
# (fault-around, and on ext4 the page cache's large folios, up to 1 MiB), so
# with functions in link order a start that runs ~1.3 MB of code from every
# crate mapped nearly all of orbitd's 5.6 MB text. docs/bgp.md "Memory" has
# the numbers.
#
# How: build the release orbitd with its symbols, run it under callgrind in
# the workloads below, keep every orbitd function that ran, and write them
# as input-section patterns without the symbol hash (a hash changes with the
# toolchain, the profile and dependency versions; the path does not).
# daemon/build.rs passes the script to the linker for release builds.
#
# Workloads (all in namespaces they create, like the tests):
#   1. the cold-start bench: 1k and 10k prefixes to 1 and 8 bird2 peers;
#   2. the lab, scenarios 1 (switchover with orbitctl) and 2 (a site cut),
#      in the haproxy, bgp and sdn modes: gossip, health checks, the API,
#      failover and every backend.
#
# Run as root on a machine with the test packages (make deps) and valgrind.
# Takes ~15 minutes. Usage: scripts/hot-text.sh
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=daemon/hot-text.ld
TARGET=$ROOT/target/hot-text
WORK=$(mktemp -d /tmp/orbit-hot-text.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

command -v valgrind >/dev/null || apt-get install -y valgrind

# The same release build as `cargo build --release`, but keeping symbols, and
# laid out in link order: the training must not depend on the old layout.
export CARGO_TARGET_DIR=$TARGET CARGO_PROFILE_RELEASE_STRIP=false ORBIT_HOT_TEXT=off
cargo build --release --locked -p orbitd -p orbitctl -p orbit-lab
bench=$(cargo bench --locked -p orbitd --bench cold_start --no-run --message-format=json 2>/dev/null |
    grep '"name":"cold_start"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bench" ] || { echo "hot-text: cold_start bench binary not found" >&2; exit 1; }

# orbitd under callgrind. The lab and the bench stop orbitd with signals (some
# with SIGKILL), so the counts are dumped every second while it runs, not only
# at its exit. exec keeps the pid, so signals reach valgrind and orbitd.
mkdir -p "$WORK/bin" "$WORK/cg"
cat > "$WORK/bin/orbitd" <<EOF
#!/usr/bin/env bash
# The dumper keeps no stdio of orbitd's (callers read orbitd's output to its
# end) and stops when orbitd has exited, reaped or not.
alive() { grep -q '^State:[[:space:]]*[^Z]' /proc/\$\$/status 2>/dev/null; }
( while sleep 1 && alive; do callgrind_control -d \$\$ || true; done ) </dev/null >/dev/null 2>&1 &
exec valgrind --quiet --tool=callgrind --demangle=no --callgrind-out-file=$WORK/cg/cg.%p \\
    $TARGET/release/orbitd "\$@"
EOF
chmod +x "$WORK/bin/orbitd"
ln -s "$TARGET/release/orbitctl" "$WORK/bin/orbitctl"

echo "hot-text: cold-start bench under callgrind" >&2
ORBITD_BIN=$WORK/bin/orbitd "$bench" --quick orbitd > "$WORK/bench.txt"
echo "hot-text: lab scenarios 1 and 2 under callgrind" >&2
# BFD at 10 ms would flap under valgrind's slowdown; the lab's outcome does
# not matter here, only which code ran.
ORBIT_LAB_BIN_DIR=$WORK/bin "$TARGET/release/orbit-lab" run --runs 1 \
    --modes haproxy,bgp,sdn --scenarios 1,2 --bfd-interval 300 --member-bfd-interval 0 \
    --out "$WORK/lab" > "$WORK/lab.txt" || echo "hot-text: the lab reported failures (expected under valgrind)" >&2

# Function names each orbitd process ran (callgrind names a function at its
# first mention in a dump file), restricted to orbitd's own code symbols.
nm --defined-only "$TARGET/release/orbitd" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u > "$WORK/defined"
mkdir -p "$WORK/ran"
for dump in "$WORK"/cg/cg.*; do
    pid=${dump##*/cg.}
    pid=${pid%%.*}
    sed -n -E 's/^c?fn=\([0-9]+\) (.+)$/\1/p' "$dump" >> "$WORK/ran/$pid"
done
for ran in "$WORK"/ran/*; do
    sort -u "$ran" | comm -12 - "$WORK/defined" > "$ran.hot"
done

# Patterns: each name with what changes from build to build made a wildcard,
# so that the list still names the same functions after a change of
# profile, toolchain or dependency (its training build keeps symbols, which
# alone changes every crate's hash):
#   legacy symbols' trailing hash (17h<16 hex>E);
#   v0 crate disambiguators (Cs<base62>_) and back-references (B<base62>_,
#   offsets into the name, which move when a disambiguator's length does);
#   a v0 name's instantiating crate (which of the crates that use a generic
#   function keeps its copy after LTO varies); and the numeric suffix LTO
#   gives a local function it renames (.1234).
# Each wildcard stands where the name had something, so a pattern always
# matches the function it was made from.
pattern() {
    sed -E -e 's/17h[0-9a-f]{16}E$/17h*/' -e 's/\.[0-9]+$/*/' \
        -e 's/Cs[0-9A-Za-z]+_/Cs*_/g' -e 's/B[0-9A-Za-z]{0,2}_/B*_/g' |
        awk '{
            # A trailing Cs*_<n><identifier of n chars> is the instantiating crate.
            if (match($0, /Cs\*_[0-9]+[A-Za-z0-9_]+\*?$/)) {
                tail = substr($0, RSTART + 4); star = sub(/\*$/, "", tail)
                n = tail + 0; ident = substr(tail, length(n "") + 1)
                if (length(ident) == n && RSTART > 3) { print substr($0, 1, RSTART - 1) "*"; next }
            }
            if (sub(/B\*_\*?$/, "*")) { print; next }
            print
        }' | sed -E 's/\*\*+$/*/'
}

# Order: by how many of the processes ran the function, most first, then by
# the set of processes that ran it, then by name. Code every orbitd runs
# (start, runtime, config, API) comes first, and code only some
# configurations run (BGP, HAProxy, SDN, gossip) follows in blocks of its
# own, so an orbitd that never runs a block never maps it either.
processes=$(find "$WORK/ran" -name "*.hot" | wc -l)
for ran in "$WORK"/ran/*.hot; do
    pattern < "$ran" | sort -u |
        sed "s|^|${ran##*/} |"
done | awk '
    { runs[$2]++; set[$2] = set[$2] " " $1 }
    END { for (f in runs) printf "%06d %s %s\n", 999999 - runs[f], set[f], f }' |
    sort | awk '{ print $NF }' > "$WORK/hot"
n=$(wc -l < "$WORK/hot")
[ "$n" -gt 500 ] || { echo "hot-text: only $n functions seen; not writing $OUT" >&2; exit 1; }

# LLVM puts #[cold] functions in .text.unlikely.<name>, so both are listed.
{
    echo "/* Generated by scripts/hot-text.sh from $n functions that ran in $processes orbitd"
    echo "   processes; do not edit. orbitd's code that runs, first; see docs/bgp.md \"Memory\". */"
    echo "SECTIONS {"
    echo "  .text.hot : {"
    awk '{ print "    *(.text." $0 " .text.unlikely." $0 ")" }' "$WORK/hot"
    echo "  }"
    echo "}"
    echo "INSERT BEFORE .text;"
} > "$OUT"
echo "hot-text: wrote $OUT ($n functions from $processes processes)" >&2
