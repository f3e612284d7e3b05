#!/usr/bin/env bash
# Installs the Debian packages orbit's tests and lab run for real.
# Idempotent: does nothing when everything is already installed.
set -euo pipefail

PACKAGES=(
    iproute2      # ip netns, veth: the lab and privileged tests
    nftables      # packet-loss injection (no tc netem here)
    ethtool       # turn off TX checksum offload for the OVS userspace datapath
    bird2         # BGP peer for the BGP backend tests and the lab
    gobgpd        # second, independent BGP peer and benchmark reference
    frr           # zebra + bfdd + bgpd: the tested FRR snippet of docs/bgp.md; bgpd alone: graceful-restart and collision tests
    haproxy       # HAProxy runtime API tests and the lab
    openvswitch-switch  # ovsdb-server + ovs-vswitchd (userspace datapath)
    openvswitch-common  # ovs-ofctl ofp-print: OpenFlow codec oracle
    serf          # reference detector for the detection benchmark and the lab baseline
    exabgp        # lab baseline: ExaBGP with its healthcheck (BGP mode)
    postgresql    # the lab's PostgreSQL pair (primary at a, streaming replica at b): initdb, pg_ctl, pg_basebackup, psql
    stress-ng     # the lab's --hog: stress-ng --cpu 2 beside the lab (issue 20)
    curl
    prometheus    # promtool: /metrics in the classic text format passes `promtool check metrics`
    python3-prometheus-client  # a strict OpenMetrics parser for /metrics in OpenMetrics
    chromium      # headless browser: the status page test loads / and watches a failover in the DOM
    lintian       # the Debian package test: no errors (E:) in scripts/deb.sh's package
    shellcheck    # the package test checks the maintainer scripts and scripts/*.sh
    man-db        # man -l: the man pages render without warnings (groff -ww)
    systemd       # systemd-analyze verify, systemd-sysusers, systemd-tmpfiles: tests of packaging/systemd/
    g++           # libfuzzer-sys builds libFuzzer (C++) when `make lint` checks the fuzz crate
    stress-ng     # the CPU hog of the false_downs BFD bench (cargo bench -p orbit-bfd --bench false_downs)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps package scripts from starting system daemons (bird,
# haproxy, openvswitch): every test starts and stops its own instances.
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends "${missing[@]}"
