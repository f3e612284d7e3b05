//! The PostgreSQL pair of the lab's database scenarios: Debian's
//! `postgresql` server binaries, run directly as the `postgres` user (not
//! the system cluster), a primary in site a's namespace and a streaming
//! replica (`pg_basebackup -R`) in site b's, data directories under the
//! run's directory. Replication runs over the control network, so a cut
//! or a partition between the sites cuts it too.
//!
//! Each server listens on every address of its namespace, the service
//! address on `lo` included: the client reaches whichever server the
//! active site's route leads to. `cluster_name` is the site's name, so a
//! commit's answer says which server committed it.
//!
//! The plan steps orbitd runs (`step.sh fence|promote`) find the server
//! of the site they are about from `ORBIT_FROM` / `ORBIT_TO`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::plan;
use crate::sys;

/// The database service's address (a documentation address, bound on
/// `lo` in both sites as the lab does for its HTTP service).
pub const DB_ADDR: &str = "198.51.100.20";
pub const DB_PREFIX: &str = "198.51.100.20/32";
pub const PG_PORT: u16 = 5432;

/// Synchronous (`synchronous_standby_names = '*'`: a commit waits for the
/// replica's flush) or asynchronous replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    Sync,
    Async,
}

impl std::fmt::Display for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Replication::Sync => "sync",
            Replication::Async => "async",
        })
    }
}

impl Replication {
    pub fn parse(s: &str) -> Option<Replication> {
        match s {
            "sync" => Some(Replication::Sync),
            "async" => Some(Replication::Async),
            _ => None,
        }
    }
}

/// The directory of Debian's newest PostgreSQL binaries
/// (`/usr/lib/postgresql/VERSION/bin`).
pub fn bin_dir() -> Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .with_context(|| {
            format!(
                "{}: PostgreSQL is not installed (scripts/install-deps.sh installs postgresql)",
                root.display()
            )
        })?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .with_context(|| format!("no server binaries under {}", root.display()))
}

/// Where a run's PostgreSQL files are (the same path seen from every
/// member: the plan's steps are one config for all of them).
pub fn base(lab_dir: &Path) -> PathBuf {
    lab_dir.join("pg")
}

/// The script orbitd's plan steps run.
pub fn step_script(lab_dir: &Path) -> PathBuf {
    base(lab_dir).join("step.sh")
}

/// One server: its site, namespace and files.
#[derive(Debug, Clone)]
pub struct Server {
    pub site: String,
    pub ns: String,
    pub data: PathBuf,
    pub socket_dir: PathBuf,
    pub log: PathBuf,
}

/// `setpriv` rather than `runuser`/`su`: it execs the program, so the
/// process the lab starts is the program itself.
fn as_postgres<'a>(program: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "setpriv",
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        program,
    ];
    v.extend_from_slice(args);
    v
}

impl Server {
    fn new(base: &Path, site: &str, ns: String) -> Server {
        let dir = base.join(site);
        Server {
            site: site.to_owned(),
            ns,
            data: dir.join("data"),
            socket_dir: dir.join("sock"),
            log: dir.join("postgres.log"),
        }
    }

    fn bin(&self, name: &str) -> Result<String> {
        Ok(bin_dir()?.join(name).display().to_string())
    }

