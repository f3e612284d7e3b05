//! A throwaway root for tests that install things for real (`dpkg -i`,
//! the README's quick start): an overlay of this machine's root (writes
//! land in a directory of the test's) in a mount namespace of its own that
//! ends with the command, with empty `/run` (no systemd to reach; network
//! namespaces made inside vanish with it) and `/tmp`, and this machine's
//! `/proc`, `/sys` and `/dev`. dpkg finds the machine's packages installed
//! and maintainer scripts run with real tools, while nothing reaches the
//! machine's own files.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the bash script `inner` as root inside a throwaway root made in
/// `work` (made if missing; empty). `prepare`, a shell snippet, runs first,
/// outside the chroot with the root mounted at `$root`, e.g. to copy files
/// from `$work` into `$root/tmp`. Returns the command's output, whatever
/// its exit status.
pub fn run(work: &Path, prepare: &str, inner: &str, envs: &[(&str, &str)]) -> Output {
    for dir in ["upper", "work", "root"] {
        std::fs::create_dir_all(work.join(dir)).expect("throwaway root directories");
    }
    std::fs::write(work.join("inner.sh"), inner).expect("inner script");
    let outer = format!(
        r#"set -eu
work=$1
root=$work/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$root"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
cp "$work/inner.sh" "$root/tmp/"
{prepare}
exec chroot "$root" /bin/bash /tmp/inner.sh
"#
    );
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &outer,
        "sh",
    ])
    .arg(work)
    .env("DEBIAN_FRONTEND", "noninteractive")
    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("unshare (util-linux)")
}
