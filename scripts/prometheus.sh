#!/usr/bin/env bash
# Brings a real Prometheus onto this machine without installing anything: Debian's package, downloaded with apt-get
# from a sources list and apt state of its own (the system's apt configuration is neither read nor changed), checked
# against the pinned version and SHA-256, and unpacked with dpkg-deb -x under .tools/. Prints the binary's path.
#
# Why Debian's: no other registry this project reaches ships a Prometheus binary, and Debian's needs only libc.
# Why forky's 3.5.3 and not trixie's 2.53: it is the nearest to the 3.13 that docker-compose.yml pins (Prometheus 3's
# UTF-8 names, config format and defaults; 2.53 has neither the `otlp:` keys the config uses nor 3.x's API
# behaviour). Debian builds it without the OTLP receiver (no /api/v1/otlp); the remote-write receiver
# (--web.enable-remote-write-receiver) is there, which is how tests/stack/live_prometheus.py feeds it. What differs
# from the pinned 3.13 and matters for the dashboards: deploy/README.md, "A real Prometheus in the test command".
#
# Usage: scripts/prometheus.sh            prints the path of the prometheus binary (downloads it the first time)
# Environment: TOOLS_DIR (default .tools), PROMETHEUS_DEB_SUITE, PROMETHEUS_DEB_VERSION, PROMETHEUS_DEB_SHA256
#   (the pins below; change all three together, then the differences documented in deploy/README.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
SUITE=${PROMETHEUS_DEB_SUITE:-forky}
VERSION=${PROMETHEUS_DEB_VERSION:-3.5.3+ds1-6}
SHA256=${PROMETHEUS_DEB_SHA256:-593bcced02d8082688ea034dfc543848ad145c5f793aae5aad756c4dbdfa98da}
UPSTREAM=${VERSION%%+*}
ARCH=$(dpkg --print-architecture)

tools=${TOOLS_DIR:-$root/.tools}
dir=$tools/prometheus-deb
dest=$dir/$VERSION-$ARCH
bin=$dest/usr/bin/prometheus
if [ -x "$bin" ] && [ -e "$dest/.verified" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/download"
echo "deb http://deb.debian.org/debian $SUITE main" > "$dir/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
echo "prometheus.sh: apt-get update ($SUITE, own lists under $dir)" >&2
apt-get "${apt_opts[@]}" -qq update >&2
rm -f "$dir/download/"*.deb
if ! (cd "$dir/download" && apt-get "${apt_opts[@]}" -qq download "prometheus=$VERSION" >&2); then
  echo "prometheus.sh: Debian $SUITE no longer has prometheus $VERSION; it has:" >&2
  apt-cache "${apt_opts[@]}" policy prometheus >&2 || true
  echo "prometheus.sh: pin the new version and SHA-256 here and review deploy/README.md's differences" >&2
  exit 1
fi
deb=$(ls "$dir/download/"*.deb)
actual=$(sha256sum "$deb" | cut -d' ' -f1)
if [ "$actual" != "$SHA256" ]; then
  echo "prometheus.sh: $deb has SHA-256 $actual, expected $SHA256" >&2
  exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
dpkg-deb -x "$deb" "$dest"
rm -f "$deb"
reported=$("$bin" --version 2>&1 | head -1)
case $reported in
  "prometheus, version $UPSTREAM"*) ;;
  *) echo "prometheus.sh: $bin reports '$reported', expected version $UPSTREAM" >&2; exit 1 ;;
esac
touch "$dest/.verified"
echo "prometheus.sh: $reported unpacked into $dest" >&2
echo "$bin"