    /// Runs a PostgreSQL program as `postgres` in the server's namespace.
    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let p = self.bin(program)?;
        sys::run_in(&self.ns, "setpriv", &as_postgres(&p, args)[1..])
    }

    /// One SQL statement over the local socket; the rows, `|`-separated.
    pub fn psql(&self, sql: &str) -> Result<String> {
        let sock = self.socket_dir.display().to_string();
        let port = PG_PORT.to_string();
        self.run(
            "psql",
            &[
                "-h",
                &sock,
                "-p",
                &port,
                "-d",
                "postgres",
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        )
        .with_context(|| format!("psql at site {}: {sql}", self.site))
    }

    /// Starts the server (`pg_ctl start -w`); `socket_only` keeps it off
    /// the network (for reading an old primary's rows after the run).
    pub fn start(&self, socket_only: bool) -> Result<()> {
        let mut opts = format!(
            "-c cluster_name={} -c unix_socket_directories={}",
            self.site,
            self.socket_dir.display()
        );
        if socket_only {
            opts.push_str(" -c listen_addresses=''");
        }
        let data = self.data.display().to_string();
        let log = self.log.display().to_string();
        self.run(
            "pg_ctl",
            &[
                "start", "-w", "-t", "60", "-D", &data, "-l", &log, "-o", &opts,
            ],
        )
        .map(|_| ())
        .with_context(|| {
            format!(
                "starting PostgreSQL at site {}; its log:\n{}",
                self.site,
                sys::tail(&self.log, 10)
            )
        })
    }

    pub fn stop(&self) -> Result<()> {
        if self.running() {
            let data = self.data.display().to_string();
            self.run(
                "pg_ctl",
                &["stop", "-w", "-t", "60", "-D", &data, "-m", "fast"],
            )?;
        }
        Ok(())
    }

    /// `pg_ctl status`: exit 0 while the server runs.
    pub fn running(&self) -> bool {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["status", "-D", &data]).is_ok()
    }

    /// Every (id, commit time in µs) of the writer's table.
    pub fn rows(&self) -> Result<Vec<(u64, i64)>> {
        let text = self.psql("SELECT id, t_us FROM w ORDER BY id")?;
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (id, t) = l.split_once('|').context("psql row")?;
                Ok((id.parse()?, t.parse()?))
            })
            .collect()
    }

    pub fn ids(&self) -> Result<BTreeSet<u64>> {
        Ok(self.rows()?.into_iter().map(|(id, _)| id).collect())
    }

    /// The rows of a server that may be stopped (fenced): started on its
    /// socket only for the read, then stopped again.
    pub fn rows_offline(&self) -> Result<Vec<(u64, i64)>> {
        if self.running() {
            return self.rows();
        }
        self.start(true)?;
        let rows = self.rows();
        self.stop()?;
        rows
    }

    /// Makes this server a fresh replica of `primary` (pg_basebackup -R
    /// over the control network) and starts it: the lab's stand-in for
    /// the DBA re-seeding an old primary.
    pub fn reseed_from(&self, primary: &Server) -> Result<()> {
        self.stop()?;
        if self.data.exists() {
            std::fs::remove_dir_all(&self.data)?;
        }
        let data = self.data.display().to_string();
        let port = PG_PORT.to_string();
        self.run(
            "pg_basebackup",
            &[
                "-h",
                plan::ctl_addr(&primary.site),
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )
        .with_context(|| format!("pg_basebackup of site {} from {}", self.site, primary.site))?;
        self.start(false)
    }
}

/// The primary at a, the replica at b.
#[derive(Debug)]
pub struct Pair {
    pub a: Server,
    pub b: Server,
    pub replication: Replication,
}

impl Drop for Pair {
    fn drop(&mut self) {
        // Before the namespaces go (which would kill them anyway): a
        // clean stop leaves no shared memory behind.
        let _ = self.a.stop();
        let _ = self.b.stop();
    }
}

impl Pair {
    /// initdb at a, start it, create the writer's table, base backup to b,
    /// start b and wait until it streams (and, synchronous, is the
    /// synchronous standby).
    pub fn up(
        lab_dir: &Path,
        ns_a: String,
        ns_b: String,
        replication: Replication,
    ) -> Result<Pair> {
        let base = base(lab_dir);
        let a = Server::new(&base, "a", ns_a);
        let b = Server::new(&base, "b", ns_b);
        for s in [&a, &b] {
            std::fs::create_dir_all(&s.socket_dir)?;
        }
        write_step_script(lab_dir)?;
        sys::run(
            "chown",
            &["-R", "postgres:postgres", &base.display().to_string()],
        )?;
        let pair = Pair { a, b, replication };
        let data = pair.a.data.display().to_string();
        pair.a.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let conf = String::from(
            "\n# orbit-lab\nlisten_addresses = '*'\nport = 5432\nwal_level = replica\n\
             max_wal_senders = 4\nhot_standby = on\nlog_line_prefix = '%n [%p] '\n\
             wal_receiver_status_interval = 1s\nwal_sender_timeout = 5s\nwal_receiver_timeout = 5s\n\
             wal_retrieve_retry_interval = 200ms\nshared_buffers = 16MB\n",
        );
        append(&pair.a.data.join("postgresql.conf"), &conf)?;
        // The lab's namespaces only: trust on every address, replication too.
        std::fs::write(
            pair.a.data.join("pg_hba.conf"),
            "local all all trust\nhost all all 0.0.0.0/0 trust\nhost replication all 0.0.0.0/0 trust\n",
        )?;
        pair.a.start(false)?;
        pair.a.psql(
            "CREATE TABLE w (id bigint PRIMARY KEY, \
             site text NOT NULL DEFAULT current_setting('cluster_name'), \
             t_us bigint NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)",
        )?;
        pair.b.reseed_from(&pair.a)?;
        pair.replicate(&pair.a)?;
        Ok(pair)
    }

