use super::*;

const EXAMPLE: &str = include_str!("../../examples/orbit.toml");

fn problems(text: &str) -> Vec<String> {
    let config = Config::parse(text, "test.toml").expect("parses");
    config
        .validate()
        .into_iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn example_config_is_valid() {
    let config = Config::parse_valid(EXAMPLE, "examples/orbit.toml").unwrap();
    assert_eq!(config.sites.len(), 3);
    assert_eq!(config.services.len(), 2);
    assert_eq!(config.quorum(), 2);
    assert!(config.is_witness(&"w".parse().unwrap()));
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let text = EXAMPLE.replace("failover_hold", "failover_hodl");
    let err = Config::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(err.contains("failover_hodl"), "{err}");
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let text = r#"
[node]
site = "c"

[[site]]
id = "a"
gossip = "10.0.0.1:7946"
[[site]]
id = "a"
gossip = "10.0.0.1:7946"

[policy]
failback_after = "0s"

[detect]
probe_interval = "5ms"
key_file = "/etc/orbit/gossip.key"

[[service]]
id = "web"
prefixes = ["198.51.100.10/24"]
sites = ["a", "x"]

[[service]]
id = "web"
prefixes = ["198.51.100.0/25"]
sites = []
health = { tcp = "127.0.0.1:1", http = "http://x", rise = 0 }

[bgp]
asn = 0
router_id = "0.0.0.0"
standby = { prepend = 20, communities = ["65536:1"] }
[[bgp.peer]]
address = "10.0.0.254"
asn = 65000
hold = "2s"
"#;
    let got = problems(text);
    let expect = [
        "site[1].id: duplicate site id \"a\"",
        "site[1].gossip: 10.0.0.1:7946 is already the gossip address of site[0]",
        "node.site: unknown site \"c\"",
        "policy.quorum: two members without a witness",
        "policy.failback_after: must be above 0",
        "detect.probe_interval: 5ms is below the minimum of 10ms",
        "detect.probe_timeout: 30ms must be shorter than probe_interval (5ms)",
        "service[0].prefixes[0]: 198.51.100.10/24 has host bits set; did you mean 198.51.100.0/24?",
        "service[0].sites[1]: unknown site \"x\"",
        "service[1].id: duplicate service id \"web\"",
        "service[1].prefixes[0]: 198.51.100.0/25 overlaps 198.51.100.10/24 at service[0].prefixes[0]",
        "service[1].sites: at least one site is required",
        "service[1].health: exactly one of tcp, http or exec is required",
        "service[1].health.rise: 0 must be between 1 and 100",
        "bgp.asn: 0 is reserved",
        "bgp.router_id: 0.0.0.0 is not a valid BGP identifier",
        "bgp.standby.prepend: 20 is more than 10",
        "bgp.standby.communities[0]: \"65536:1\" is not a community",
        "bgp.peer[0].hold: hold time 2s must be 0 or at least 3s (RFC 4271 §4.2)",
    ];
    for e in expect {
        assert!(
            got.iter().any(|g| g.starts_with(e)),
            "missing problem {e:?}\ngot:\n{}",
            got.join("\n")
        );
    }
    assert_eq!(
        got.len(),
        expect.len(),
        "unexpected extra problems:\n{}",
        got.join("\n")
    );
}

/// Two routers at site a (members a1, a2), one at b, a witness.
const TWO_ROUTERS: &str = r#"
[node]
site = "a2"

[[site]]
id = "a1"
site = "a"
gossip = "10.0.0.1:7946"
[[site]]
id = "a2"
site = "a"
gossip = "10.0.0.2:7946"
[[site]]
id = "b"
gossip = "10.0.1.1:7946"
[[site]]
id = "w"
gossip = "10.0.2.1:7946"
witness = true

[detect]
key_file = "/etc/orbit/gossip.key"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]
"#;

#[test]
fn two_members_of_one_site_count_once_toward_the_quorum() {
    assert_eq!(problems(TWO_ROUTERS), Vec::<String>::new());
    let config = Config::parse_valid(TWO_ROUTERS, "two.toml").unwrap();
    // Sites a, b, w: a majority of 3, not of the 4 members.
    assert_eq!(config.quorum(), 2);
    let quorum3 = TWO_ROUTERS.replace("[[service]]", "[policy]\nquorum = 4\n\n[[service]]");
    assert_eq!(
        problems(&quorum3),
        ["policy.quorum: 4 can never be reached: only 3 sites (of [[site]] members) vote"]
    );
}

