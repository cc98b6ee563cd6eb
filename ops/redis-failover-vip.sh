#!/bin/sh
# redis-failover-vip.sh: Redis Sentinel's client-reconfig-script for
# PixelCraft (ops/SCALE_OUT.md, ops/redis-sentinel.conf.example). Install as
# /etc/redis/pixelcraft-failover-vip.sh (mode 0755) on every Sentinel machine.
#
# The workers connect to one virtual address (REDIS_URL=redis://...@VIP/0);
# hiredis 0.14 cannot follow Sentinel itself. After a failover Sentinel runs
# this script on each Sentinel machine with
#   <master-name> <role> <state> <from-ip> <from-port> <to-ip> <to-port>
# The machine that holds to-ip (the new primary) takes the virtual address
# and announces it (gratuitous ARP); every other machine drops it and closes
# the client connections of its Redis, so no worker stays on a replica.
#
# Run by Sentinel as user redis (Debian's service), the script calls ip and
# arping (iputils-arping) through sudo: /etc/sudoers.d/pixelcraft-vip
#   redis ALL=(root) NOPASSWD: /usr/sbin/ip addr add 10.0.0.30/24 dev eth0, \
#         /usr/sbin/ip addr del 10.0.0.30/24 dev eth0, /usr/bin/arping
# Run as root (a Sentinel started by root), it calls them directly. The
# Redis password must be readable in /etc/redis/pixelcraft-redis.pass (0640,
# group redis). The script must finish quickly: Sentinel retries it when it
# exits 1 and kills it after 60 s. PIXELCRAFT_REDIS_VIP, _VIP_PREFIX,
# _VIP_DEV and PIXELCRAFT_REDIS_PASSFILE in the environment override the
# address, its prefix and device, and the password file (defaults: the
# values above). tests/scale/redis-failover.sh (make test) runs this script
# unchanged, through a wrapper that sets them, in network namespaces and
# checks that a failover moves the address (ops/SCALE_OUT.md). Still try a
# failover (SENTINEL FAILOVER pixelcraft) on your machines before relying
# on it.
set -u

VIP=${PIXELCRAFT_REDIS_VIP:-10.0.0.30}
PREFIX=${PIXELCRAFT_REDIS_VIP_PREFIX:-24}
DEV=${PIXELCRAFT_REDIS_VIP_DEV:-eth0}
PASSFILE=${PIXELCRAFT_REDIS_PASSFILE:-/etc/redis/pixelcraft-redis.pass}
# root needs no sudo (nor has it, on a minimal machine)
SUDO=sudo
[ "$(id -u)" -eq 0 ] && SUDO=

[ $# -ge 7 ] || { echo "usage: $0 master role state from-ip from-port to-ip to-port" >&2; exit 2; }
to_ip=$6

mine() { ip -4 -o addr show | awk '{ sub(/\/.*/, "", $4); print $4 }' | grep -qx "$1"; }

if mine "$to_ip"; then
	# the new primary is on this machine
	mine "$VIP" || $SUDO /usr/sbin/ip addr add "$VIP/$PREFIX" dev "$DEV" || exit 1
	$SUDO /usr/bin/arping -q -U -c 3 -I "$DEV" "$VIP" || true
elif mine "$VIP"; then
	# this machine's Redis is no longer the primary
	$SUDO /usr/sbin/ip addr del "$VIP/$PREFIX" dev "$DEV" || exit 1
	if [ -r "$PASSFILE" ]; then
		REDISCLI_AUTH=$(cat "$PASSFILE") redis-cli -h 127.0.0.1 -p 6379 \
			CLIENT KILL TYPE normal SKIPME yes >/dev/null || true
	fi
fi
exit 0