    /// Once `primary`'s replica is there: with synchronous replication,
    /// makes it the synchronous standby (`ALTER SYSTEM`, so a base backup
    /// taken before carries no such setting: a promoted replica whose
    /// partner is dead must not wait for one), and waits until it streams.
    pub fn replicate(&self, primary: &Server) -> Result<()> {
        if self.replication == Replication::Sync {
            primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")?;
            primary.psql("SELECT pg_reload_conf()")?;
        }
        self.wait_streaming(primary, Duration::from_secs(30))
    }

    /// Waits until `primary` has a streaming replica, the synchronous one
    /// where replication is synchronous.
    pub fn wait_streaming(&self, primary: &Server, timeout: Duration) -> Result<()> {
        let want = match self.replication {
            Replication::Sync => "sync",
            Replication::Async => "async",
        };
        sys::wait_for(
            &format!("a {want} streaming replica of site {}", primary.site),
            timeout,
            || {
                primary
                    .psql("SELECT state, sync_state FROM pg_stat_replication")
                    .is_ok_and(|t| t.lines().any(|l| l == format!("streaming|{want}")))
            },
        )
    }
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The steps of the `pg` plan, run by orbitd (root, in its site's
/// namespace): `fence` stops the server of the site being left (stopping
/// a stopped server succeeds: idempotent), `promote` promotes the
/// replica of the site taking over, and fails unless it is writable.
fn write_step_script(lab_dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let base = base(lab_dir);
    let bin = bin_dir()?;
    let text = format!(
        r#"#!/bin/sh
# orbit-lab: the steps of the lab's [[plan]] "pg" (lab/src/pg.rs).
set -eu
base='{base}'
bin='{bin}'
pg() {{ setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }}
case "${{1:-}}" in
fence)
    d="$base/$ORBIT_FROM/data"
    if pg "$bin/pg_ctl" status -D "$d" >/dev/null; then
        pg "$bin/pg_ctl" stop -w -t 30 -D "$d" -m fast
    fi
    echo "site $ORBIT_FROM: PostgreSQL stopped"
    ;;
promote)
    pg "$bin/psql" -h "$base/$ORBIT_TO/sock" -p {port} -d postgres -XAtq -v ON_ERROR_STOP=1 \
        -c "DO \$\$ BEGIN IF NOT pg_promote(true, 60) THEN RAISE EXCEPTION 'not promoted within 60 s'; END IF; END \$\$"
    echo "site $ORBIT_TO: PostgreSQL promoted"
    ;;
*)
    echo "usage: $0 fence|promote (with ORBIT_FROM / ORBIT_TO)" >&2
    exit 64
    ;;
esac
"#,
        base = base.display(),
        bin = bin.display(),
        port = PG_PORT,
    );
    let path = step_script(lab_dir);
    std::fs::write(&path, text)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// `orbit-lab pg-write`: in the client's namespace, one INSERT every
/// `every` through the service address on one connection (reconnecting
/// after an error), until stdin closes. Each acknowledged commit is
/// logged with the server that committed it (`pgmeasure::ack_line`); each
/// failure as `err ID SENT_US NOW_US REASON`.
pub fn write(target: std::net::Ipv4Addr, every: Duration, out: &str) -> Result<()> {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::pgmeasure::{ack_line, Ack};
    use crate::pgwire::Conn;
    use crate::sys::now_us;

    /// A connect or an answer that takes longer than this counts as
    /// failed: the attempt is given up and the next one reconnects.
    const TIMEOUT: Duration = Duration::from_millis(500);

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            stop.store(true, Ordering::SeqCst);
        });
    }
    let mut log = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {out}"))?,
    );
    let addr = std::net::SocketAddr::from((target, PG_PORT));
    let mut conn: Option<Conn> = None;
    let mut next = std::time::Instant::now();
    let mut id: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        id += 1;
        let sent_us = now_us();
        let result = (|| -> Result<Ack> {
            if conn.is_none() {
                conn = Some(Conn::connect(addr, "postgres", "postgres", TIMEOUT)?);
            }
            let c = conn.as_mut().context("no connection")?;
            let rows = c.query(&format!(
                "INSERT INTO w (id) VALUES ({id}) RETURNING site, t_us"
            ))?;
            let ack_us = now_us();
            let row = rows.first().context("INSERT returned no row")?;
            let (Some(site), Some(t)) = (
                row.first().cloned().flatten(),
                row.get(1).cloned().flatten(),
            ) else {
                bail!("INSERT returned {row:?}");
            };
            Ok(Ack {
                id,
                sent_us,
                ack_us,
                site,
                commit_us: t.parse()?,
            })
        })();
        match result {
            Ok(ack) => writeln!(log, "{}", ack_line(&ack))?,
            Err(e) => {
                conn = None;
                let reason = format!("{e:#}").replace('\n', " ");
                writeln!(log, "err {id} {sent_us} {} {reason}", now_us())?;
            }
        }
        // The runner reads the log while the writer runs (has b taken
        // the writes over yet?).
        log.flush()?;
        next += every;
        let now = std::time::Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Behind (a timed-out attempt): the steady rate resumes from now.
            next = now;
        }
    }
    log.flush()?;
    Ok(())
}

