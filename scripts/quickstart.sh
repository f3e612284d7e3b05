#!/usr/bin/env bash
# A three-member orbit cluster (sites a and b, witness w) on this machine,
# each member in its own network namespace, for trying orbit out after
# installing it (README "Quick start"). Uses the installed orbitd and
# orbitctl (or those on PATH); touches nothing outside its namespaces and
# its directory.
#
#   scripts/quickstart.sh up          start the three members, wait until they agree
#   scripts/quickstart.sh fail a      site a goes dark (its orbitd killed, its links cut)
#   scripts/quickstart.sh heal a      site a comes back
#   scripts/quickstart.sh ctl a ...   orbitctl at member a (status, journal, switchover ...)
#   scripts/quickstart.sh down        stop everything and remove the namespaces
#
# Services: web prefers a, db prefers b. The backend is a hook that writes
# each steering to DIR/NODE.steering, so no router or proxy is needed.
# QS_NAME (default "orbitqs") names the namespaces (QS_NAME-a ...) and
# the directory (/run/QS_NAME): two quick starts can run side by side.
set -euo pipefail

name=${QS_NAME:-orbitqs}
dir=/run/$name
nodes=(a b w)
# The mesh: every member has a /32 on lo (10.99.0.1 a, .2 b, .3 w) and a
# /30 link to each other member, with a /32 route over it.
declare -A addr=([a]=10.99.0.1 [b]=10.99.0.2 [w]=10.99.0.3)
links=("a b 12" "a w 13" "b w 23")

die() {
    echo "quickstart: $*" >&2
    exit 1
}

orbitd_bin() { command -v orbitd || echo /usr/sbin/orbitd; }
orbitctl_bin() { command -v orbitctl || echo /usr/bin/orbitctl; }

ns() { echo "$name-$1"; }

config() {
    local node=$1 role=site
    [[ $node == w ]] && role=witness
    cat <<EOF
# Quick-start member $node (scripts/quickstart.sh).
[node]
site = "$node"
role = "$role"
state_dir = "$dir/$node-state"
api_socket = "$dir/$node.sock"

[[site]]
id = "a"
gossip = "${addr[a]}:7946"
[[site]]
id = "b"
gossip = "${addr[b]}:7946"
[[site]]
id = "w"
gossip = "${addr[w]}:7946"
witness = true

[detect]
key_file = "$dir/gossip.key"

[policy]
failback = "manual"
EOF
    [[ $node == w ]] && return
    cat <<EOF

[[service]]
id = "web"
prefixes = ["203.0.113.10/32"]
sites = ["a", "b"]

[[service]]
id = "db"
prefixes = ["203.0.113.20/32"]
sites = ["b", "a"]

[hook]
command = ["/bin/sh", "-c", "cat > $dir/$node.steering"]
timeout = "5s"
EOF
}

link_name() { echo "q$1$2"; }

mesh_up() {
    local node
    for node in "${nodes[@]}"; do
        ip netns add "$(ns "$node")"
        ip -n "$(ns "$node")" link set lo up
        ip -n "$(ns "$node")" addr add "${addr[$node]}/32" dev lo
    done
    local x y net
    for l in "${links[@]}"; do
        read -r x y net <<<"$l"
        ip link add "$(link_name "$x" "$y")" netns "$(ns "$x")" type veth \
            peer name "$(link_name "$y" "$x")" netns "$(ns "$y")"
        ip -n "$(ns "$x")" addr add "10.99.$net.1/30" dev "$(link_name "$x" "$y")"
        ip -n "$(ns "$y")" addr add "10.99.$net.2/30" dev "$(link_name "$y" "$x")"
        links_state "$x" "$y" up
    done
}

