#!/bin/sh
# Installs the Debian packages vnfha builds and tests with, and only those
# missing, so that running it again does nothing. Needs root.
set -eu

pkgs="pacemaker pacemaker-cli-utils corosync pcs resource-agents haproxy
libxml2-utils iproute2 nftables util-linux procps strace systemd dbus-daemon python3
redis-server etcd-server"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "deps: all installed"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing; run make deps as root" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# --no-install-recommends keeps fence-agents and the like out: the lab
# brings its own fence agent. redis-server and etcd-server are the stock
# stores the checkpoint store is compared with (test/ckptjepsen,
# test/bench); the tests run their own instances in the lab, never the
# packages' services.
apt-get install -y -q --no-install-recommends $missing
