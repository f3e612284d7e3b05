//! The metro edge of each mode: haproxy, bird2 or Open vSwitch, started in
//! the edge namespace. The orbitd of each site drives it as its backend
//! (unix sockets in the lab dir are reachable from every namespace).

use std::time::Duration;

use anyhow::Result;

use crate::lab::Lab;
use crate::orbitd::SDN_BRIDGE;
use crate::plan::{self, Mode};
use crate::sys::{self, ip, Proc};

pub fn start(lab: &mut Lab) -> Result<()> {
    match lab.mode {
        Mode::Haproxy => haproxy(lab),
        Mode::Sdn => ovs(lab),
        m if m.bgp_edge() => bird(lab),
        m => anyhow::bail!("no edge for mode {m}"),
    }
}

fn haproxy(lab: &mut Lab) -> Result<()> {
    let dir = lab.dir.join("haproxy");
    std::fs::create_dir_all(&dir)?;
    let edge = lab.ns("edge");
    ip(&edge, &format!("addr add {}/32 dev lo", plan::SERVICE_ADDR))?;
    std::fs::write(&lab.haproxy_map, "")?;
    let cfg = format!(
        "global
    stats socket {sock} mode 600 level admin
    stats timeout 1m

defaults
    mode http
    # As docs/haproxy.md recommends for a metro: a refused or unanswered
    # connect is retried after min(timeout connect, 1 s), to the same
    # (dead) server, so this bounds how long a request that reached the
    # failed site before orbit's decision waits.
    timeout connect 50ms
    retries 3
    timeout client 30s
    timeout server 2s

frontend web
    bind {svc}:{port}
    use_backend %[str(web),map({map},be_no_site)]
    default_backend be_no_site

backend be_web_a
    server a {a}:{port}

backend be_web_b
    server b {b}:{port}

backend be_no_site
    http-request return status 503 content-type text/plain string \"no site\"
",
        sock = lab.haproxy_socket.display(),
        map = lab.haproxy_map.display(),
        svc = plan::SERVICE_ADDR,
        port = plan::HTTP_PORT,
        a = plan::site_addr(Mode::Haproxy, "a"),
        b = plan::site_addr(Mode::Haproxy, "b"),
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg)?;
    let argv = vec![
        "haproxy".into(),
        "-f".into(),
        path.display().to_string(),
        "-db".into(),
    ];
    let p = Proc::spawn(
        "haproxy",
        Some(&edge),
        &argv,
        &[],
        &dir.join("haproxy.log"),
        false,
    )?;
    lab.procs.insert("haproxy".into(), p);
    let sock = lab.haproxy_socket.clone();
    sys::wait_for("haproxy's admin socket", Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    })
}

