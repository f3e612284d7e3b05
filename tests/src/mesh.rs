//! Three members (sites a and b, witness w), each in its own network
//! namespace, joined by a full mesh of veth pairs.
//!
//! Every member has a /32 on `lo` (10.0.0.1 a, .2 b, .3 w) for gossip and
//! BFD, reached over the direct link only (static /32 routes; nobody
//! forwards), so taking a link down really cuts that pair. The namespaces
//! are named after the test process and removed in `Drop`, even on panic.

use std::process::Command;

use crate::netns::Netns;
use crate::sh;

pub const NODES: [&str; 3] = ["a", "b", "w"];

/// (x, y, subnet 10.0.<subnet>.0/30): veth "v<x><y>" in x, "v<y><x>" in y.
const LINKS: [(usize, usize, u8); 3] = [(0, 1, 12), (0, 2, 13), (1, 2, 23)];

#[derive(Debug)]
pub struct Mesh {
    /// a, b, w: removed (with every process left in them) on drop.
    nodes: Vec<Netns>,
}

impl Mesh {
    /// `tag` tells apart the meshes of tests in one process (a few chars:
    /// interface and namespace names are short).
    pub fn new(tag: &str) -> Mesh {
        let mesh = Mesh {
            nodes: NODES
                .iter()
                .map(|n| Netns::new(&format!("{tag}{n}")))
                .collect(),
        };
        for (i, n) in NODES.iter().enumerate() {
            sh(&[
                "ip",
                "-n",
                &mesh.ns(n),
                "addr",
                "add",
                &format!("{}/32", Self::addr(i)),
                "dev",
                "lo",
            ]);
        }
        for (x, y, net) in LINKS {
            let (nx, ny) = (NODES[x], NODES[y]);
            let (ix, iy) = (format!("v{nx}{ny}"), format!("v{ny}{nx}"));
            let (sx, sy) = (mesh.ns(nx), mesh.ns(ny));
            sh(&[
                "ip", "link", "add", &ix, "netns", &sx, "type", "veth", "peer", "name", &iy,
                "netns", &sy,
            ]);
            for (ns, ifname, host) in [(&sx, &ix, 1), (&sy, &iy, 2)] {
                sh(&[
                    "ip",
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("10.0.{net}.{host}/30"),
                    "dev",
                    ifname,
                ]);
                sh(&["ip", "-n", ns, "link", "set", ifname, "up"]);
            }
            mesh.routes(x, y, net);
        }
        mesh
    }

    /// The namespace of member `node` ("a", "b" or "w").
    pub fn ns(&self, node: &str) -> String {
        let i = NODES.iter().position(|n| *n == node).expect("a, b or w");
        self.nodes[i].name.clone()
    }

    /// The namespace of member `node`, to start other programs in it (a
    /// router beside the witness, say).
    pub fn netns(&self, node: &str) -> &Netns {
        let i = NODES.iter().position(|n| *n == node).expect("a, b or w");
        &self.nodes[i]
    }

    /// The `[node]` table of member `node` (state and API socket in `dir`)
    /// and the `[[site]]` tables of the whole mesh: a and b, witness w,
    /// gossiping on their loopback addresses.
    pub fn cluster_config(node: &str, dir: &std::path::Path) -> String {
        let role = if node == "w" { "witness" } else { "site" };
        let d = dir.display();
        let mut text = format!(
            "[node]\nsite = \"{node}\"\nrole = \"{role}\"\n\
             state_dir = \"{d}/{node}-state\"\napi_socket = \"{d}/{node}.sock\"\n"
        );
        for (i, n) in NODES.iter().enumerate() {
            text += &format!(
                "[[site]]\nid = \"{n}\"\ngossip = \"{}:7946\"\n",
                Self::addr(i)
            );
            if *n == "w" {
                text += "witness = true\n";
            }
        }
        text
    }