/// Needs root (namespaces, `setpriv`) and `postgresql`, as the lab does:
/// the pair comes up and replicates, and the plan's two steps do what the
/// orbitd of each site runs them for.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{ip, Netns};

    #[test]
    fn pair_replicates_and_the_plan_steps_promote_and_fence() {
        let dir = std::env::temp_dir().join(format!("orbit-lab-pg-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        struct RemoveDir(PathBuf);
        impl Drop for RemoveDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _rm = RemoveDir(dir.clone());
        let name = |s: &str| format!("olabpgt{}-{s}", std::process::id());
        let (na, nb) = (
            Netns::create(&name("a")).unwrap(),
            Netns::create(&name("b")).unwrap(),
        );
        sys::run(
            "ip",
            &[
                "link", "add", "ctl", "netns", &na.name, "type", "veth", "peer", "name", "ctl",
                "netns", &nb.name,
            ],
        )
        .unwrap();
        for (ns, site) in [(&na, "a"), (&nb, "b")] {
            sys::addr_up(&ns.name, plan::ctl_addr(site), "ctl").unwrap();
        }
        ip(&na.name, "link set lo up").unwrap();
        let pair = Pair::up(&dir, na.name.clone(), nb.name.clone(), Replication::Sync).unwrap();
        pair.a.psql("INSERT INTO w (id) VALUES (1), (2)").unwrap();
        // Synchronous: committed at a means flushed at b; visible once replayed.
        sys::wait_for("rows 1, 2 at b", Duration::from_secs(10), || {
            pair.b.ids().is_ok_and(|ids| ids == BTreeSet::from([1, 2]))
        })
        .unwrap();
        assert!(
            pair.b.psql("INSERT INTO w (id) VALUES (3)").is_err(),
            "a replica is read-only"
        );

        let step = |ns: &str, env: (&str, &str), arg: &str| {
            std::process::Command::new("ip")
                .args(["netns", "exec", ns])
                .arg(step_script(&dir))
                .arg(arg)
                .env(env.0, env.1)
                .output()
                .unwrap()
        };
        // fence_old at a: the old primary stops; again: still succeeds.
        for _ in 0..2 {
            let out = step(&na.name, ("ORBIT_FROM", "a"), "fence");
            assert!(out.status.success(), "{out:?}");
            assert!(!pair.a.running());
        }
        // before_takeover at b: writable afterwards, with a's rows.
        let out = step(&nb.name, ("ORBIT_TO", "b"), "promote");
        assert!(out.status.success(), "{out:?}");
        pair.b.psql("INSERT INTO w (id) VALUES (3)").unwrap();
        assert_eq!(pair.b.ids().unwrap(), BTreeSet::from([1, 2, 3]));
        let log = std::fs::read_to_string(&pair.b.log).unwrap();
        assert!(crate::pgmeasure::promoted_at(&log).is_some(), "{log}");
        // Promoting a primary fails instead of passing unseen.
        let out = step(&nb.name, ("ORBIT_TO", "b"), "promote");
        assert!(!out.status.success(), "{out:?}");
        // The fenced old primary still holds its rows, read offline.
        let rows: Vec<u64> = pair.a.rows_offline().unwrap().iter().map(|r| r.0).collect();
        assert_eq!(rows, vec![1, 2]);
        assert!(!pair.a.running());
        drop(pair);
    }
}