fn bird(lab: &mut Lab) -> Result<()> {
    let dir = lab.dir.join("bird");
    std::fs::create_dir_all(&dir)?;
    let edge = lab.ns("edge");
    let mut cfg = format!(
        "log stderr all;
timeformat log \"%F %T.%6f\";
router id {edge_id};
protocol device {{ scan time 1; }}
protocol kernel {{ ipv4 {{ import none; export all; }};{merge} }}

# RFC 8326: a draining site's route goes to the bottom at once; orbit's
# takeover community: the surviving site wins even while the dead site's
# route is still held.
filter orbit_in {{
  if (65535,0) ~ bgp_community then bgp_local_pref = 0;
  else if ({asn},666) ~ bgp_community then bgp_local_pref = 300;
  accept;
}}
",
        edge_id = plan::EDGE_CLIENT_ADDR,
        asn = plan::EDGE_ASN,
        // Two routers of site a announce the same route, equal but for
        // the router: both go into the kernel as one multipath route
        // (ECMP), so both carry traffic and losing one leaves the other's
        // path in place instead of re-pointing the route.
        merge = if lab.tuning.two_routers {
            " merge paths on;"
        } else {
            ""
        },
    );
    if lab.mode.bfd() {
        // RFC 5880/5881 toward each site's orbitd; `bfd on` below makes a
        // BFD Down drop the BGP session (and the site's route) at once.
        cfg.push_str(&format!(
            "protocol bfd {{
  debug {{ events }};
  interface \"*\" {{ min rx interval {ms} ms; min tx interval {ms} ms; multiplier {mult}; }};
}}
",
            ms = lab.tuning.bfd_ms,
            mult = plan::BFD_MULTIPLIER
        ));
    }
    for site in lab.routers() {
        cfg.push_str(&format!(
            "protocol bgp site_{site} {{
  local {local} as {asn};
  neighbor {peer} as {peer_asn};
  hold time 9;
  connect retry time 1;
  error wait time 1, 2;
  debug {{ states, events }};{med}{bfd}
  ipv4 {{ import filter orbit_in; export none; }};
}}
",
            local = plan::edge_site_addr(site),
            asn = plan::EDGE_ASN,
            peer = plan::site_addr(lab.mode, site),
            peer_asn = plan::site_asn(site),
            // ExaBGP marks the standby by MED, across two neighbour ASes.
            med = if lab.mode == Mode::Exabgp {
                "\n  med metric yes;"
            } else {
                ""
            },
            bfd = if lab.mode.bfd() { "\n  bfd on;" } else { "" },
        ));
    }
    let path = dir.join("bird.conf");
    std::fs::write(&path, cfg)?;
    let ctl = dir.join("bird.ctl");
    // The edge router stands for another box, whose BFD runs on a CPU of
    // its own (a line card, a dedicated core). Here it shares two cores
    // with the sites, the witness and, with `--hog`, stress-ng: at normal
    // priority its 10 ms x 3 BFD missed its own deadlines (both sessions
    // Down in the same microsecond: bird's BFD thread had not run for
    // 30 ms) and moved traffic with no failure anywhere. Real-time round
    // robin at priority 1, below orbit's BFD helpers (FIFO 10), keeps the
    // lab measuring orbit; chrt execs bird, so the pid stays bird's.
    let argv = vec![
        "chrt".into(),
        "--rr".into(),
        "1".into(),
        "bird".into(),
        "-f".into(),
        "-c".into(),
        path.display().to_string(),
        "-s".into(),
        ctl.display().to_string(),
        "-P".into(),
        dir.join("bird.pid").display().to_string(),
    ];
    let p = Proc::spawn(
        "bird",
        Some(&edge),
        &argv,
        &[],
        &dir.join("bird.log"),
        false,
    )?;
    lab.procs.insert("bird".into(), p);
    sys::wait_for("bird's control socket", Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&ctl).is_ok()
    })
}

fn ovs(lab: &mut Lab) -> Result<()> {
    let d = lab.ovs_dir.clone();
    std::fs::create_dir_all(&d)?;
    let edge = lab.ns("edge");
    let ds = d.display().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("OVS_RUNDIR", &ds),
        ("OVS_DBDIR", &ds),
        ("OVS_LOGDIR", &ds),
        ("OVS_SYSCONFDIR", &ds),
    ];
    let db = d.join("conf.db");
    sys::run(
        "ovsdb-tool",
        &[
            "create",
            &db.display().to_string(),
            "/usr/share/openvswitch/vswitch.ovsschema",
        ],
    )?;
    let sock = d.join("db.sock");
    let argv = vec![
        "ovsdb-server".into(),
        db.display().to_string(),
        format!("--remote=punix:{}", sock.display()),
        format!("--pidfile={}", d.join("ovsdb-server.pid").display()),
        format!("--unixctl={}", d.join("ovsdb-server.ctl").display()),
    ];
    let p = Proc::spawn(
        "ovsdb-server",
        Some(&edge),
        &argv,
        &env,
        &d.join("ovsdb-server.log"),
        false,
    )?;
    lab.procs.insert("ovsdb-server".into(), p);
    sys::wait_for("ovsdb-server", Duration::from_secs(10), || sock.exists())?;
    let argv = vec![
        "ovs-vswitchd".into(),
        format!("unix:{}", sock.display()),
        format!("--pidfile={}", d.join("ovs-vswitchd.pid").display()),
    ];
    let p = Proc::spawn(
        "ovs-vswitchd",
        Some(&edge),
        &argv,
        &env,
        &d.join("ovs-vswitchd.log"),
        false,
    )?;
    let pid = p.pid();
    lab.procs.insert("ovs-vswitchd".into(), p);
    let ctl = d.join(format!("ovs-vswitchd.{pid}.ctl"));
    sys::wait_for("ovs-vswitchd", Duration::from_secs(10), || ctl.exists())?;
    let dbarg = format!("--db=unix:{}", sock.display());
    sys::run("ovs-vsctl", &[&dbarg, "--no-wait", "init"])?;
    let mut args: Vec<String> = vec![
        dbarg.clone(),
        "add-br".into(),
        SDN_BRIDGE.into(),
        "--".into(),
        "set".into(),
        "bridge".into(),
        SDN_BRIDGE.into(),
        "datapath_type=netdev".into(),
        "fail_mode=secure".into(),
        "protocols=OpenFlow13".into(),
    ];
    for iface in ["ea", "eb", plan::EDGE_CLIENT_IF] {
        args.extend(
            [
                "--",
                "add-port",
                SDN_BRIDGE,
                iface,
                "--",
                "set",
                "Interface",
                iface,
            ]
            .map(String::from),
        );
        args.push(format!("ofport_request={}", plan::sdn_port(iface)));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    sys::run_in(&edge, "ovs-vsctl", &refs)?;
    let mgmt = d.join(format!("{SDN_BRIDGE}.mgmt"));
    sys::wait_for(
        "the bridge's OpenFlow socket",
        Duration::from_secs(10),
        || mgmt.exists(),
    )?;
    // The return path and ARP replies are not orbit's business: one NORMAL
    // flow at priority 0 with another cookie (orbit never touches it).
    sys::run(
        "ovs-ofctl",
        &[
            "-O",
            "OpenFlow13",
            "add-flow",
            &format!("unix:{}", mgmt.display()),
            "cookie=0x1,priority=0,actions=NORMAL",
        ],
    )?;
    Ok(())
}

