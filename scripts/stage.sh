#!/bin/sh
# Installs orbit under DESTDIR: the one list of files that `make install`
# and `make deb` (scripts/deb.sh) both ship, so the two cannot differ.
#
#   scripts/stage.sh BINDIR DESTDIR PREFIX
#
# BINDIR holds built orbitd and orbitctl (target/release for `make install`
# and `make deb`; the tests pass target/debug). Man pages and completions
# are rendered by those binaries (`orbitd man`, `orbitctl man`,
# `orbitctl completions`), so they describe exactly the binaries shipped.
# Binaries are stripped on the way (the release profile strips already;
# debug builds shrink from hundreds of MB to tens).
#
# Paths: binaries, man pages, completions and docs under PREFIX; the config
# under /etc/orbit (never overwritten: an operator's config stays); the
# systemd unit in /lib/systemd/system for PREFIX=/usr (Debian's place),
# else PREFIX/lib/systemd/system (which systemd also searches), with the
# unit's /usr/sbin/orbitd rewritten to PREFIX/sbin/orbitd.
set -eu

if [ $# -ne 3 ]; then
    echo "usage: $0 BINDIR DESTDIR PREFIX" >&2
    exit 64
fi
bindir=$1
destdir=$2
prefix=$3
top=$(cd "$(dirname "$0")/.." && pwd)

for bin in orbitd orbitctl; do
    if [ ! -x "$bindir/$bin" ]; then
        echo "stage: $bindir/$bin missing: build it first (cargo build --release -p orbitd -p orbitctl)" >&2
        exit 66
    fi
done

root=$destdir$prefix
if [ "$prefix" = /usr ]; then
    unitdir=$destdir/lib/systemd/system
else
    unitdir=$root/lib/systemd/system
fi
doc=$root/share/doc/orbit

install -d -m 0755 "$root/sbin" "$root/bin"
install -m 0755 "$bindir/orbitd" "$root/sbin/orbitd"
install -m 0755 "$bindir/orbitctl" "$root/bin/orbitctl"
# As dh_strip does: symbols and the compiler's .comment/.note sections.
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$root/sbin/orbitd" "$root/bin/orbitctl"

# Man pages, gzipped without a timestamp (reproducible; man reads .gz).
# Through a file, so that a failing binary stops the install (set -e does
# not see the left side of a pipe).
roff=$(mktemp)
trap 'rm -f "$roff"' EXIT
man_page() { # SECTION NAME COMMAND...
    section=$1
    name=$2
    shift 2
    "$@" >"$roff"
    install -d -m 0755 "$root/share/man/man$section"
    gzip -9n <"$roff" >"$root/share/man/man$section/$name.$section.gz"
    chmod 0644 "$root/share/man/man$section/$name.$section.gz"
}
man_page 8 orbitd "$bindir/orbitd" man orbitd
man_page 5 orbit.toml "$bindir/orbitd" man orbit.toml
man_page 1 orbitctl "$bindir/orbitctl" man

# Completions, where bash-completion, zsh and fish look for vendor ones.
install -d -m 0755 "$root/share/bash-completion/completions" \
    "$root/share/zsh/vendor-completions" "$root/share/fish/vendor_completions.d"
"$bindir/orbitctl" completions bash >"$root/share/bash-completion/completions/orbitctl"
"$bindir/orbitctl" completions zsh >"$root/share/zsh/vendor-completions/_orbitctl"
"$bindir/orbitctl" completions fish >"$root/share/fish/vendor_completions.d/orbitctl.fish"
chmod 0644 "$root/share/bash-completion/completions/orbitctl" \
    "$root/share/zsh/vendor-completions/_orbitctl" "$root/share/fish/vendor_completions.d/orbitctl.fish"

# The config: the commented example, only where none exists yet.
install -d -m 0755 "$destdir/etc/orbit"
if [ -e "$destdir/etc/orbit/orbit.toml" ]; then
    echo "stage: $destdir/etc/orbit/orbit.toml exists: kept (the example is in $doc/examples/)" >&2
else
    install -m 0644 "$top/examples/orbit.toml" "$destdir/etc/orbit/orbit.toml"
fi

# systemd: the unit, the user and the runtime/state directories.
install -d -m 0755 "$unitdir" "$root/lib/sysusers.d" "$root/lib/tmpfiles.d"
sed "s|/usr/sbin/orbitd|$prefix/sbin/orbitd|g" "$top/packaging/systemd/orbitd.service" >"$unitdir/orbitd.service"
chmod 0644 "$unitdir/orbitd.service"
install -m 0644 "$top/packaging/systemd/orbit.sysusers" "$root/lib/sysusers.d/orbit.conf"
install -m 0644 "$top/packaging/systemd/orbit.tmpfiles" "$root/lib/tmpfiles.d/orbit.conf"

# Docs: the README, docs/*.md, the example configs, the copyright and the
# changelog (Debian's names: lintian wants them in every package).
install -d -m 0755 "$doc/examples"
install -m 0644 "$top/README.md" "$top"/docs/*.md "$doc/"
install -m 0644 "$top"/examples/*.toml "$doc/examples/"
install -m 0644 "$top/packaging/debian/copyright" "$doc/copyright"
gzip -9n <"$top/packaging/debian/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
