//! orbitd for the members (sites a, b (and c with `--sites 3`; a's two
//! routers a1 and a2 with `--routers 2`) and the witness w): what
//! their configs depend on (`member_config` writes them), where each keeps
//! its files, and the paths of the orbitd / orbitctl binaries.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::plan::{self, Mode};

mod member_config;

pub use member_config::write_config;

/// Timers of the lab's policy (short, so a run takes seconds).
pub const FAILBACK_AFTER_MS: u64 = 3000;

/// `[policy] failback` of a run: the lab's `after` FAILBACK_AFTER_MS, or
/// what a scenario needs to tell a wrong move from a deliberate one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failback {
    /// `failback = "after"`, `failback_after` in ms.
    After(u64),
    /// `failback = "manual"`: nothing moves back unless an operator says so.
    Manual,
}

impl Tuning {
    /// The defaults of a run: edge and member BFD at the lab's intervals.
    pub fn lab_defaults(caps: Caps) -> Tuning {
        Tuning {
            caps,
            bfd_ms: plan::BFD_INTERVAL_MS,
            member_bfd_ms: plan::MEMBER_BFD_INTERVAL_MS,
            failback: Failback::default(),
            standby_withdraw: false,
            three_sites: false,
            pg: None,
            two_routers: false,
        }
    }

    /// The interval (ms) the members' multihop BFD sessions of `mode` run
    /// at, or None when they do not run. orbitd's `[bfd]` has one
    /// `interval` for every session, so where BFD also runs toward the
    /// edge (`bgp`) the members share the edge's interval: all three
    /// members alike, or a site's sessions to the witness would run at the
    /// slower of the two ends (RFC 5880 §6.8.2).
    pub fn member_bfd(&self, mode: Mode) -> Option<u32> {
        if !mode.member_bfd() || self.member_bfd_ms == 0 {
            return None;
        }
        Some(if mode.bfd() {
            self.bfd_ms
        } else {
            self.member_bfd_ms
        })
    }
}

impl Default for Failback {
    fn default() -> Self {
        Failback::After(FAILBACK_AFTER_MS)
    }
}

/// How a lab's orbitd daemons are set up besides the mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tuning {
    pub caps: Caps,
    /// BFD interval (ms) toward the edge in BGP mode.
    pub bfd_ms: u32,
    /// BFD interval (ms) between the members where the mode runs member
    /// BFD (`Mode::member_bfd`); 0: off.
    pub member_bfd_ms: u32,
    pub failback: Failback,
    /// `[bgp] standby = "withdraw"`: the standby announces nothing (the
    /// planned-stop scenario's case), instead of the lab's prepend 3.
    pub standby_withdraw: bool,
    /// `--sites 3`: a third site c, wired like b, and the services of
    /// `plan::SERVICES3`.
    pub three_sites: bool,
    /// The PostgreSQL pair (lab/src/pg.rs) with this replication, the
    /// service `db` at `pg::DB_PREFIX` and its `[[plan]] "pg"`.
    pub pg: Option<crate::pg::Replication>,
    /// `--routers 2`: site a has two routers, a1 and a2 (members of site
    /// a), in front of a namespace of site a's servers (`plan::SERVERS_A`).
    pub two_routers: bool,
}

impl Tuning {
    /// Every orbitd member of the lab (`plan::members`).
    pub fn members(&self) -> &'static [&'static str] {
        plan::members(self.three_sites, self.two_routers)
    }

    /// The members that route for a site (`plan::routers`).
    pub fn routers(&self) -> &'static [&'static str] {
        plan::routers(self.three_sites, self.two_routers)
    }
}

/// Where orbitd and orbitctl are: `ORBIT_LAB_BIN_DIR`, else next to this
/// binary (cargo puts every workspace binary in the same target dir).
pub fn bin(name: &str) -> Result<PathBuf> {
    let dir = match std::env::var_os("ORBIT_LAB_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo build -p {}) or set ORBIT_LAB_BIN_DIR",
            path.display(),
            if name == "orbitctl" {
                "orbitctl"
            } else {
                "orbitd"
            }
        );
    }
    Ok(path)
}

/// What the orbitd binary in use accepts (detected once with check-config),
/// so the lab runs on daemons with and without the newer detect options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caps {
    /// `[detect] probe = { site = "addr:port" }`: data-plane probes.
    pub dataplane_probe: bool,
}

#[derive(Debug, Clone)]
pub struct MemberPaths {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub journal: PathBuf,
}

pub fn member_paths(root: &Path, member: &str) -> MemberPaths {
    let dir = root.join(member);
    MemberPaths {
        config: dir.join("orbit.toml"),
        socket: dir.join("api.sock"),
        journal: dir.join("state").join("journal.jsonl"),
        dir,
    }
}

/// Everything a member's config depends on besides its name.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    pub mode: Mode,
    pub root: &'a Path,
    pub tuning: Tuning,
    /// HAProxy: the admin socket and the map file.
    pub haproxy_socket: &'a Path,
    pub haproxy_map: &'a Path,
    /// SDN: OVS run dir (db.sock, BRIDGE.mgmt).
    pub ovs_dir: &'a Path,
}

pub const SDN_BRIDGE: &str = "brmetro";

/// Asks the orbitd binary whether it accepts `[detect] probe`.
pub fn detect_caps(root: &Path) -> Result<Caps> {
    let orbitd = bin("orbitd")?;
    let dir = root.join("caps");
    std::fs::create_dir_all(&dir)?;
    let setup = Setup {
        mode: Mode::Haproxy,
        root: &dir,
        tuning: Tuning::lab_defaults(Caps {
            dataplane_probe: true,
        }),
        haproxy_socket: &dir.join("h.sock"),
        haproxy_map: &dir.join("h.map"),
        ovs_dir: &dir,
    };
    let path = dir.join("probe.toml");
    write_gossip_key(&dir)?;
    write_config(&setup, "w", &path)?;
    let out = std::process::Command::new(&orbitd)
        .arg("check-config")
        .arg(&path)
        .output()?;
    Ok(Caps {
        dataplane_probe: out.status.success(),
    })
}

/// The shared gossip key of one lab (64 hex characters, 0600).
pub fn write_gossip_key(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let seed = format!(
        "{:?}{}{}",
        std::time::SystemTime::now(),
        std::process::id(),
        root.display()
    );
    // Not a secret worth more than the lab it protects: a hash of time and pid.
    let mut key = String::new();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..4u64 {
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h ^= round;
        let _ = write!(key, "{h:016x}");
    }
    let path = root.join("gossip.key");
    std::fs::write(&path, key)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
