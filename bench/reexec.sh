#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Re-executing under load: msgd-launcher serving build/loadgen -c 16, once
# left alone and once sent ten SIGUSR2 with its program file replaced by a
# new copy between two of them; refusals, resets and bad replies, the PID
# and the p99 latency of the two side by side.
#
#   bench/reexec.sh [-r ROUNDS] [-d SECS]   (or ROUNDS=3 SECS=10 bench/reexec.sh)
#
# Each round runs both, in alternating order, for SECS seconds (default 10),
# ROUNDS times (default 3); prints each run, then the medians.  Exits 1 when a
# step fails or a run with re-execs saw an error, a PID change or fewer than
# ten re-execs; 2 on bad usage.  MSGD_BIN: directory of the msgd programs
# (default: bin/ of this repo).  See bench/README.md.
set -uo pipefail
export LC_ALL=C

readonly CONC=16 MAXCONN=40 WARMUP=200 REEXECS=10
: "${SECS:=10}"

me=${0##*/}
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
# shellcheck source=bench/rounds.sh
. "$here/rounds.sh" "$@"

# repo, bindir, launcher, handler, loadgen... (built and checked) and tmp
# shellcheck source=bench/bins.sh
. "$here/bins.sh" build/loadgen build/execcost
declare -A pid=() port=()
# start NAME COMMAND..., stop PID, and on exit every server of pid and $tmp
# shellcheck source=bench/servers.sh
. "$here/servers.sh"
# shellcheck source=bench/stats.sh
. "$here/stats.sh"
# shellcheck source=bench/machine.sh
. "$here/machine.sh"

# a copy of our own, that the run with re-execs replaces as an upgrade does
launcher=$tmp/msgd-launcher
cp "$bindir/msgd-launcher" "$launcher" || die "cannot copy the launcher"
start msgd "$launcher" -c "$MAXCONN" -1 127.0.0.1 0 "$handler" -l /dev/null
lpid=${pid[msgd]}

machine_line "$execcost" "$tmp" || die "$machine_err"
printf 'msgd-launcher (pid %s) -c %s on 127.0.0.1 port %s; loadgen -c %s, %s rounds of %s s, warm-up %s connections\n' \
	"$lpid" "$MAXCONN" "${port[msgd]}" "$CONC" "$rounds" "$secs" "$WARMUP"
read -r load1 _ </proc/loadavg
printf 'load average (1 min) before the runs: %s\n\n' "$load1"

# usr2s: REEXECS SIGUSR2 spread over the run, the program file replaced by
# a new copy (renamed over its path, as dpkg does) after the half of them
usr2s() {
	local i gap_ms=$((secs * 1000 / (REEXECS + 1)))
	for ((i = 1; i <= REEXECS; i++)); do
		sleep "$((gap_ms / 1000)).$(printf '%03d' $((gap_ms % 1000)))"
		kill -USR2 "$lpid" || return 1
		if ((i == REEXECS / 2)); then
			cp "$bindir/msgd-launcher" "$launcher.new" && mv "$launcher.new" "$launcher" || return 1
		fi
	done
}

results=$tmp/results
: >"$results"
fail=0
for ((r = 1; r <= rounds; r++)); do
	order="still reexec"
	((r % 2)) || order="reexec still"
	for s in $order; do
		kill -0 "$lpid" 2>/dev/null || die "the launcher died: $(tail -n 20 "$tmp/msgd.err")"
		before=$(grep -c '^msgd-launcher: re-executed: ' "$tmp/msgd.err")
		u=
		if [[ $s == reexec ]]; then
			usr2s &
			u=$!
		fi
		line=$("$loadgen" -c "$CONC" -d "$secs" -w "$WARMUP" 127.0.0.1 "${port[msgd]}" 2>"$tmp/lg.err")
		[[ $line == conns=* ]] || die "loadgen failed: $(cat "$tmp/lg.err")"
		[[ -z $u ]] || wait "$u" || die "the signals could not be sent"
		# the last re-exec done, at most 5 s later
		for ((i = 0; i < 100; i++)); do
			n=$(($(grep -c '^msgd-launcher: re-executed: ' "$tmp/msgd.err") - before))
			[[ $s == still ]] || ((n >= REEXECS)) && break
			sleep 0.05
		done
		same=yes
		kill -0 "$lpid" 2>/dev/null || same=no
		printf 'round %d  %-6s %s reexecs=%s pid_same=%s\n' "$r" "$s" "$line" "$n" "$same"
		[[ -s $tmp/lg.err ]] && sed 's/^/    /' "$tmp/lg.err"
		printf '%s %s %s\n' "$s" "$CONC" "$line" >>"$results"
		if [[ $s == reexec ]] && { [[ $(field errors "$line") != 0 ]] || [[ $same != yes ]] || ((n < REEXECS)); }; then
			fail=1
		fi
	done
done
upgraded=no
[[ $(stat -L -c %i "/proc/$lpid/exe") == "$(stat -c %i "$launcher")" ]] && upgraded=yes
cannot=$(grep -c '^msgd-launcher: cannot' "$tmp/msgd.err")

printf '\nmedians of %d rounds of %d s (errors: the sum)\n' "$rounds" "$secs"
printf '%-7s %10s %9s %9s %9s %7s\n' run conns/s p50_ms p99_ms max_ms errors
for s in still reexec; do
	printf '%-7s %10s %9s %9s %9s %7s\n' "$s" "$(agg "$s" "$CONC" rate)" \
		"$(agg "$s" "$CONC" p50_ms)" "$(agg "$s" "$CONC" p99_ms)" \
		"$(agg "$s" "$CONC" max_ms)" "$(agg "$s" "$CONC" errors)"
done
printf 'p99 reexec/still: %s\n' "$(awk -v a="$(agg reexec "$CONC" p99_ms)" \
	-v b="$(agg still "$CONC" p99_ms)" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "NA" }')"
printf 'launcher pid %s throughout; running the new copy of its file: %s; "cannot" lines in its log: %s\n' \
	"$lpid" "$upgraded" "$cannot"
[[ $upgraded == yes ]] || fail=1
exit "$fail"
