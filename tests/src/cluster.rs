//! Several orbitd processes on loopback, each with the config `dir/M.toml`
//! and the API socket `dir/M.sock` of its member M: started, killed and
//! restarted by name; killed and their directory removed on drop (kept with
//! `ORBIT_KEEP`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(Debug)]
pub struct Cluster {
    pub dir: PathBuf,
    orbitd: PathBuf,
    daemons: Vec<(String, Option<Child>)>,
}

impl Cluster {
    /// A fresh directory `orbit-NAME-PID` with the gossip key file `key`,
    /// for the members' configs.
    pub fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("orbit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster dir");
        std::fs::write(dir.join("key"), "a-shared-secret-for-this-test-only").expect("key");
        dir
    }

    /// Starts `orbitd` for each of `members`, whose configs are in `dir`.
    pub fn start(orbitd: &Path, dir: PathBuf, members: &[&str]) -> Cluster {
        let mut cluster = Cluster {
            dir,
            orbitd: orbitd.to_owned(),
            daemons: Vec::new(),
        };
        for member in members {
            let child = cluster.spawn(member);
            cluster.daemons.push(((*member).to_owned(), Some(child)));
        }
        cluster
    }

    fn spawn(&self, member: &str) -> Child {
        Command::new(&self.orbitd)
            .arg("--config")
            .arg(self.dir.join(format!("{member}.toml")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("orbitd starts")
    }

    pub fn socket(&self, member: &str) -> PathBuf {
        self.dir.join(format!("{member}.sock"))
    }

    /// `orbitctl --json status` of `member`, or `None` while it does not
    /// answer.
    pub fn status(&self, member: &str) -> Option<serde_json::Value> {
        let orbitd = self.orbitd.to_str().expect("a UTF-8 path");
        let (code, out, _) =
            crate::orbitd::orbitctl(orbitd, &self.socket(member), &["--json", "status"]);
        (code == 0).then(|| serde_json::from_str(&out).expect("status is JSON"))
    }

    fn slot(&mut self, member: &str) -> &mut Option<Child> {
        &mut self
            .daemons
            .iter_mut()
            .find(|(m, _)| m == member)
            .expect("a member of the cluster")
            .1
    }

    pub fn kill(&mut self, member: &str) {
        let mut child = self.slot(member).take().expect("running");
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    pub fn restart(&mut self, member: &str) {
        let child = self.spawn(member);
        *self.slot(member) = Some(child);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.daemons {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if std::env::var_os("ORBIT_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
