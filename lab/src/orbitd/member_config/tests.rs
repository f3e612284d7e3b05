#![allow(clippy::unwrap_used)] // tests: a panic is the report

use std::path::{Path, PathBuf};

use orbit_config::Config;

use super::super::{Caps, Failback, Setup};
use super::config;
use crate::plan::Mode;

/// The modes that run orbitd.
const MODES: [Mode; 5] = [
    Mode::Haproxy,
    Mode::Bgp,
    Mode::BgpNoBfd,
    Mode::Sdn,
    Mode::Serf,
];
const MEMBERS: [&str; 3] = ["a", "b", "w"];

struct Paths {
    root: PathBuf,
    haproxy_socket: PathBuf,
    haproxy_map: PathBuf,
}

fn paths() -> Paths {
    let root = PathBuf::from("/run/orbit-lab/t");
    Paths {
        haproxy_socket: root.join("haproxy.sock"),
        haproxy_map: root.join("web.map"),
        root,
    }
}

fn setup(mode: Mode, p: &Paths) -> Setup<'_> {
    Setup {
        mode,
        root: &p.root,
        caps: Caps {
            dataplane_probe: true,
        },
        bfd_ms: 10,
        failback: Failback::default(),
        standby_withdraw: false,
        haproxy_socket: &p.haproxy_socket,
        haproxy_map: &p.haproxy_map,
        ovs_dir: Path::new("/run/orbit-lab/t/ovs"),
    }
}

/// Every setup the lab writes: each mode with the defaults, and with each
/// tuning a scenario or an old daemon asks for.
fn every_setup(p: &Paths) -> Vec<Setup<'_>> {
    let mut all = Vec::new();
    for mode in MODES {
        let base = setup(mode, p);
        all.push(base.clone());
        all.push(Setup {
            caps: Caps::default(),
            ..base.clone()
        });
        all.push(Setup {
            failback: Failback::Manual,
            ..base.clone()
        });
        all.push(Setup {
            failback: Failback::After(500),
            bfd_ms: 50,
            standby_withdraw: true,
            ..base.clone()
        });
    }
    all
}

#[test]
fn every_member_config_round_trips_and_validates() {
    let p = paths();
    for setup in every_setup(&p) {
        for member in MEMBERS {
            let built = config(&setup, member).unwrap();
            let text = toml::to_string(&built).unwrap();
            let origin = format!("{} {member}", setup.mode);
            let read = Config::parse_valid(&text, &origin)
                .unwrap_or_else(|e| panic!("{origin}: {e}\n{text}"));
            assert_eq!(read, built, "{origin}:\n{text}");
        }
    }
}

/// Temporary: the typed config says what the hand-written text said.
#[test]
fn typed_config_equals_the_hand_written_one() {
    let p = paths();
    for setup in every_setup(&p) {
        for member in MEMBERS {
            let origin = format!("{} {member}", setup.mode);
            let old = super::super::config_writeln(&setup, member);
            let old = Config::parse_valid(&old, &origin)
                .unwrap_or_else(|e| panic!("{origin}: {e}\n{old}"));
            assert_eq!(config(&setup, member).unwrap(), old, "{origin}");
        }
    }
}