# Brings the link x-y up (with its routes) or down.
links_state() {
    local x=$1 y=$2 state=$3 net
    for l in "${links[@]}"; do
        read -r a b n <<<"$l"
        if [[ ($a == "$x" && $b == "$y") || ($a == "$y" && $b == "$x") ]]; then
            x=$a y=$b net=$n
        fi
    done
    ip -n "$(ns "$x")" link set "$(link_name "$x" "$y")" "$state"
    ip -n "$(ns "$y")" link set "$(link_name "$y" "$x")" "$state"
    if [[ $state == up ]]; then
        ip -n "$(ns "$x")" route replace "${addr[$y]}/32" via "10.99.$net.2"
        ip -n "$(ns "$y")" route replace "${addr[$x]}/32" via "10.99.$net.1"
    fi
}

start() {
    local node=$1
    setsid ip netns exec "$(ns "$node")" "$(orbitd_bin)" --config "$dir/$node.toml" \
        >>"$dir/$node.log" 2>&1 </dev/null &
    echo $! >"$dir/$node.pid"
}

stop() {
    local node=$1 pid
    [[ -f $dir/$node.pid ]] || return 0
    pid=$(cat "$dir/$node.pid")
    kill -9 "$pid" 2>/dev/null || true
    # Gone, or dead and waiting for init to reap it (state Z).
    while [[ -r /proc/$pid/stat && $(cut -d' ' -f3 "/proc/$pid/stat") != Z ]]; do sleep 0.05; done
    rm -f "$dir/$node.pid"
}

ctl() {
    local node=$1
    shift
    "$(orbitctl_bin)" --socket "$dir/$node.sock" "$@"
}

# Waits until every running member answers and is in authority.
wait_agreed() {
    local node deadline=$((SECONDS + 60))
    for node in "$@"; do
        until ctl "$node" --json status 2>/dev/null | grep -Eq '"synced": *true'; do
            ((SECONDS < deadline)) || die "member $node not in authority after 60 s (log: $dir/$node.log)"
            sleep 0.2
        done
    done
}

# Waits until member $1 calls site $2 dead (the STATE column of its status).
wait_dead() {
    local deadline=$((SECONDS + 60))
    until ctl "$1" status 2>/dev/null | awk -v site="$2" '$1 == site && $3 == "DEAD" { found = 1 } END { exit !found }'; do
        ((SECONDS < deadline)) || die "member $1 did not declare $2 dead within 60 s (log: $dir/$1.log)"
        sleep 0.1
    done
}

others() {
    local node
    for node in "${nodes[@]}"; do [[ $node == "$1" ]] || echo "$node"; done
}

case ${1:-} in
up)
    [[ -d $dir ]] && die "$dir exists: already up? ('$0 down' first)"
    [[ -x $(orbitd_bin) ]] || die "no orbitd: install the package (README, Quick start)"
    mkdir -p "$dir"
    chmod 0750 "$dir"
    head -c 32 /dev/urandom | base64 >"$dir/gossip.key"
    chmod 0600 "$dir/gossip.key"
    for node in "${nodes[@]}"; do config "$node" >"$dir/$node.toml"; done
    mesh_up
    for node in "${nodes[@]}"; do start "$node"; done
    wait_agreed "${nodes[@]}"
    echo "quickstart: members a, b and w are up; try: $0 ctl a status"
    ;;
fail)
    node=${2:?which member: a, b or w}
    stop "$node"
    for other in $(others "$node"); do links_state "$node" "$other" down; done
    started=$SECONDS
    for other in $(others "$node"); do wait_dead "$other" "$node"; done
    echo "quickstart: site $node is dark (orbitd killed, links cut); $(others "$node" | paste -sd,) declared it dead within $((SECONDS - started + 1)) s"
    ;;
heal)
    node=${2:?which member: a, b or w}
    for other in $(others "$node"); do links_state "$node" "$other" up; done
    start "$node"
    wait_agreed "$node"
    echo "quickstart: site $node is back"
    ;;
ctl)
    node=${2:?which member: a, b or w}
    shift 2
    ctl "$node" "$@"
    ;;
down)
    for node in "${nodes[@]}"; do
        stop "$node"
        ip netns del "$(ns "$node")" 2>/dev/null || true
    done
    rm -rf "$dir"
    echo "quickstart: stopped"
    ;;
*)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