#[test]
fn site_membership_errors_name_the_member() {
    let cases = [
        (
            TWO_ROUTERS.replace("sites = [\"a\", \"b\"]", "sites = [\"a1\", \"b\"]"),
            "service[0].sites[0]: \"a1\" is a member of site \"a\": services name sites",
        ),
        (
            TWO_ROUTERS.replace("id = \"a2\"\nsite = \"a\"", "id = \"a2\"\nsite = \"w\""),
            "site[1].site: \"w\" is a witness: a witness has no other members",
        ),
        (
            TWO_ROUTERS.replace("witness = true", "witness = true\nsite = \"a\""),
            "site[3].site: a witness is a site of its own and cannot belong to site \"a\"; remove site",
        ),
        (
            TWO_ROUTERS.replace("id = \"a2\"\nsite = \"a\"", "id = \"a2\"\nsite = \"a1\""),
            "site[1].site: \"a1\" is the id of a member of site \"a\", not a site",
        ),
        (
            TWO_ROUTERS.replace("id = \"b\"", "id = \"b\"\nsite = \"a\""),
            "service[0].sites[1]: \"b\" is a member of site \"a\": services name sites",
        ),
        (
            TWO_ROUTERS.replace("id = \"a2\"\nsite = \"a\"", "id = \"a1\"\nsite = \"a\""),
            "site[1].id: duplicate site id \"a1\"",
        ),
    ];
    for (text, want) in cases {
        let got = problems(&text);
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "missing {want:?}\ngot:\n{}",
            got.join("\n")
        );
    }
    // A member named like a site it does not belong to.
    let clash = TWO_ROUTERS
        .replace("id = \"a1\"\nsite = \"a\"", "id = \"a\"\nsite = \"b\"")
        .replace("sites = [\"a\", \"b\"]", "sites = [\"b\"]");
    let got = problems(&clash);
    assert!(
        got.iter()
            .any(|g| g
                .starts_with("site[0].id: \"a\" is also the name of the site site[1] belongs to")),
        "{got:?}"
    );
}

#[test]
fn quorum_must_be_reachable_and_a_majority() {
    let high = EXAMPLE.replace("[policy]", "[policy]\nquorum = 4");
    assert!(problems(&high)
        .iter()
        .any(|p| p.starts_with("policy.quorum: 4 can never be reached")));
    let low = EXAMPLE.replace("[policy]", "[policy]\nquorum = 1");
    assert!(problems(&low).iter().any(|p| p.contains("split brain")));
}

#[test]
fn no_more_members_than_the_gossip_can_carry() {
    let witnesses = |n: usize| -> String {
        (0..n)
            .map(|k| {
                format!(
                    "[[site]]\nid = \"w{k}\"\ngossip = \"10.1.{}.{}:7946\"\nwitness = true\n",
                    k / 200,
                    k % 200 + 1
                )
            })
            .collect()
    };
    let members = |n: usize| EXAMPLE.replace("[detect]\n", &format!("{}[detect]\n", witnesses(n)));
    let too_many = "[[site]] members; the gossip carries at most 256";
    // The example has 3 members.
    assert!(!problems(&members(253)).iter().any(|p| p.contains(too_many)));
    let over = problems(&members(254));
    assert!(
        over.iter().any(|p| p == &format!("site: 257 {too_many}")),
        "{over:?}"
    );
}

/// The example with a third site c (and `extra` more [[site]] tables),
/// and the two services' lists replaced by `web` and `db`.
fn three_sites(web: &str, db: &str, extra: &str) -> String {
    EXAMPLE
        .replace(
            "[detect]\n",
            &format!("[[site]]\nid = \"c\"\ngossip = \"10.0.3.1:7946\"\n{extra}\n[detect]\n"),
        )
        .replace("sites = [\"a\", \"b\"]", &format!("sites = {web}"))
        .replace("sites = [\"b\", \"a\"]", &format!("sites = {db}"))
}

