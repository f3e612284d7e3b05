//! The summary `orbitd check-config` prints for a good config.

use orbit_config::Config;
use orbit_core::config::Failback;

pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    let node = &config.node;
    let members: Vec<String> = config
        .sites
        .iter()
        .map(|s| {
            if s.witness {
                format!("{} (witness)", s.id)
            } else {
                s.id.to_string()
            }
        })
        .collect();
    out.push_str(&format!(
        "config ok: node {} ({:?}), quorum {} of {} members: {}\n",
        node.site,
        node.role,
        config.quorum(),
        config.sites.len(),
        members.join(", ")
    ));
    for svc in &config.services {
        let prefixes: Vec<String> = svc.prefixes.iter().map(|p| p.to_string()).collect();
        let sites: Vec<&str> = svc.sites.iter().map(|s| s.as_str()).collect();
        let health = match &svc.health {
            Some(h) if h.tcp.is_some() => "tcp check",
            Some(h) if h.http.is_some() => "http check",
            Some(_) => "exec check",
            None => "no health check",
        };
        out.push_str(&format!(
            "service {}: {} -> sites {} (priority order), {health}\n",
            svc.id,
            prefixes.join(" "),
            sites.join(" > ")
        ));
    }
    let p = &config.policy;
    out.push_str(&format!(
        "policy: failover after {}, failback {}\n",
        p.failover_hold,
        match p.failback {
            Failback::After => format!("after {} stable", p.failback_after),
            Failback::Manual => "manual only".to_owned(),
        }
    ));
    out.push_str(&detection(config));
    let journal = &config.journal;
    out.push_str(&format!(
        "journal: {}, rotated at {}, {}\n",
        config.node.state_dir.join("journal.jsonl").display(),
        journal.max_bytes,
        match journal.keep {
            0 => "rotated files deleted".to_owned(),
            1 => "1 rotated file kept".to_owned(),
            n => format!("{n} rotated files kept"),
        }
    ));
    let backends: Vec<&str> = [
        (config.bgp.is_some(), "bgp"),
        (config.sdn.is_some(), "sdn"),
        (config.haproxy.is_some(), "haproxy"),
        (config.hook.is_some(), "hook"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    out.push_str(&format!(
        "backends: {}",
        if backends.is_empty() {
            "none".to_owned()
        } else {
            backends.join(", ")
        }
    ));
    out.push_str(&agreement(config));
    out
}

/// What must be the same at every member, as the fingerprint digests it:
/// run at two members, the lines that differ are the disagreement.
fn agreement(config: &Config) -> String {
    let (cluster, services) = config.agreed_text();
    let mut out = format!(
        "\nmust agree at every member (config fingerprint {}; orbitctl status compares the \
         members'):",
        config.fingerprint()
    );
    // The first line of each part names the format.
    for line in [cluster, services.unwrap_or_default()]
        .iter()
        .flat_map(|part| part.lines().skip(1))
    {
        out.push_str(&format!("\n  {line}"));
    }
    out
}

/// Which detectors run, and BFD's timers where it runs.
fn detection(config: &Config) -> String {
    let d = &config.detect;
    let mut sources = Vec::new();
    if d.gossip {
        let t = d.timers();
        sources.push(format!(
            "gossip (probe {}, suspect after {})",
            t.probe_interval, t.suspect_after
        ));
    } else {
        sources.push("no gossip (POST /v1/events)".to_owned());
    }
    if !d.probe.is_empty() {
        sources.push(format!("data-plane probes of {} site(s)", d.probe.len()));
    }
    if d.serf_rpc.is_some() {
        sources.push("Serf".to_owned());
    }
    let bfd = &config.bfd;
    let bgp_bfd = config
        .bgp
        .as_ref()
        .map_or(0, |b| b.peers.iter().filter(|p| p.bfd).count());
    if bfd.sites || bgp_bfd > 0 {
        let mut toward = Vec::new();
        if bfd.sites {
            toward.push("the other members".to_owned());
        }
        if bgp_bfd > 0 {
            toward.push(format!("{bgp_bfd} BGP peer(s)"));
        }
        sources.push(format!(
            "BFD {} x {} toward {}{}",
            bfd.interval,
            bfd.multiplier,
            toward.join(" and "),
            if bfd.auth.is_some() {
                ", authenticated"
            } else {
                ""
            }
        ));
    }
    let mut out = format!("detection: {}\n", sources.join("; "));
    if d.gossip {
        let f = config.fence_timers();
        out.push_str(&format!(
            "fencing: a member that hears fewer than a quorum for {} fences; nobody is voted \
             dead before {} of silence (margin {})\n",
            f.fence_after,
            humantime::format_duration(f.dead_after()),
            f.margin
        ));
    }
    out
}
