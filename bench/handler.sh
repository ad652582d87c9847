#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Throughput and memory benchmark of msgd-handler on a plain pipe.
#
#   bench/handler.sh [-r ROUNDS]        (or ROUNDS=9 bench/handler.sh)
#
# Feeds the same 1,000,000 lines of 60 bytes to `cat in | msgd-handler -l rec`
# and, alternating with it, to the baseline `cat in | cat`, ROUNDS times (default 5),
# each run after a sync of the temp dir's file system; checks every handler run,
# measures the handler's peak RSS once (VmHWM), and prints the medians against
# the targets. Exits 0 when a target is missed (it is a benchmark),
# 1 when a handler run is wrong or a step fails, 2 on bad usage.
# MSGD_BIN: directory of msgd-handler (default: bin/ of this repo); built with
# `make -s` when missing. See bench/README.md.
set -uo pipefail
export LC_ALL=C

readonly NLINES=1000000 LINELEN=60  # 59 printable bytes + LF
readonly NBYTES=$((NLINES * LINELEN))
readonly T_MSGS=5000000 T_RATIO=0.40 T_RSS=512

me=${0##*/}
die() { printf '%s: FAIL: %s\n' "$me" "$*" >&2; exit 1; }
usage() { printf 'usage: %s [-r ROUNDS]  (or ROUNDS=N %s)\n' "$0" "$0" >&2; exit 2; }

rounds=${ROUNDS:-5}
while (($#)); do
	case $1 in
	-r | --rounds) (($# >= 2)) || usage; rounds=$2; shift 2 ;;
	--rounds=*) rounds=${1#*=}; shift ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { printf '%s: ROUNDS must be a positive integer, not "%s"\n' "$me" "$rounds" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
# handler, built into its MSGD_BIN only when missing, and tmp
# shellcheck source=bench/bins.sh
. "$here/bins.sh" --if-missing msgd-handler
CLOCK_PID=
cleanup() {
	[[ -n ${CLOCK_PID:-} ]] && kill "$CLOCK_PID" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
in=$tmp/in rec=$tmp/rec acks=$tmp/acks out=$tmp/out

# The clock: CLOCK_MONOTONIC in ns, read from a python3 coprocess (a pipe round
# trip, no fork per reading). $EPOCHREALTIME and date +%s.%N are the wall clock,
# which NTP may step: used only when python3 is missing.
clock="CLOCK_MONOTONIC (python3 time.monotonic_ns)"
if command -v python3 >/dev/null 2>&1; then
	coproc CLOCK { exec python3 -u -c '
import sys, time
while sys.stdin.readline():
    sys.stdout.write("%d\n" % time.monotonic_ns())
    sys.stdout.flush()
'; }
fi
# now VAR: set VAR to the time in ns
g0=0 g1=0 t0=0 t1=0 t2=0 t3=0 t_probe=
now() {
	if [[ -n ${CLOCK_PID:-} ]]; then
		printf '\n' >&"${CLOCK[1]}" && IFS= read -r "$1" <&"${CLOCK[0]}" && return
		die "the clock coprocess died"
	fi
	local t=$EPOCHREALTIME
	printf -v "$1" '%s000' "${t/./}"
}
now t_probe
[[ ${t_probe:-} =~ ^[0-9]+$ ]] || die "no usable clock"
[[ -n ${CLOCK_PID:-} ]] || clock="EPOCHREALTIME (wall clock: python3 not found)"

# 1,000,000 lines: a 7-digit line number, a space and 51 bytes taken at a random
# offset from a random 4 KiB pool of printable ASCII (0x20-0x7e), then LF.
now g0
awk -v n="$NLINES" 'BEGIN {
	srand(20261125)
	for (i = 0; i < 4096; i++) pool = pool sprintf("%c", 32 + int(rand() * 95))
	for (i = 1; i <= n; i++) printf "%07d %s\n", i, substr(pool, 1 + int(rand() * 4045), 51)
}' >"$in" || die "generating the input failed"
now g1
size=$(wc -c <"$in")
((size == NBYTES)) || die "input is ${size:-?} bytes, not $NBYTES"
[[ $(wc -l <"$in") == "$NLINES" ]] || die "input does not have $NLINES lines"

# check_run STATUS...: the last handler run was right (PIPESTATUS of its pipeline)
check_run() {
	[[ $* == "0 0" ]] || die "handler pipeline exit statuses: $* (want 0 0)"
	local last n
	last=$(tail -n 1 "$acks")
	[[ $last == "bye $NLINES" ]] || die "acks end with \"$last\", not \"bye $NLINES\""
	n=$(wc -l <"$rec")
	((n == NLINES + 2)) || die "record file has $n lines, not $((NLINES + 2))"
}

# settle: no dirty pages of an earlier run left for the kernel to write back
# while the next one is timed (each run leaves 60 to 150 MB of them, and on a
# small machine their writeback takes a CPU from whichever run comes next)
settle() {
	sync -f "$tmp" 2>/dev/null || sync
}

printf 'msgd-handler benchmark: %s\n' "$handler"
printf 'host: %s CPUs, load average %s; temp dir %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$tmp"
printf 'input: %d lines x %d bytes = %d bytes (generated in %.2f s)\n' \
	"$NLINES" "$LINELEN" "$NBYTES" "$(awk -v a="$g0" -v b="$g1" 'BEGIN { print (b - a) / 1e9 }')"
printf 'rounds: %d, alternating; clock: %s\n\n' "$rounds" "$clock"
printf '%5s  %9s %12s %8s  %9s %8s  %6s\n' round "handler s" "messages/s" "MB/s" "cat|cat s" "MB/s" ratio

h_ns=() c_ns=()
for ((r = 1; r <= rounds; r++)); do
	# (a) the handler; rec and acks removed first so that the file starts empty
	# and no truncation of last round's files is timed
	rm -f "$rec" "$acks"
	settle
	now t0
	# the handler reads a pipe, as from a socket: cat is not useless (SC2002)
	# shellcheck disable=SC2002
	cat "$in" | "$handler" -l "$rec" >"$acks"
	st="${PIPESTATUS[*]}"
	now t1
	check_run "$st"
	# (b) the baseline: the same pipe in, a plain copy out
	rm -f "$out"
	settle
	now t2
	# shellcheck disable=SC2002
	cat "$in" | cat >"$out"
	st="${PIPESTATUS[*]}"
	now t3
	[[ $st == "0 0" ]] || die "cat | cat exit statuses: $st"
	size=$(wc -c <"$out")
	((size == NBYTES)) || die "cat | cat wrote ${size:-?} bytes, not $NBYTES"
	h_ns+=($((t1 - t0))) c_ns+=($((t3 - t2)))
	awk -v r="$r" -v h=$((t1 - t0)) -v c=$((t3 - t2)) -v n="$NLINES" -v b="$NBYTES" 'BEGIN {
		printf "%5d  %9.3f %12.0f %8.1f  %9.3f %8.1f  %6.2f\n",
			r, h / 1e9, n / (h / 1e9), b / 1e6 / (h / 1e9), c / 1e9, b / 1e6 / (c / 1e9), c / h
	}'
done
rm -f "$out"

# Peak RSS of the handler process alone, once, outside the timed rounds: its
# VmHWM, read while it still runs. It is fed through a FIFO that is held open
# until its last ok is out. (/usr/bin/time -f %M is no use here: it reports
# the peak of the forked child, whose image before the exec is a copy of time
# itself, 440 KiB or more, whatever the handler's own peak.)
rss=
if [[ -r /proc/self/status ]]; then
	rm -f "$rec" "$acks"
	mkfifo "$tmp/fifo" || die "cannot make a FIFO in $tmp"
	"$handler" -l "$rec" <"$tmp/fifo" >"$acks" &
	hpid=$!
	exec {feed}>"$tmp/fifo"
	cat "$in" >&"$feed"
	for ((i = 0; i < 600; i++)); do
		[[ $(tail -c 12 "$acks") == *"ok $NLINES" ]] && break
		sleep 0.05
	done
	rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$hpid/status" 2>/dev/null)
	exec {feed}>&-
	st=0
	wait "$hpid" || st=$?
	check_run 0 "$st"
	[[ $rss =~ ^[0-9]+$ ]] || die "cannot read the handler's VmHWM from /proc/$hpid/status"
	rss_note="$rss KiB (VmHWM of the handler process)"
else
	rss_note="skipped: no /proc/PID/status"
	printf '\n%s: no /proc/PID/status: peak RSS not measured\n' "$me" >&2
fi
rm -f "$rec" "$acks"

# Medians over the rounds; the ratio is the median of the per-round ratios (the
# two runs of a round are next to each other in time, so they share the noise).
printf '%s\n' "${h_ns[*]}" "${c_ns[*]}" | awk -v n="$NLINES" -v b="$NBYTES" \
	-v tm="$T_MSGS" -v tr="$T_RATIO" -v trss="$T_RSS" -v rss="$rss" -v rssn="$rss_note" '
function median(a, k,   i, j, t) {
	for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
NR == 1 { k = split($0, h, " ") }
NR == 2 { split($0, c, " ") }
END {
	for (i = 1; i <= k; i++) { m[i] = n / (h[i] / 1e9); hb[i] = b / 1e6 / (h[i] / 1e9); cb[i] = b / 1e6 / (c[i] / 1e9); q[i] = c[i] / h[i] }
	mm = median(m, k); mh = median(hb, k); mc = median(cb, k); mq = median(q, k)
	printf "\nmedians over %d rounds:\n", k
	printf "  handler:             %12.0f messages/s   (target >= %d)\n", mm, tm
	printf "  handler input:       %12.1f MB/s\n", mh
	printf "  cat | cat:           %12.1f MB/s\n", mc
	printf "  ratio handler/cat:   %12.2f                (target >= %.2f)\n", mq, tr
	printf "  handler peak RSS:    %s   (target <= %d KiB)\n", rssn, trss
	vm = (mm >= tm) ? "PASS" : "MISS"
	vq = (mq >= tr) ? "PASS" : "MISS"
	vr = (rss == "") ? "SKIP" : (rss + 0 <= trss) ? "PASS" : "MISS"
	printf "RESULT: messages/s %s, ratio %s, RSS %s\n", vm, vq, vr
}' || die "computing the medians failed"
