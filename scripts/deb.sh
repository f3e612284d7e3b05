#!/bin/sh
# Builds the Debian package `orbit` from built binaries, with dpkg-deb alone
# (no cargo-deb or debhelper to install): scripts/stage.sh lays out the same
# files as `make install`, this adds DEBIAN/ and packs it.
#
#   scripts/deb.sh BINDIR OUTDIR
#
# `make deb` passes target/release and target/debian; the package test
# passes target/debug (stage.sh strips), so CI needs no release build.
# Writes OUTDIR/orbit_VERSION_ARCH.deb and prints its path.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BINDIR OUTDIR" >&2
    exit 64
fi
bindir=$1
outdir=$2
top=$(cd "$(dirname "$0")/.." && pwd)

# The workspace version: [workspace.package] version in Cargo.toml.
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$top/Cargo.toml")
changelog_version=$(sed -n '1s/^orbit (\([^)]*\)).*/\1/p' "$top/packaging/debian/changelog")
if [ -z "$version" ] || [ "$version" != "$changelog_version" ]; then
    echo "deb: Cargo.toml's version \"$version\" is not packaging/debian/changelog's \"$changelog_version\": add a changelog entry for it" >&2
    exit 65
fi
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
"$top/scripts/stage.sh" "$bindir" "$root" /usr

# Depends from the libraries the binaries link, as dpkg-shlibdeps computes
# them (it wants a debian/control beside it); libc6 if it is missing.
depends="libc6"
if command -v dpkg-shlibdeps >/dev/null; then
    mkdir -p "$work/src/debian"
    printf 'Source: orbit\n\nPackage: orbit\nArchitecture: any\n' >"$work/src/debian/control"
    shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/sbin/orbitd" "$root/usr/bin/orbitctl" 2>/dev/null |
        sed -n 's/^shlibs:Depends=//p')
    if [ -n "$shlibs" ]; then
        depends=$shlibs
    fi
fi
# postinst: adduser (deb-systemd-helper comes with init-system-helpers,
# which is essential).
depends="$depends, adduser"

installed_size=$(du -sk --apparent-size "$root" | cut -f1)
install -d -m 0755 "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOF
Package: orbit
Version: $version
Architecture: $arch
Maintainer: orbit maintainers <orbit@example.invalid>
Installed-Size: $installed_size
Depends: $depends
Suggests: bird2 | frr, haproxy, openvswitch-switch
Section: net
Priority: optional
Description: traffic redirection for metro-area disaster recovery
 orbitd runs beside each site's border router: it learns which sites are
 alive (gossip, BFD, health checks), decides with a quorum which site
 carries each service, and moves the traffic there by BGP anycast,
 OpenFlow rules on Open vSwitch, or a HAProxy map. orbitctl is its
 operator command line.
EOF
printf '/etc/orbit/orbit.toml\n' >"$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$top/packaging/debian/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb=$outdir/orbit_${version}_$arch.deb
dpkg-deb --build --root-owner-group ${DEB_COMPRESSION:+-Z"$DEB_COMPRESSION"} "$root" "$deb" >/dev/null
echo "$deb"