#[test]
fn three_site_priority_lists_are_accepted_and_bad_ones_named() {
    let good = three_sites(r#"["a", "b", "c"]"#, r#"["c", "a"]"#, "");
    let config = Config::parse_valid(&good, "three.toml").unwrap();
    assert_eq!(config.sites.len(), 4);
    // 3 sites + a witness: a majority is 3 of 4.
    assert_eq!(config.quorum(), 3);
    let order: Vec<&str> = config.services[0]
        .sites
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(order, ["a", "b", "c"]);

    let bad = three_sites(r#"["a", "d", "a"]"#, r#"["c", "w", "b"]"#, "");
    let got = problems(&bad);
    let expect = [
        "service[0].sites[1]: unknown site \"d\"",
        "service[0].sites[2]: site \"a\" is listed twice",
        "service[1].sites[1]: site \"w\" is a witness and cannot carry services",
    ];
    for e in expect {
        assert!(
            got.iter().any(|g| g.starts_with(e)),
            "missing problem {e:?}\ngot:\n{}",
            got.join("\n")
        );
    }
    assert_eq!(got.len(), expect.len(), "{}", got.join("\n"));

    // quorum = 2 of 4 would let {a, b} and {c, w} both claim.
    let two = good.replace("[policy]", "[policy]\nquorum = 2");
    assert_eq!(
        problems(&two),
        [
            "policy.quorum: 2 of 4 members lets two disjoint partitions both reach quorum \
          (split brain); use at least 3"
        ]
    );

    // A second witness: 5 members, a quorum of 3 that c, w and w2 reach
    // without a and b.
    let five = three_sites(
        r#"["a", "b", "c"]"#,
        r#"["c", "a", "b"]"#,
        "[[site]]\nid = \"w2\"\ngossip = \"10.0.4.1:7946\"\nwitness = true\n",
    );
    let config = Config::parse_valid(&five, "five.toml").unwrap();
    assert_eq!(config.quorum(), 3);
}

#[test]
fn witness_cannot_carry_services_or_backends() {
    let text: String = EXAMPLE
        .replace("sites = [\"a\", \"b\"]", "sites = [\"a\", \"w\"]")
        .lines()
        .map(|l| match l {
            l if l.starts_with("site = \"a\"") => "site = \"w\"",
            l if l.starts_with("role = \"site\"") => "role = \"witness\"",
            l => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let got = problems(&text);
    assert!(
        got.iter()
            .any(|p| p.contains("is a witness and cannot carry services")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|p| p.starts_with("hook: a witness has no backends")),
        "{got:?}"
    );
}

/// The example's commented-out `[haproxy]` block, uncommented.
fn example_with_haproxy() -> String {
    let mut out = String::new();
    let mut in_block = false;
    for line in EXAMPLE.lines() {
        if line.starts_with("# [haproxy]") {
            in_block = true;
        }
        if in_block && line.starts_with("# ") {
            out.push_str(&line[2..]);
        } else {
            in_block = in_block && line.starts_with('#');
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn example_haproxy_block_is_valid() {
    let text = example_with_haproxy();
    let config = Config::parse_valid(&text, "example+haproxy").unwrap();
    let h = config.haproxy.expect("haproxy block uncommented");
    assert_eq!(h.no_site_backend.as_deref(), Some("be_no_site"));
    assert_eq!(h.backends.len(), 2);
}

#[test]
fn haproxy_problems_name_their_path() {
    let text = example_with_haproxy()
        .replace(
            "web = \"www.example.com\"",
            "web = \"a;clear\"\ndb = \"a;clear\"",
        )
        .replace(
            "no_site_backend = \"be_no_site\"",
            "no_site_backend = \"be no site\"",
        )
        .replace(
            "timeout = \"2s\"                        # per",
            "timeout = \"0s\" # per",
        );
    let p = problems(&text);
    for want in [
        "haproxy.keys.web: a map key must be non-empty",
        "haproxy.keys.web: map key \"a;clear\" is already used by service \"db\"",
        "haproxy.no_site_backend: \"be no site\" is not a valid HAProxy backend name",
        "haproxy.timeout: must be above 0",
    ] {
        assert!(
            p.iter().any(|x| x.starts_with(want)),
            "{want:?} not in {p:?}"
        );
    }
}

#[test]
fn bgp_session_knobs_are_checked_with_their_paths() {
    let text = r#"
[node]
site = "a"

[[site]]
id = "a"
gossip = "10.0.0.1:7946"
[[site]]
id = "b"
gossip = "10.0.0.2:7946"
[[site]]
id = "w"
gossip = "10.0.0.3:7946"
witness = true

[detect]
key_file = "/etc/orbit/gossip.key"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]

[bgp]
asn = 65001
router_id = "192.0.2.1"
listen = true
listen_port = 0
graceful_restart_time = "2h"
connect_retry = "10ms"
next_hop_v4 = "2001:db8::1"
[[bgp.peer]]
address = "10.0.0.254"
asn = 65000
"#;
    let got = problems(text);
    let expect = [
        "bgp.listen_port: 0 is not a port to listen on",
        "bgp.graceful_restart_time: at most 4095s",
        "bgp.connect_retry: 10ms must be between 100ms and 60s",
        "bgp.next_hop_v4: 2001:db8::1 is not an IPv4 address",
    ];
    for e in expect {
        assert!(
            got.iter().any(|g| g.starts_with(e)),
            "missing problem {e:?}\ngot:\n{}",
            got.join("\n")
        );
    }
    assert_eq!(
        got.len(),
        expect.len(),
        "extra problems:\n{}",
        got.join("\n")
    );
}
#[test]
fn the_bfd_helper_socket_in_state_dir_must_fit_a_socket_address() {
    let config = |state_dir: &str, gr: &str, bfd: bool| {
        format!(
            r#"
[node]
site = "a"
state_dir = "{state_dir}"

[[site]]
id = "a"
gossip = "10.0.0.1:7946"

[detect]
key_file = "/etc/orbit/gossip.key"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a"]

[bgp]
asn = 65001
router_id = "192.0.2.1"
graceful_restart_time = "{gr}"
[[bgp.peer]]
address = "10.0.0.254"
asn = 65000
bfd = {bfd}
"#
        )
    };
    let long = format!("/var/lib/{}", "x".repeat(90));
    let got = problems(&config(&long, "120s", true));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("node.state_dir: ") && got[0].contains("too long for a unix socket"),
        "{got:?}"
    );
    // No helper socket without BFD peers or without graceful restart.
    assert!(problems(&config(&long, "120s", false)).is_empty());
    assert!(problems(&config(&long, "0s", true)).is_empty());
    assert!(problems(&config("/var/lib/orbit", "120s", true)).is_empty());
}

#[test]
fn detect_probe_targets_must_name_sites_with_a_data_plane() {
    let text = EXAMPLE.replace(
        "[policy]",
        "[detect.probe]\nb = \"198.51.100.10:80\"\nw = \"192.0.2.1:80\"\nzz = \"192.0.2.2:80\"\n\n[policy]",
    );
    let p = problems(&text);
    assert!(
        p.iter()
            .any(|m| m.contains("detect.probe.w") && m.contains("witness")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("detect.probe.zz") && m.contains("no [[site]]")),
        "{p:?}"
    );
    assert!(!p.iter().any(|m| m.contains("detect.probe.b")), "{p:?}");
}

#[test]
fn http_status_and_body_only_with_http_and_in_range() {
    let text = EXAMPLE.replace(
        "health = { tcp = \"198.51.100.20:5432\"",
        "health = { http_status = 700, tcp = \"198.51.100.20:5432\"",
    );
    let p = problems(&text);
    assert!(
        p.iter().any(|m| m.contains("only apply to an http check")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("http_status") && m.contains("700")),
        "{p:?}"
    );
}

#[test]
fn detect_links_name_interfaces_and_remote_sites() {
    let text = EXAMPLE.replace(
        "[policy]",
        "[detect.links]\neth1 = [\"b\", \"w\"]\nthis-name-is-far-too-long = [\"b\"]\neth2 = [\"a\", \"zz\"]\n\n[policy]",
    );
    let p = problems(&text);
    assert!(
        p.iter()
            .any(|m| m.contains("detect.links.this-name-is-far-too-long")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("detect.links.eth2") && m.contains("local site")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("detect.links.eth2") && m.contains("\"zz\"")),
        "{p:?}"
    );
    assert!(!p.iter().any(|m| m.contains("detect.links.eth1")), "{p:?}");
}

#[test]
fn bfd_between_sites_needs_gossip_and_one_address_per_member() {
    let good = EXAMPLE.replace("[policy]", "[bfd]\nsites = true\n\n[policy]");
    assert!(problems(&good).is_empty(), "{:?}", problems(&good));
    let shared_ip = r#"
[node]
site = "a"
[[site]]
id = "a"
gossip = "127.0.0.1:7946"
[[site]]
id = "b"
gossip = "127.0.0.1:7947"
[[site]]
id = "w"
gossip = "0.0.0.0:7948"
witness = true
[detect]
gossip = false
[bfd]
sites = true
[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]
"#;
    assert_eq!(
        problems(shared_ip),
        [
            "bfd.sites: BFD verdicts travel in gossip; set [detect] gossip = true",
            "site[1].gossip: 127.0.0.1 is also site[0]'s gossip address: BFD sessions (bfd.sites = true) need one address per member",
            "site[2].gossip: 0.0.0.0 is not an address BFD can run between (bfd.sites = true)",
        ]
    );
}

#[test]
fn bfd_between_sites_without_auth_is_a_warning_not_a_problem() {
    let warnings = |text: &str| -> Vec<String> {
        let config = Config::parse_valid(text, "x.toml").expect("valid");
        config.warnings().iter().map(|w| w.to_string()).collect()
    };
    let sites = EXAMPLE.replace("[policy]", "[bfd]\nsites = true\n\n[policy]");
    assert_eq!(warnings(&sites).len(), 1, "{:?}", warnings(&sites));
    assert!(
        warnings(&sites)[0]
            .starts_with("bfd.sites: the members' BFD sessions run without [bfd.auth]"),
        "{:?}",
        warnings(&sites)
    );
    let with_auth = sites.replace(
        "[policy]",
        "[bfd.auth]\ntype = \"meticulous-keyed-sha1\"\nkey_file = \"/etc/orbit/bfd.key\"\n\n[policy]",
    );
    assert_eq!(warnings(&with_auth), Vec::<String>::new());
    assert_eq!(warnings(EXAMPLE), Vec::<String>::new());
}

#[test]
fn bfd_auth_defaults_its_key_id_and_names_a_bad_type() {
    let good = EXAMPLE.replace(
        "[policy]",
        "[bfd.auth]\ntype = \"keyed-sha1\"\nkey_file = \"/etc/orbit/bfd.key\"\n\n[policy]",
    );
    let config = Config::parse_valid(&good, "x.toml").unwrap();
    let auth = config.bfd.auth.unwrap();
    assert_eq!(
        (auth.kind, auth.key_id),
        (orbit_bfd::AuthKind::KeyedSha1, 1)
    );
    let bad = good.replace("keyed-sha1", "sha256");
    let err = Config::parse(&bad, "x.toml").unwrap_err().to_string();
    assert!(
        err.contains("sha256") && err.contains("meticulous-keyed-sha1"),
        "{err}"
    );
}

/// The example (its service "web" has 2001:db8:100::10/128) with a BGP
/// section: `bgp` goes into `[bgp]`, `peers` after it.
fn with_bgp(bgp: &str, peers: &str) -> String {
    format!("{EXAMPLE}\n[bgp]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n{bgp}\n{peers}")
}

const V4_PEER: &str = "[[bgp.peer]]\naddress = \"172.16.1.1\"\nasn = 64500\n";
const V6_PEER: &str = "[[bgp.peer]]\naddress = \"fd00:1::1\"\nasn = 64500\n";

#[test]
fn ipv6_prefixes_over_an_ipv4_session_need_an_explicit_next_hop_v6() {
    // Default families (ipv4 and ipv6) on an IPv4 session, no next_hop_v6:
    // the only default would be an IPv4-mapped next hop.
    let p = problems(&with_bgp("", V4_PEER));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("bgp.peer[0].families: IPv6 prefixes (e.g. 2001:db8:100::10/128 of service \"web\") over the IPv4 session to 172.16.1.1 need an IPv6 next hop: set [bgp] next_hop_v6"),
        "{p:?}"
    );
    // Only the IPv4 peer that carries ipv6 is named.
    let p = problems(&with_bgp(
        "",
        &format!("{V6_PEER}{V4_PEER}[[bgp.peer]]\naddress = \"172.16.2.1\"\nasn = 64500\nfamilies = [\"ipv4\"]\n"),
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("bgp.peer[1].families: "), "{p:?}");
}

#[test]
fn ipv6_next_hop_defaults_stay_where_they_are_sound() {
    for (what, text) in [
        (
            "explicit next_hop_v6",
            with_bgp("next_hop_v6 = \"fd00:1::2\"", V4_PEER),
        ),
        ("an IPv6 session", with_bgp("", V6_PEER)),
        (
            "an IPv4 session without ipv6",
            with_bgp("", &format!("{V4_PEER}families = [\"ipv4\"]\n")),
        ),
        (
            "no IPv6 service prefix",
            with_bgp("", V4_PEER).replace(", \"2001:db8:100::10/128\"", ""),
        ),
    ] {
        let p = problems(&text);
        assert!(p.is_empty(), "{what}: {p:?}");
    }
}

#[test]
fn next_hop_v6_must_be_a_real_ipv6_address() {
    for nh in ["192.0.2.1", "::ffff:192.0.2.1"] {
        let p = problems(&with_bgp(&format!("next_hop_v6 = \"{nh}\""), V6_PEER));
        assert_eq!(
            p,
            [format!(
                "bgp.next_hop_v6: {nh} is not an IPv6 address (IPv4-mapped addresses are refused by routers)"
            )]
        );
    }
}

#[test]
fn api_limits_default_and_are_bounded() {
    let mut config = Config::parse_valid(EXAMPLE, "examples/orbit.toml").unwrap();
    assert_eq!(config.api, Api::default(), "the example shows the defaults");
    config.api = Api {
        header_timeout: HumanDuration::from_millis(0),
        request_timeout: HumanDuration::from_secs(3600),
        unix_connections: 0,
        tcp_connections: 100_000,
        api_socket_group: Some("on:call".to_owned()),
        api_socket_mode: Some("0666".to_owned()),
    };
    let found: Vec<String> = config.validate().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        found,
        [
            "api.header_timeout: 0s is outside 100ms to 5m",
            "api.request_timeout: 1h is outside 1s to 10m",
            "api.unix_connections: 0 is outside 1 to 65536",
            "api.tcp_connections: 100000 is outside 1 to 65536",
            "api.api_socket_mode: \"0666\" lets every local user command orbitd; use api_socket_group and at most \"0660\"",
            "api.api_socket_group: \"on:call\" is not a group name",
        ]
    );
}

#[test]
fn api_socket_mode_is_an_octal_string_for_owner_and_group_only() {
    use crate::schema::parse_socket_mode;
    assert_eq!(parse_socket_mode("0660"), Ok(0o660));
    assert_eq!(parse_socket_mode("640"), Ok(0o640));
    assert_eq!(parse_socket_mode("0600"), Ok(0o600));
    for bad in ["0668", "rw-rw----", "", "04660", "0060", "0777", "66"] {
        assert!(parse_socket_mode(bad).is_err(), "{bad}");
    }
    let mut api = Api::default();
    assert_eq!(api.socket_mode(), 0o600);
    api.api_socket_group = Some("oncall".to_owned());
    assert_eq!(
        api.socket_mode(),
        0o660,
        "a group gets read-write by default"
    );
    api.api_socket_mode = Some("0640".to_owned());
    assert_eq!(api.socket_mode(), 0o640);
}

#[test]
fn ready_timeout_defaults_to_30s_and_stays_below_the_units_start_timeout() {
    let config = Config::parse_valid(EXAMPLE, "examples/orbit.toml").unwrap();
    assert_eq!(
        config.node.ready_timeout.get(),
        std::time::Duration::from_secs(30)
    );
    let text = EXAMPLE.replacen("[node]\n", "[node]\nready_timeout = \"11m\"\n", 1);
    assert_eq!(problems(&text), ["node.ready_timeout: at most 10m"]);
}

/// Issue 21: 1,000 services of 100 /32s each (100k prefixes) validate;
/// the overlap check was quadratic and took 68 s of CPU here.
#[test]
fn a_hundred_thousand_disjoint_prefixes_validate() {
    let mut text = EXAMPLE.to_string();
    for s in 0..1_000u32 {
        let prefixes: Vec<String> = (0..100u32)
            .map(|p| {
                let ip = std::net::Ipv4Addr::from(0xc612_0000 + s * 100 + p);
                format!("\"{ip}/32\"")
            })
            .collect();
        text.push_str(&format!(
            "\n[[service]]\nid = \"bulk{s}\"\nprefixes = [{}]\nsites = [\"a\", \"b\"]\n",
            prefixes.join(", ")
        ));
    }
    assert_eq!(problems(&text), Vec::<String>::new());
}

#[test]
fn fast_interval_is_at_least_10ms_and_at_most_the_interval() {
    for (fast, complaint) in [
        ("\"5ms\"", "below the minimum"),
        ("\"1s\"", "longer than the interval"),
    ] {
        let text = EXAMPLE.replace(
            "health = { tcp = \"198.51.100.20:5432\"",
            &format!("health = {{ fast_interval = {fast}, tcp = \"198.51.100.20:5432\""),
        );
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|m| m.contains("fast_interval") && m.contains(complaint)),
            "{fast}: {p:?}"
        );
    }
    let text = EXAMPLE.replace(
        "health = { tcp = \"198.51.100.20:5432\"",
        "health = { fast_interval = \"50ms\", tcp = \"198.51.100.20:5432\"",
    );
    assert_eq!(problems(&text), Vec::<String>::new());
}

#[test]
fn more_services_than_gossip_carries_are_refused() {
    let mut text = EXAMPLE.to_owned();
    for i in 0..orbit_detect::wire_v2::MAX_SERVICES {
        text += &format!(
            "\n[[service]]\nid = \"bulk-{i}\"\nprefixes = [\"10.{}.{}.{}/32\"]\nsites = [\"a\", \"b\"]\n",
            100 + i / 65536,
            i / 256 % 256,
            i % 256
        );
    }
    let got = problems(&text);
    assert!(
        got.iter().any(|p| p.starts_with("service: ")
            && p.contains("services: gossip carries the state of at most 16384 services")),
        "{:?}",
        &got[..got.len().min(5)]
    );
}

/// The example with service "db" naming plan "pg" and `plans` after the
/// services (before `[hook]`).
fn with_plans(plans: &str) -> String {
    let text = EXAMPLE.replacen(
        "sites = [\"b\", \"a\"]",
        "sites = [\"b\", \"a\"]\nplan = \"pg\"",
        1,
    );
    assert_ne!(text, EXAMPLE);
    text.replacen("[hook]", &format!("{plans}\n[hook]"), 1)
}

fn plan_problems(text: &str) -> Vec<String> {
    problems(text)
}

const PG_PLAN: &str = r#"
[[plan]]
id = "pg"
proceed_after = "30s"

[[plan.fence_old]]
name = "stop-old-primary"
kind = "exec"
command = ["/usr/bin/pg_ctlcluster", "15", "main", "stop", "-m", "fast"]
idempotent = true

[[plan.before_takeover]]
name = "promote"
kind = "exec"
command = ["/usr/bin/psql", "-c", "SELECT pg_promote()"]
timeout = "60s"
retries = 2

[[plan.after_takeover]]
name = "notify"
kind = "http"
at = "any"
url = "http://192.0.2.50:8000/v1/recover/${to}"
body = '{"service": "${service}", "from": "${from}", "to": "${to}", "generation": ${generation}}'
"#;

#[test]
fn a_good_plan_has_no_problem() {
    let text = with_plans(PG_PLAN);
    assert_eq!(plan_problems(&text), Vec::<String>::new());
    let config = Config::parse_valid(&text, "t.toml").unwrap();
    let plan = &config.plans[0];
    use orbit_core::config::{Phase, StepSite};
    assert_eq!(plan.fence_old[0].at(Phase::FenceOld), StepSite::Old);
    assert_eq!(
        plan.before_takeover[0].at(Phase::BeforeTakeover),
        StepSite::New
    );
    assert_eq!(plan.before_takeover[0].timeout.get().as_secs(), 60);
    assert_eq!(plan.after_takeover[0].method(), "POST");
    assert_eq!(config.services[1].plan.as_ref().unwrap().as_str(), "pg");
}

#[test]
fn an_unknown_step_kind_is_named_with_its_path() {
    let text = with_plans(&PG_PLAN.replacen("kind = \"exec\"", "kind = \"ssh\"", 1));
    let err = Config::parse_valid(&text, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plan[0].fence_old[0].kind") && err.contains("ssh") && err.contains("exec"),
        "{err}"
    );
}

#[test]
fn a_before_takeover_step_at_the_old_site_is_refused() {
    let text =
        with_plans(&PG_PLAN.replacen("name = \"promote\"", "name = \"promote\"\nat = \"old\"", 1));
    let found = plan_problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("plan[0].before_takeover[0].at: ") && found[0].contains("fence_old"),
        "{found:?}"
    );
}

#[test]
fn a_service_naming_an_unknown_plan_is_refused() {
    let text = with_plans(&PG_PLAN.replacen("id = \"pg\"", "id = \"postgres\"", 1));
    assert_eq!(
        plan_problems(&text),
        ["service[1].plan: unknown plan \"pg\"; it must be one of the [[plan]] ids (postgres)"]
    );
    let text = with_plans("");
    assert_eq!(
        plan_problems(&text),
        ["service[1].plan: unknown plan \"pg\"; it must be one of the [[plan]] ids (there is none)"]
    );
}

#[test]
fn step_keys_must_fit_their_kind_and_stay_in_bounds() {
    let bad = r#"
[[plan]]
id = "pg"
proceed_after = "2h"

[[plan.before_takeover]]
name = "promote"
kind = "exec"
url = "http://192.0.2.50/"
timeout = "0s"
retries = 11

[[plan.after_takeover]]
name = "promote"
kind = "http"
method = "BREW"
command = ["/bin/true"]
url = "https://192.0.2.50/${site}"
body = "${service"
"#;
    let found = plan_problems(&with_plans(bad));
    let expected = [
        "plan[0].proceed_after: 2h is above the maximum of 1h",
        "plan[0].before_takeover[0].command: required for kind = \"exec\"",
        "plan[0].before_takeover[0].url: only for kind = \"http\"",
        "plan[0].before_takeover[0].timeout: 0s must be above 0",
        "plan[0].before_takeover[0].retries: 11 is above the maximum of 10",
        "plan[0].after_takeover[0].name: step name \"promote\" is also before_takeover[0]'s",
        "plan[0].after_takeover[0].command: only for kind = \"exec\"",
        "plan[0].after_takeover[0].url: \"https://192.0.2.50/${site}\" must be an http:// URL",
        "plan[0].after_takeover[0].url: unknown placeholder \"${site}\"",
        "plan[0].after_takeover[0].method: \"BREW\" is not one of GET, POST, PUT, PATCH, DELETE",
        "plan[0].after_takeover[0].body: \"${\" at byte 0 is not closed",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (found, expected) in found.iter().zip(expected) {
        assert!(
            found.starts_with(expected),
            "{found:?} should start with {expected:?}"
        );
    }
}

#[test]
fn a_plan_without_steps_or_with_a_policy_it_cannot_use_is_refused() {
    let found = plan_problems(&with_plans(
        "[[plan]]\nid = \"pg\"\nproceed_after = \"10s\"\n",
    ));
    assert_eq!(
        found,
        [
            "plan[0]: a plan needs at least one step in before_takeover, fence_old or after_takeover",
            "plan[0].proceed_after: only applies to a failing step that runs before the takeover (fence_old, before_takeover), and this plan has none",
        ]
    );
    let twice = format!("{PG_PLAN}\n[[plan]]\nid = \"pg\"\n[[plan.fence_old]]\nkind = \"exec\"\ncommand = [\"/bin/true\"]\n");
    assert_eq!(
        plan_problems(&with_plans(&twice)),
        ["plan[1].id: duplicate plan id \"pg\""]
    );
}

/// The PostgreSQL plan of docs/plans.md, as the page shows it.
#[test]
fn the_postgresql_plan_in_docs_plans_md_is_valid() {
    const PAGE: &str = include_str!("../../docs/plans.md");
    let example = PAGE
        .split("## Example")
        .nth(1)
        .and_then(|rest| rest.split("```toml\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("docs/plans.md has an example TOML block");
    let plan = &example[example.find("[[plan]]").expect("the block has a [[plan]]")..];
    let text = with_plans(plan);
    assert_eq!(plan_problems(&text), Vec::<String>::new());
    let config = Config::parse(&text, "docs/plans.md").unwrap();
    let plan = &config.plans[0];
    assert_eq!(
        (
            plan.fence_old.len(),
            plan.before_takeover.len(),
            plan.after_takeover.len()
        ),
        (1, 1, 1)
    );
    assert_eq!(
        plan.proceed_after, None,
        "the example holds a failed promotion"
    );
}
