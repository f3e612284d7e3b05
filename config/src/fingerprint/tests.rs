//! The fingerprint: equal where only per-member settings or the way the
//! file is written differ, different where a member would decide otherwise.

use crate::Config;

/// A site's config, written the way an operator might.
const A: &str = r#"
[node]
site = "a"
state_dir = "/var/lib/orbit"

[[site]]
id = "a"
gossip = "10.0.0.1:7946"
[[site]]
id = "b"
gossip = "10.0.1.1:7946"
[[site]]
id = "w"
gossip = "10.0.2.1:7946"
witness = true

[detect]
key_file = "/etc/orbit/gossip.key"

[policy]
failover_hold = "1s"
failback_after = "5m"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32", "2001:db8::10/128"]
sites = ["a", "b"]
health = { tcp = "198.51.100.10:80" }

[[service]]
id = "db"
prefixes = ["198.51.100.20/32"]
sites = ["b", "a"]

[hook]
command = ["/bin/true"]
"#;

/// The same cluster from site b: other node, addresses, health checks,
/// backend and per-member timers; keys, entries and prefixes reordered,
/// defaults written out, other whitespace and comments.
const B: &str = r#"
# site b
[node]
site = "b"
state_dir = "/srv/orbit"
api_socket = "/run/orbit-b.sock"
[api]
request_timeout = "20s"

[policy]
failback_after   = "300s"
failover_hold    = "1000ms"
quorum = 2
sync_timeout = "9s"
shutdown_grace = "30s"
drain_grace = "5s"

[[site]]
id = "w"
witness = true
gossip = "10.9.2.1:7946"
[[site]]
gossip = "10.9.1.1:7946"
id = "b"
[[site]]
id = "a"
gossip = "10.9.0.1:7946"

[detect]
key_file = "/etc/orbit/other.key"
dead_on_silence = false

[[service]]
id = "db"
sites = ["b", "a"]
prefixes = ["198.51.100.20/32"]
health = { tcp = "198.51.100.20:5432", interval = "1s" }

[[service]]
id = "web"
prefixes = ["2001:db8::10/128", "198.51.100.10/32"]
sites = ["a", "b"]

[bfd]
interval = "300ms"
"#;

fn config(text: &str) -> Config {
    Config::parse_valid(text, "test.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// `A` with one line replaced.
fn a_with(from: &str, to: &str) -> Config {
    assert!(A.contains(from), "{from}");
    config(&A.replacen(from, to, 1))
}

#[test]
fn per_member_settings_key_order_and_whitespace_do_not_count() {
    let (a, b) = (config(A), config(B));
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_eq!(a.agreed_text(), b.agreed_text());
    let fp = a.fingerprint();
    assert_eq!(fp.cluster.len(), 64);
    assert!(fp.is_well_formed(), "{fp:?}");
    // failback_after under manual failback changes no decision the
    // members must share; observer mode (the cluster's default) does.
    assert_ne!(
        a_with("[policy]", "[policy]\nobserver = true").fingerprint(),
        fp
    );
    assert_eq!(
        a_with("failback_after = \"5m\"", "failback = \"manual\"").fingerprint(),
        a_with(
            "failback_after = \"5m\"",
            "failback = \"manual\"\nfailback_after = \"1h\""
        )
        .fingerprint()
    );
}

#[test]
fn a_different_service_prefix_site_or_policy_value_changes_it() {
    let fp = config(A).fingerprint();
    let services = [
        // A service added.
        A.to_owned()
            + "[[service]]\nid = \"mail\"\nprefixes = [\"198.51.100.30/32\"]\nsites = [\"a\"]\n",
        // A prefix changed.
        A.replacen("198.51.100.20/32", "198.51.100.21/32", 1),
        // Another site order (priority).
        A.replacen("sites = [\"b\", \"a\"]", "sites = [\"a\", \"b\"]", 1),
        // A site less.
        A.replacen("sites = [\"b\", \"a\"]", "sites = [\"b\"]", 1),
    ];
    for text in &services {
        let other = config(text).fingerprint();
        assert_eq!(other.cluster, fp.cluster, "{text}");
        assert_ne!(other.services, fp.services, "{text}");
        assert!(other.differs_from(&fp), "{text}");
    }
    let cluster = [
        a_with("failover_hold = \"1s\"", "failover_hold = \"2s\""),
        a_with("failback_after = \"5m\"", "failback_after = \"6m\""),
        a_with("failback_after = \"5m\"", "failback = \"manual\""),
        a_with("[policy]", "[policy]\ndrain_grace = \"6s\""),
        a_with("[policy]", "[policy]\nquorum = 3"),
        a_with("[detect]", "[detect]\nfence_margin = \"1s\""),
        a_with("witness = true", "witness = false"),
        a_with("id = \"w\"", "id = \"x\""),
    ];
    for other in cluster {
        let got = other.fingerprint();
        assert_ne!(got.cluster, fp.cluster, "{:?}", other.agreed_text().0);
        assert!(got.differs_from(&fp));
    }
}

#[test]
fn a_witness_fingerprints_the_cluster_and_no_services() {
    let site = config(A).fingerprint();
    let text = A.replacen("site = \"a\"", "site = \"w\"\nrole = \"witness\"", 1);
    let witness = config(text.split("[[service]]").next().unwrap()).fingerprint();
    assert_eq!(witness.services, None);
    assert_eq!(witness.cluster, site.cluster);
    assert!(!witness.differs_from(&site) && !site.differs_from(&witness));
}

/// `A` with service db naming a plan, read without validation (orbitd
/// refuses plans until it runs them; the fingerprint already covers them).
fn a_with_plan(plan: &str) -> Config {
    let text = A.replacen(
        "sites = [\"b\", \"a\"]",
        "sites = [\"b\", \"a\"]\nplan = \"pg\"",
        1,
    );
    let text = text.replacen("[hook]", &format!("{plan}\n[hook]"), 1);
    Config::parse(&text, "test.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn plans_count_with_their_defaults_filled_in() {
    let plan = "[[plan]]\nid = \"pg\"\n[[plan.before_takeover]]\nkind = \"exec\"\ncommand = [\"/usr/bin/psql\", \"-c\", \"SELECT pg_promote()\"]\n";
    let with = a_with_plan(plan);
    assert_ne!(
        with.fingerprint().services,
        config(A).fingerprint().services
    );
    assert_eq!(with.fingerprint().cluster, config(A).fingerprint().cluster);
    // The defaults written out: the same plan.
    let explicit = plan.replace(
        "kind = \"exec\"",
        "kind = \"exec\"\nat = \"new\"\ntimeout = \"30s\"\nretries = 0",
    );
    assert_eq!(a_with_plan(&explicit).fingerprint(), with.fingerprint());
    // Another policy on failure: another plan.
    let proceed = plan.replace("id = \"pg\"\n", "id = \"pg\"\nproceed_after = \"30s\"\n");
    assert_ne!(a_with_plan(&proceed).fingerprint(), with.fingerprint());
    let (_, text) = with.agreed_text();
    assert!(
        text.unwrap()
            .contains("service db prefixes=198.51.100.20/32 sites=b>a plan=pg\n"),
        "the service names its plan"
    );
}
