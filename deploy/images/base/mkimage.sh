#!/bin/bash
# Makes the Debian base of the project's images as a root filesystem tarball: bookworm, mmdebstrap's
# minbase variant, slimmed the way Docker Hub's debian:<suite>-<date>-slim images are (no man pages,
# documentation other than copyright files, or translations; apt keeps no package caches and no
# recommends; package scripts may not start services).
#
#   deploy/images/base/mkimage.sh OUT.tar
#
# Environment: DEBIAN_SUITE (bookworm), DEBIAN_MIRROR (http://deb.debian.org/debian),
# DEBIAN_SECURITY_MIRROR (http://deb.debian.org/debian-security). `mms images build` runs this once
# and imports the tarball as docker.io/library/debian:bookworm-<date>-slim; anywhere else, the same
# tag comes from Docker Hub.
set -euo pipefail

out=${1:?usage: mkimage.sh OUT.tar}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# The sources the image keeps, in the deb822 form Docker Hub's debian images have.
sources="Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"

slim_dpkg=(
    'path-exclude=/usr/share/man/*'
    'path-exclude=/usr/share/info/*'
    'path-exclude=/usr/share/doc/*'
    'path-include=/usr/share/doc/*/copyright'
    'path-exclude=/usr/share/locale/*'
    'path-exclude=/usr/share/lintian/*'
    'path-exclude=/usr/share/linda/*'
    'path-exclude=/usr/share/groff/*'
)
slim_apt=(
    'Acquire::Languages "none";'
    'Acquire::GzipIndexes "true";'
    'Acquire::CompressionTypes::Order:: "gz";'
    'APT::Install-Recommends "false";'
    'APT::AutoRemove::SuggestsImportant "false";'
    'Dir::Cache::pkgcache "";'
    'Dir::Cache::srcpkgcache "";'
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };'
)

args=(--variant=minbase --format=tar --quiet)
# Merged /usr made by mmdebstrap's own hook, as debootstrap does, rather than by the usrmerge package
# (which would pull the whole of perl into the image).
args+=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
for o in "${slim_dpkg[@]}"; do args+=(--dpkgopt="$o"); done
for o in "${slim_apt[@]}"; do args+=(--aptopt="$o"); done
args+=(
    # Package scripts run during image builds must not start services (there is no init).
    --customize-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d"; chmod 0755 "$1/usr/sbin/policy-rc.d"'
    # The sources live in debian.sources, as in Docker Hub's images.
    --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/*'
    --customize-hook='cat > "$1/etc/apt/sources.list.d/debian.sources"'
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/var/log/apt/* "$1"/tmp/*'
)

# mmdebstrap reads the sources from stdin ("-"); the third customize hook reads the same text again.
printf '%s' "$sources" > "$out.sources"
trap 'rm -f "$out.sources"' EXIT
mmdebstrap "${args[@]}" "$suite" "$out" "$out.sources" < "$out.sources"