/// The ExaBGP baseline at one site: exabgp with its healthcheck process
/// announcing the service address while the local HTTP check passes
/// (1 s interval, rise 2, fall 2), site b at a worse MED.
pub fn exabgp(lab: &mut Lab, site: &str) -> Result<()> {
    let dir = lab.dir.join(site);
    std::fs::create_dir_all(&dir)?;
    let cfg = format!(
        "process healthcheck {{
    run /usr/bin/exabgp-healthcheck --no-syslog --interval 1 --fast-interval 1 --timeout 1 --rise 2 --fall 2 --withdraw-on-down --no-ip-setup --ip {svc} --up-metric {med} --command \"curl -sf -m 1 http://127.0.0.1:{port}/healthz\";
    encoder text;
}}
neighbor {edge} {{
    router-id {me};
    local-address {me};
    local-as {asn};
    peer-as {edge_asn};
    hold-time 9;
    api {{ processes [ healthcheck ]; }}
}}
",
        svc = plan::SERVICE_ADDR,
        med = if site == "a" { 100 } else { 200 },
        port = plan::HTTP_PORT,
        edge = plan::edge_site_addr(site),
        me = plan::site_addr(lab.mode, site),
        asn = plan::site_asn(site),
        edge_asn = plan::EDGE_ASN,
    );
    let path = dir.join("exabgp.conf");
    std::fs::write(&path, cfg)?;
    let argv = vec!["exabgp".into(), path.display().to_string()];
    let env = [
        ("exabgp.daemon.user", "root"),
        ("exabgp.daemon.daemonize", "false"),
        ("exabgp.log.destination", "stdout"),
        ("exabgp.api.cli", "false"),
    ];
    let name = format!("exabgp-{site}");
    let p = Proc::spawn(
        &name,
        Some(&lab.ns(site)),
        &argv,
        &env,
        &dir.join("exabgp.log"),
        false,
    )?;
    lab.procs.insert(name, p);
    Ok(())
}

/// The Serf baseline: one `serf agent` (LAN profile) per member on the
/// control network, tagged with its site; RPC on the namespace's loopback,
/// where that member's orbitd reads it.
pub fn serf(lab: &mut Lab, member: &str) -> Result<()> {
    let dir = lab.dir.join(member);
    std::fs::create_dir_all(&dir)?;
    let mut argv: Vec<String> = vec![
        "serf".into(),
        "agent".into(),
        format!("-node={member}"),
        format!("-bind={}:{}", plan::ctl_addr(member), plan::SERF_PORT),
        format!("-rpc-addr=127.0.0.1:{}", plan::SERF_RPC_PORT),
        "-profile=lan".into(),
        "-tag".into(),
        format!("site={member}"),
    ];
    for peer in ["a", "b", "w"].iter().filter(|p| **p != member) {
        argv.push(format!(
            "-retry-join={}:{}",
            plan::ctl_addr(peer),
            plan::SERF_PORT
        ));
    }
    argv.push("-retry-interval=1s".into());
    let name = format!("serf-{member}");
    let p = Proc::spawn(
        &name,
        Some(&lab.ns(member)),
        &argv,
        &[],
        &dir.join("serf.log"),
        false,
    )?;
    lab.procs.insert(name, p);
    Ok(())
}
