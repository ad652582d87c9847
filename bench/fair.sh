#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Fair on IPv6, measured: the launcher's memory and a partner's latency while
# an attacker rotates through 100,000 IPv6 /64s, then through 100,000
# addresses of one /64 (test/fair.py's clients, in a network namespace of
# its own with 2001:db8::/32 routed to lo).  Needs root (unshare -n).
#
#   bench/fair.sh                 (or PREFIXES=100000 ADDRS=100000 bench/fair.sh)
#
# The launcher: -R 1 -c 200 for everyone, -R50 for the partner's /48 by a
# rule, msgd-handler -l /dev/null behind it.  The partner connects from one
# address of its /48 twenty times a second and reads the greeting: first
# for IDLE seconds (default 5) with no attack, then during each rotation.
# Prints its latency (connect to greeting) p50/p99/max for each phase, the
# rotation's rate, and the launcher's VmRSS before and after each.  Exits 1
# when a step fails.  MSGD_BIN: directory of the msgd programs (default:
# bin/ of this repo).  See bench/README.md.
set -uo pipefail
export LC_ALL=C

me=${0##*/}
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
PREFIXES=${PREFIXES:-100000} ADDRS=${ADDRS:-100000} IDLE=${IDLE:-5}

# once, in a network namespace of our own
if [[ -z ${MSGD_FAIR_NS:-} ]]; then
	[[ $(id -u) -eq 0 ]] || die "needs root, for a network namespace (unshare -n)"
	exec unshare -n env MSGD_FAIR_NS=1 "$0" "$@"
fi
{ ip link set lo up && ip -6 route add local 2001:db8::/32 dev lo; } ||
	die "cannot route 2001:db8::/32 to lo"

# repo, launcher and handler (built and checked), and tmp
# shellcheck source=bench/bins.sh
. "$here/bins.sh"
fair=("${PYTHON:-python3}" "$repo/test/fair.py")
lpid=
cleanup() {
	[[ -z $lpid ]] || { kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null; }
	rm -rf "$tmp"
}
trap cleanup EXIT

printf '2001:db8:ffff::/48 allow -R50\n' >"$tmp/rules"
"$launcher" -q -1 -c 200 -b 1024 -R 1 -x "$tmp/rules" :: 0 \
	"$handler" -l /dev/null >"$tmp/port" 2>"$tmp/log" 3>&- &
lpid=$!
for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.05; done
port=$(head -n 1 "$tmp/port")
[[ $port =~ ^[0-9]+$ ]] || die "the launcher did not start: $(cat "$tmp/log")"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$lpid/status"; }

now() { date +%s.%N; }
# phase NAME COUNT SOURCE FIRST: the partner steady while COUNT connections
# rotate through SOURCE from FIRST (none when COUNT is 0: IDLE seconds)
phase() {
	local name=$1 count=$2 src=$3 first=$4 spid t0 t1 got
	rm -f "$tmp/stop"
	"${fair[@]}" steady "$port" '2001:db8:ffff::1' 3600 0.05 "$tmp/stop" >"$tmp/steady" &
	spid=$!
	t0=$(now)
	if [[ $count -eq 0 ]]; then
		sleep "$IDLE"
	else
		got=$("${fair[@]}" rotate "$port" "$count" "$src" "$first") ||
			die "$name: the rotation failed"
		[[ $got -eq $count ]] || die "$name: $got of $count connected"
	fi
	t1=$(now)
	touch "$tmp/stop"
	wait "$spid" || die "$name: the partner's client failed"
	awk -v n="$name" -v c="$count" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		-v r="$(rss)" -v p="$(head -n 1 "$tmp/steady")" \
		'BEGIN { printf "%-28s %7d conns in %6.1f s (%6.0f/s)  VmRSS %5d kB  partner: %s\n", n, c, s, c / s, r, p }'
	sed -n '2,4p' "$tmp/steady" | sed 's/^/    partner got: /'
}

echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus; launcher -R 1 -c 200, partner -R50"
echo "# VmRSS at start: $(rss) kB"
"${fair[@]}" rotate "$port" 1000 '2001:db8:{hi:x}:{lo:x}::1' 200001 >/dev/null ||
	die "warm-up failed"
echo "# VmRSS after 1000 sources (warm): $(rss) kB"
phase "idle" 0 - 0
phase "$PREFIXES /64s" "$PREFIXES" '2001:db8:{hi:x}:{lo:x}::1' 1
phase "$ADDRS addresses of one /64" "$ADDRS" '2001:db8:fffe::{hi:x}:{lo:x}' 1
kill -USR1 "$lpid"
sleep 0.5
sed -n 's/^msgd-launcher: status: /# status: /p' "$tmp/log"