    /// The loopback address of member number `i` (0 a, 1 b, 2 w).
    pub fn addr(i: usize) -> String {
        format!("10.0.0.{}", i + 1)
    }

    /// Takes the link between `x` and `y` down or up (on `x`'s side,
    /// which drops carrier on both). The kernel deletes the routes over a
    /// link that goes down; bringing it up puts them back.
    pub fn link(&self, x: &str, y: &str, up: bool) {
        sh(&[
            "ip",
            "-n",
            &self.ns(x),
            "link",
            "set",
            &format!("v{x}{y}"),
            if up { "up" } else { "down" },
        ]);
        if up {
            let index = |n: &str| NODES.iter().position(|m| *m == n).expect("a, b or w");
            let (i, j) = (index(x), index(y));
            let (lo, hi) = (i.min(j), i.max(j));
            let (_, _, net) = LINKS
                .iter()
                .find(|(a, b, _)| (*a, *b) == (lo, hi))
                .expect("a pair of the mesh");
            self.routes(lo, hi, *net);
        }
    }

    /// The /32 routes between members `x` and `y` over their direct link.
    fn routes(&self, x: usize, y: usize, net: u8) {
        let (sx, sy) = (self.ns(NODES[x]), self.ns(NODES[y]));
        for (ns, to, via) in [(&sx, y, 2), (&sy, x, 1)] {
            sh(&[
                "ip",
                "-n",
                ns,
                "route",
                "replace",
                &format!("{}/32", Self::addr(to)),
                "via",
                &format!("10.0.{net}.{via}"),
            ]);
        }
    }

    /// Writes the gossip and BFD keys (`key`, `bfd-key`) to `dir` and starts
    /// `orbitd` on every member with the config `config(node)` returns,
    /// logging to `dir/NODE.log`. The children are the caller's to stop.
    pub fn start_orbitd(
        &self,
        orbitd: &str,
        dir: &std::path::Path,
        config: impl Fn(&str) -> String,
    ) -> Vec<std::process::Child> {
        self.start_orbitd_with_args(orbitd, dir, &[], config)
    }

    /// [`Mesh::start_orbitd`] with `args` (e.g. `--log-format json`)
    /// before `--config`.
    pub fn start_orbitd_with_args(
        &self,
        orbitd: &str,
        dir: &std::path::Path,
        args: &[&str],
        config: impl Fn(&str) -> String,
    ) -> Vec<std::process::Child> {
        Self::write_keys(dir);
        NODES
            .iter()
            .map(|node| {
                self.orbitd_command(node, orbitd, dir, args, &config(node))
                    .spawn()
                    .expect("start orbitd")
            })
            .collect()
    }

    /// The gossip and BFD keys (`key`, `bfd-key`) the members' configs
    /// name, written to `dir`.
    pub fn write_keys(dir: &std::path::Path) {
        std::fs::write(dir.join("key"), "a-shared-secret-for-this-test-only").expect("gossip key");
        std::fs::write(dir.join("bfd-key"), "twenty-byte-bfd-key\n").expect("bfd key");
    }

    /// `orbitd ARGS --config dir/NODE.toml` in member `node`'s namespace,
    /// with `config` written to that file and stderr to `dir/NODE.log`:
    /// ready to spawn, for a test that starts members one by one or with
    /// an environment of their own.
    pub fn orbitd_command(
        &self,
        node: &str,
        orbitd: &str,
        dir: &std::path::Path,
        args: &[&str],
        config: &str,
    ) -> Command {
        let cfg = dir.join(format!("{node}.toml"));
        std::fs::write(&cfg, config).expect("config file");
        let log = std::fs::File::create(dir.join(format!("{node}.log"))).expect("log file");
        let mut command = self.command(node, orbitd);
        command
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(log);
        command
    }

    /// A command that runs `program` inside member `node`'s namespace.
    pub fn command(&self, node: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(node), program]);
        c
    }
}
