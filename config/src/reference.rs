//! The reference of every table and key of `orbit.toml`: what `orbitd man
//! orbit.toml` renders as orbit.toml(5).
//!
//! It is a table in code beside the schema rather than a hand-written page
//! so that a test can hold the two together: `tests/reference.rs` asks each
//! serde struct which keys it accepts (`deny_unknown_fields` lists them in
//! its error) and fails on a key that is accepted but not described here,
//! or described here but not accepted.

/// One table of the file, e.g. `[node]` or `[[bgp.peer]]`.
#[derive(Debug)]
pub struct Table {
    /// Its dotted path; `SITE` stands for a site id, as in `sdn.ports.SITE`.
    pub path: &'static str,
    /// Written `[[path]]`: a list of tables.
    pub array: bool,
    pub about: &'static str,
    pub keys: &'static [Key],
}

/// One key of a table.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    /// The TOML type and what it holds, e.g. `duration` or `string (path)`.
    pub kind: &'static str,
    pub default: KeyDefault,
    pub meaning: &'static str,
}

/// What a key is when the file does not give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefault {
    /// The table is refused without it.
    Required,
    /// Unset: what that means is in the key's meaning.
    Unset,
    /// This value.
    Value(&'static str),
}

impl Table {
    /// How the table is written in the file: `[node]`, `[[site]]`.
    pub fn header(&self) -> String {
        if self.array {
            format!("[[{}]]", self.path)
        } else {
            format!("[{}]", self.path)
        }
    }
}

const fn key(
    name: &'static str,
    kind: &'static str,
    default: KeyDefault,
    meaning: &'static str,
) -> Key {
    Key {
        name,
        kind,
        default,
        meaning,
    }
}

use KeyDefault::{Required, Unset, Value};

/// Durations are strings such as "250ms", "9s", "5m".
const DURATION: &str = "duration";

/// The keys of a plan step, the same in every phase.
const STEP_KEYS: &[Key] = &[
    key("name", "string", Value("PHASE[INDEX]"), "How status and the journal name the step; unique in the plan."),
    key("kind", "\"exec\" | \"http\"", Required, "exec runs command; http sends method url with body."),
    key("at", "\"new\" | \"old\" | \"any\"", Value("\"old\" in fence_old, else \"new\""), "Which member's orbitd runs it: the site taking over, the site being left (when reachable), or any (the new site runs it)."),
    key("command", "array of strings (argv)", Unset, "kind = \"exec\": the program (looked up in PATH unless it holds a /, and checked at start) and its arguments; no shell. Environment: ORBIT_SERVICE, ORBIT_FROM, ORBIT_TO, ORBIT_GENERATION, ORBIT_PLAN, ORBIT_PHASE, ORBIT_STEP."),
    key("method", "string", Value("\"POST\""), "kind = \"http\": GET, POST, PUT, PATCH or DELETE."),
    key("url", "string (http:// URL)", Unset, "kind = \"http\": required; may hold ${service}, ${from}, ${to}, ${generation}."),
    key("body", "string", Value("\"\""), "kind = \"http\": the request body; may hold the same placeholders."),
    key("timeout", DURATION, Value("\"30s\""), "Bound on one attempt; at most 10m."),
    key("retries", "integer", Value("0"), "Attempts after a failed one (exit status not 0, HTTP status not 2xx, timeout); at most 10."),
    key("idempotent", "boolean", Value("false"), "Running it twice does no harm: only such a step runs again when orbitd resumes a plan that was running it when it stopped."),
];

