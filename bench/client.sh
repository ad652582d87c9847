#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Throughput of msgd-client against nc.openbsd -N on loopback.
#
#   bench/client.sh [-r ROUNDS]        (or ROUNDS=9 bench/client.sh)
#
# Pipes `head -c 1G /dev/zero` through msgd-client and, alternating with it,
# through `nc.openbsd -N`, ROUNDS times (default 3), into the same sink: one
# msgd-launcher on 127.0.0.1 port 0 running `wc -c` per connection, whose count
# checks every run. Prints each round, the median MB/s of both (MB = 10^6 bytes)
# and the median of the per-round ratios client/nc against the target 1.0.
# Exits 0 when the target is missed (it is a benchmark), 1 when a run is wrong
# or a step fails, 2 on bad usage.  BYTES changes the amount (default 1 GiB).
# MSGD_BIN: directory of msgd-client and msgd-launcher (default: bin/ of this
# repo); built with `make -s` when missing. See bench/README.md.
set -uo pipefail
export LC_ALL=C

readonly T_RATIO=1.0
me=${0##*/}
die() { printf '%s: FAIL: %s\n' "$me" "$*" >&2; exit 1; }
usage() { printf 'usage: %s [-r ROUNDS]  (or ROUNDS=N %s)\n' "$0" "$0" >&2; exit 2; }

rounds=${ROUNDS:-3}
bytes=${BYTES:-1073741824}
while (($#)); do
	case $1 in
	-r | --rounds) (($# >= 2)) || usage; rounds=$2; shift 2 ;;
	*) usage ;;
	esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { printf '%s: ROUNDS must be a positive integer, not "%s"\n' "$me" "$rounds" >&2; exit 2; }
[[ $bytes =~ ^[1-9][0-9]*$ ]] || { printf '%s: BYTES must be a positive integer, not "%s"\n' "$me" "$bytes" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
nc=$(command -v nc.openbsd) || die "needs nc.openbsd (Debian package netcat-openbsd)"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash 5 (\$EPOCHREALTIME)"
# client and launcher, built into their MSGD_BIN only when missing, and tmp
# shellcheck source=bench/bins.sh
. "$here/bins.sh" --if-missing msgd-client msgd-launcher
LPID=
cleanup() {
	if [[ -n $LPID ]]; then
		kill "$LPID" 2>/dev/null
		wait "$LPID" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the sink: each connection's byte count into $tmp/count
# shellcheck disable=SC2016 # the sink's sh expands $1
"$launcher" -q -1 127.0.0.1 0 sh -c 'exec wc -c >"$1"' sh "$tmp/count" \
	>"$tmp/port" 2>"$tmp/launcher.err" &
LPID=$!
for ((i = 0; i < 200; i++)); do
	port=$(head -n 1 "$tmp/port")
	[[ -n $port ]] && break
	sleep 0.05
done
[[ $port =~ ^[0-9]+$ ]] || die "the sink did not start: $(cat "$tmp/launcher.err")"

# run NAME CMD...: pipe $bytes zeros through CMD 127.0.0.1 $port; set US to
# the wall time in microseconds; check the sink's count
run() {
	local name=$1 t0 t1 got
	shift
	rm -f "$tmp/count"
	t0=${EPOCHREALTIME/./}
	head -c "$bytes" /dev/zero | "$@" 127.0.0.1 "$port" >/dev/null ||
		die "$name: exit status ${PIPESTATUS[1]}"
	t1=${EPOCHREALTIME/./}
	US=$((t1 - t0))
	got=$(cat "$tmp/count" 2>/dev/null)
	[[ $got == "$bytes" ]] || die "$name: the sink got ${got:-nothing} bytes, not $bytes"
}

mbs() { awk -v b="$bytes" -v us="$1" 'BEGIN { printf "%.0f", b / us }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf 'msgd-client vs %s -N: %d bytes of zeros into "wc -c" behind msgd-launcher on 127.0.0.1, %d rounds\n' \
	"$nc" "$bytes" "$rounds"
c_all='' n_all='' r_all=''
for ((r = 1; r <= rounds; r++)); do
	run msgd-client "$client"
	c=$(mbs "$US")
	run nc.openbsd "$nc" -N
	n=$(mbs "$US")
	ratio=$(awk -v c="$c" -v n="$n" 'BEGIN { printf "%.3f", c / n }')
	printf 'round %d: msgd-client %s MB/s, nc.openbsd %s MB/s, ratio %s\n' "$r" "$c" "$n" "$ratio"
	c_all+="$c"$'\n' n_all+="$n"$'\n' r_all+="$ratio"$'\n'
done
c=$(printf '%s' "$c_all" | median)
n=$(printf '%s' "$n_all" | median)
ratio=$(printf '%s' "$r_all" | median)
verdict=$(awk -v r="$ratio" -v t="$T_RATIO" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }')
printf 'median: msgd-client %s MB/s, nc.openbsd %s MB/s\n' "$c" "$n"
printf 'ratio msgd-client/nc.openbsd: %s (target >= %s) %s\n' "$ratio" "$T_RATIO" "$verdict"
printf 'RESULT: ratio %s\n' "$verdict"
