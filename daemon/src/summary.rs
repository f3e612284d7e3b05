//! The summary `orbitd check-config` prints for a good config.

use orbit_core::config::{Config, Failback};

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
    out
}