/// Every table, in the order of the page.
pub const TABLES: &[Table] = &[
    Table {
        path: "node",
        array: false,
        about: "Who this daemon is.",
        keys: &[
            key("site", "string (site id)", Required, "The [[site]] this daemon runs at."),
            key("role", "\"site\" | \"witness\"", Value("\"site\""), "A site votes and steers; a witness only votes and has no backends."),
            key("state_dir", "string (path)", Value("\"/var/lib/orbit\""), "Journal and state file."),
            key("api_socket", "string (path)", Value("\"/run/orbit/api.sock\""), "The HTTP API's unix socket (orbitctl talks here)."),
            key("api_tcp", "string (address:port)", Unset, "Optional TCP listener for the API; needs api_token_file."),
            key("api_token_file", "string (path)", Unset, "File holding the bearer token the TCP listener requires."),
            key("ready_timeout", DURATION, Value("\"30s\""), "Under systemd (Type=notify): READY=1 is sent once this member has authority and its backends confirmed the steering, or after this long at the latest, with STATUS= saying what is missing. At most 10m."),
        ],
    },
    Table {
        path: "journal",
        array: false,
        about: "Rotation of the decision journal (state_dir/journal.jsonl). Per member; reloadable, the new limits count from the next entry.",
        keys: &[
            key("max_bytes", "integer (bytes) or string with a unit (\"64MiB\", \"500kB\")", Value("\"64MiB\""), "journal.jsonl is renamed journal.1.jsonl (the older files shifting up) before an entry would take it past this. At least 16KiB; seq numbers continue across files."),
            key("keep", "integer", Value("4"), "Rotated files kept; the oldest beyond it is deleted. 0 deletes each rotated file once the new one holds an entry. At most 100."),
        ],
    },
    Table {
        path: "api",
        array: false,
        about: "Limits of the HTTP API listeners. Each listener has its own connection cap, so a flood on the TCP listener never locks orbitctl out of the socket.",
        keys: &[
            key("header_timeout", DURATION, Value("\"5s\""), "A connection must deliver a whole request head within this (also the keep-alive idle timeout), else it is closed."),
            key("request_timeout", DURATION, Value("\"10s\""), "Reading a request's body and answering it; a command that has not reached the event loop by then is dropped, not applied."),
            key("unix_connections", "integer", Value("64"), "Connections open at once on api_socket; one more is answered 503 and closed."),
            key("tcp_connections", "integer", Value("256"), "Connections open at once on api_tcp, likewise. Keep it well below the file descriptor limit."),
            key("api_socket_group", "string (group name)", Unset, "The group owning api_socket, so that its members can run orbitctl without root. Must exist."),
            key("api_socket_mode", "string (octal mode)", Value("\"0660\" with api_socket_group, else \"0600\""), "The socket's mode; never open to others."),
        ],
    },
    Table {
        path: "site",
        array: true,
        about: "Every member (one orbitd each), the witness included; the same list on every member. A member is a site of its own unless it names its site in site (two border routers of one site: two members naming the same site).",
        keys: &[
            key("id", "string (site id)", Required, "The member's name, unique; also the site's name when site is not set."),
            key("gossip", "string (address:port)", Required, "Where this member's orbitd gossips (UDP)."),
            key("witness", "boolean", Value("false"), "A witness votes but carries no services; it is always a site of its own."),
            key("site", "string (site id)", Value("the member's id"), "The site this member belongs to. Services, placements, drains and pins name sites; the quorum counts sites; a site is dead only when every member is."),
        ],
    },
    Table {
        path: "detect",
        array: false,
        about: "How site liveness is detected. A profile sets the gossip timers; each can be overridden.",
        keys: &[
            key("gossip", "boolean", Value("true"), "Gossip (SWIM) between the members. Off: liveness comes only from Serf or external events (POST /v1/events)."),
            key("profile", "\"lan\" | \"metro-fast\"", Value("\"metro-fast\""), "lan: 1 s probes, 500 ms probe timeout, 3 indirect probes, 3 s suspicion. metro-fast: 100 ms, 30 ms, 5, 200 ms."),
            key("key_file", "string (path)", Unset, "Shared key that authenticates every gossip packet."),
            key("probe_interval", DURATION, Value("from profile"), "Interval between gossip probes."),
            key("probe_timeout", DURATION, Value("from profile"), "Wait for a probe's answer before probing indirectly."),
            key("indirect_probes", "integer", Value("from profile"), "Members asked to probe on this one's behalf."),
            key("suspect_after", DURATION, Value("from profile"), "How long a suspected member has to refute before it is down."),
            key("fence_after", DURATION, Value("suspect_after, or the member BFD detection time"), "Silence after which a member that hears fewer than a quorum fences itself."),
            key("fence_margin", DURATION, Value("probe_interval, or the member BFD detection time"), "How much longer than fence_after a member must be silent before anyone may vote it dead."),
            key("dead_on_silence", "boolean", Value("true"), "A member silent for fence_after + fence_margin, suspected by SWIM and whose data plane fails too is dead at once. Off: a dead verdict needs SWIM, BFD or Serf to give up on it."),
            key("probe", "table (site id = \"address:port\")", Value("{}"), "Data-plane probe per site: a TCP connect to a service address there. A site whose daemon is silent is dead only if this fails too."),
            key("serf_rpc", "string (address:port)", Unset, "A Serf agent's RPC address; its members tagged site=... give verdicts too."),
            key("links", "table (interface = [site ids])", Value("{}"), "Link watch: when every interface toward a site has lost carrier, that site is dead in this member's view at once."),
        ],
    },
    Table {
        path: "policy",
        array: false,
        about: "When traffic moves. Must be identical on every member.",
        keys: &[
            key("failover_hold", DURATION, Value("\"0s\""), "How long a quorum must agree that a site is dead (or a service must stay unhealthy) before its services move."),
            key("failback", "\"after\" | \"manual\"", Value("\"after\""), "after: services return once the recovered site stayed healthy for failback_after; manual: only on orbitctl failback."),
            key("failback_after", DURATION, Value("\"5m\""), "With failback = \"after\": how long a recovered site must stay healthy."),
            key("drain_grace", DURATION, Value("\"5s\""), "How long a site keeps carrying a service at the lowest preference after a planned move away (make before break)."),
            key("sync_timeout", DURATION, Value("\"2s\""), "After start or fencing, how long to wait for a peer's placement table before deciding alone."),
            key("quorum", "integer", Value("a majority of the sites"), "Sites that must agree (the members of one site count once)."),
            key("observer", "boolean", Value("false"), "Start in observer mode: decide and report, apply nothing."),
            key("shutdown_grace", DURATION, Value("\"10s\""), "Bound on a whole planned stop (SIGTERM): the drain gets at most half, the withdrawal the rest."),
        ],
    },
    Table {
        path: "service",
        array: true,
        about: "Something steered between sites.",
        keys: &[
            key("id", "string (service id)", Required, "The service's name."),
            key("prefixes", "array of strings (prefixes)", Required, "Service addresses: /32 and /128 for anycast, wider prefixes allowed."),
            key("sites", "array of strings (site ids)", Required, "The sites that can carry it, most preferred first."),
            key("plan", "string (plan id)", Unset, "The [[plan]] that runs with every move of the service."),
        ],
    },
    Table {
        path: "service.health",
        array: false,
        about: "How the local site checks the service (optional; often written inline: health = { tcp = \"...\" }). Exactly one of tcp, http, exec. With a check, the local site carries the service only while it passes.",
        keys: &[
            key("tcp", "string (address:port)", Unset, "Must accept a TCP connection."),
            key("http", "string (http:// URL)", Unset, "Must answer 2xx (or http_status)."),
            key("http_status", "integer", Unset, "With http: the exact status expected instead of any 2xx."),
            key("http_body", "string", Unset, "With http: a string the response body must contain."),
            key("exec", "array of strings (argv)", Unset, "A command that must exit 0."),
            key("interval", DURATION, Value("\"1s\""), "Between checks."),
            key("timeout", DURATION, Value("interval"), "A check that takes longer fails."),
            key("rise", "integer", Value("3"), "Consecutive passes before healthy."),
            key("fall", "integer", Value("3"), "Consecutive failures before unhealthy."),
            key("fast_interval", DURATION, Value("interval / 4, at least 10ms"), "Between checks while the result is in transition (failed, not yet fall times; passed, not yet rise times), as HAProxy's fastinter."),
        ],
    },
    Table {
        path: "plan",
        array: true,
        about: "A disaster-recovery plan: the steps that go with a move of each service naming it (service plan = ID). Phases: fence_old, before_takeover, after_takeover (docs/plans.md). Must be identical on every member. Not yet run by orbitd: a config with a plan is refused until it is.",
        keys: &[
            key("id", "string (plan id)", Required, "The plan's name, as services name it."),
            key("proceed_after", DURATION, Value("unset: hold"), "When a step that runs before the takeover (fence_old, before_takeover) fails after its retries: unset, the move is held (the service stays where it is, or nowhere) and the failure alerted; set, the move goes ahead this long after the failure. At most 1h."),
            key("before_takeover", "array of steps", Value("[]"), "Steps that must succeed before the new site may carry the service (promote the replica)."),
            key("fence_old", "array of steps", Value("[]"), "Steps that stop the old primary accepting writes: first in a planned switchover, at once when the old site is reachable, and when it returns from a partition before it may carry anything."),
            key("after_takeover", "array of steps", Value("[]"), "Steps run once the move is confirmed (notify an orchestrator); a failure is alerted, the move stands."),
        ],
    },
    Table {
        path: "plan.fence_old",
        array: true,
        about: "A fence_old step.",
        keys: STEP_KEYS,
    },
    Table {
        path: "plan.before_takeover",
        array: true,
        about: "A before_takeover step. at = \"old\" is refused: in a failover the old site is dead.",
        keys: STEP_KEYS,
    },
    Table {
        path: "plan.after_takeover",
        array: true,
        about: "An after_takeover step.",
        keys: STEP_KEYS,
    },
    Table {
        path: "bgp",
        array: false,
        about: "The BGP anycast backend: announces the service prefixes from the active site, at lower preference (or not) from the standby.",
        keys: &[
            key("asn", "integer", Required, "The local AS number."),
            key("router_id", "string (IPv4 address)", Required, "The BGP identifier."),
            key("listen", "boolean", Value("false"), "Also accept incoming sessions."),
            key("listen_port", "integer", Value("179"), "Port for listen."),
            key("graceful_restart_time", DURATION, Value("\"120s\""), "RFC 4724 restart time advertised to peers; \"0s\" disables graceful restart."),
            key("connect_retry", DURATION, Value("\"2s\""), "First delay before reconnecting a failed session; doubles up to 60 s."),
            key("next_hop_v4", "string (IP address)", Value("the session's local address"), "Next hop announced for IPv4 prefixes."),
            key("next_hop_v6", "string (IP address)", Value("the local address of an IPv6 session"), "Next hop announced for IPv6 prefixes; required when an IPv4 session carries IPv6 prefixes."),
            key("ready", "\"all_peers\" | \"one_per_family\"", Value("\"all_peers\""), "Which sessions must be up for the backend to count as healthy (/ready, status)."),
        ],
    },
    Table {
        path: "bgp.active",
        array: false,
        about: "Attributes of the active site's announcements.",
        keys: &[
            key("med", "integer", Unset, "MULTI_EXIT_DISC."),
            key("communities", "array of strings (\"ASN:VALUE\")", Value("[]"), "Communities."),
            key("large_communities", "array of strings (\"A:B:C\")", Value("[]"), "Large communities."),
        ],
    },
    Table {
        path: "bgp.standby",
        array: false,
        about: "What the standby site announces: this table (a lower preference), or standby = \"withdraw\" to announce nothing.",
        keys: &[
            key("prepend", "integer", Value("3 (when [bgp.standby] is absent), else 0"), "Prepend the local AS this many extra times."),
            key("med", "integer", Unset, "MULTI_EXIT_DISC."),
            key("communities", "array of strings", Value("[]"), "Communities."),
            key("large_communities", "array of strings", Value("[]"), "Large communities."),
        ],
    },
    Table {
        path: "bgp.takeover",
        array: false,
        about: "Marks added when a site takes a service over from a dead site, for upstreams that honour a takeover community.",
        keys: &[
            key("communities", "array of strings", Value("[]"), "Communities."),
            key("large_communities", "array of strings", Value("[]"), "Large communities."),
        ],
    },
    Table {
        path: "bgp.drain",
        array: false,
        about: "Announcements of a site that is being drained.",
        keys: &[key("graceful_shutdown", "boolean", Value("true"), "Tag draining routes with GRACEFUL_SHUTDOWN 65535:0 (RFC 8326).")],
    },
    Table {
        path: "bgp.peer",
        array: true,
        about: "An upstream router.",
        keys: &[
            key("address", "string (IP address)", Required, "The router's address."),
            key("asn", "integer", Required, "The router's AS number."),
            key("hold", DURATION, Value("\"9s\""), "Hold time offered in OPEN."),
            key("passive", "boolean", Value("false"), "Only wait for the peer to connect."),
            key("port", "integer", Value("179"), "The router's TCP port."),
            key("local_address", "string (IP address)", Unset, "Source address of the session."),
            key("bfd", "boolean", Value("false"), "Run single-hop BFD toward the router ([bfd] timers); a Down tears the session down."),
            key("md5_password_file", "string (path)", Unset, "TCP-MD5 (RFC 2385) password file; the router needs the same password."),
            key("ttl_security", "boolean", Value("false"), "GTSM (RFC 5082): only accept packets with TTL 255."),
            key("families", "array of \"ipv4\" | \"ipv6\"", Value("[\"ipv4\", \"ipv6\"]"), "Address families of the session."),
            key("max_prefixes", "integer", Value("1000"), "Tear the session down if the peer sends more prefixes than this."),
        ],
    },
    Table {
        path: "haproxy",
        array: false,
        about: "The HAProxy map backend: a proxy tier sends each service to the backend of its active site through one map.",
        keys: &[
            key("socket", "string", Required, "Runtime API: a unix socket path, or tcp:HOST:PORT."),
            key("map", "string (path)", Required, "The map file HAProxy loads; written before every runtime change."),
            key("timeout", DURATION, Value("\"2s\""), "Per runtime API command."),
            key("shutdown_sessions", "boolean", Value("false"), "On a move, close sessions on the old site's servers."),
            key("drain", "boolean", Value("false"), "On a move, put the old site's servers in drain and the new site's in ready."),
            key("no_site_backend", "string", Unset, "Backend for a service no site may carry; unset: its map key is removed."),
            key("backends", "table (service id = { site id = backend })", Required, "Which HAProxy backend serves each service at each site."),
            key("keys", "table (service id = map key)", Value("the service id"), "The map key of each service."),
        ],
    },
    Table {
        path: "sdn",
        array: false,
        about: "The Open vSwitch backend: OpenFlow 1.3 rules (one fast-failover group per service) on an existing bridge.",
        keys: &[
            key("switch", "string", Required, "OpenFlow endpoint: unix:PATH (the bridge's .mgmt socket) or tcp:HOST:PORT."),
            key("ovsdb", "string", Required, "OVSDB endpoint: unix:PATH or tcp:HOST:PORT."),
            key("bridge", "string", Required, "The bridge's name."),
            key("cookie", "integer", Value("0x0b17000000000001"), "Marks orbit's flows; others are never touched."),
            key("table", "integer", Value("0"), "OpenFlow table orbit's flows live in."),
            key("priority", "integer", Value("1000"), "Priority of orbit's flows."),
            key("group_base", "integer", Value("0x0b170000"), "Group ids group_base .. group_base + number of services belong to orbit."),
            key("timeout", DURATION, Value("\"5s\""), "How long a change waits for BARRIER_REPLY."),
            key("vswitchd_ctl", "string (unix:PATH)", Value("from the pidfile next to a unix: switch socket"), "ovs-vswitchd's control socket, to wait for the datapath flow cache."),
        ],
    },
    Table {
        path: "sdn.ports.SITE",
        array: false,
        about: "One per site (required): the port toward SITE and its next hop's MAC.",
        keys: &[
            key("port", "integer", Required, "OpenFlow port number."),
            key("mac", "string (MAC address)", Required, "The next hop's MAC address."),
        ],
    },
    Table {
        path: "hook",
        array: false,
        about: "Run a command or POST a URL on every steering change.",
        keys: &[
            key("command", "array of strings (argv)", Unset, "Receives the steering as JSON on stdin."),
            key("url", "string (http:// URL)", Unset, "Receives the steering as JSON in a POST body."),
            key("timeout", DURATION, Value("\"10s\""), "Bound on each run."),
        ],
    },
    Table {
        path: "bfd",
        array: false,
        about: "BFD (RFC 5880): timers of the sessions toward bfd = true BGP peers and between members.",
        keys: &[
            key("interval", DURATION, Value("\"50ms\""), "Desired transmit and required receive interval."),
            key("multiplier", "integer", Value("3"), "Missed packets before the path is down."),
            key("sites", "boolean", Value("false"), "Multihop BFD (RFC 5883) to every other member's gossip address: a second, faster detector of a dead site."),
        ],
    },
    Table {
        path: "bfd.auth",
        array: false,
        about: "Authentication of every BFD session (RFC 5880 section 6.7); none without this table.",
        keys: &[
            key("type", "\"simple-password\" | \"keyed-md5\" | \"meticulous-keyed-md5\" | \"keyed-sha1\" | \"meticulous-keyed-sha1\"", Required, "The method; meticulous ones defeat replay."),
            key("key_id", "integer", Value("1"), "Key ID carried in every packet."),
            key("key_file", "string (path)", Required, "The shared key (the file's bytes, a trailing newline removed)."),
        ],
    },
];

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
