#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# What the record costs a connection: the same msgd-launcher spawning
# msgd-handler -l FILE, msgd-handler -l /dev/null and bench/floor.c (a
# static program that only speaks the protocol), loaded by bench/loadgen.
#
#   bench/floor.sh [-r ROUNDS] [-d SECS]    (or ROUNDS=5 SECS=3 bench/floor.sh)
#
# Runs loadgen -c 16 against each in rotating order, ROUNDS times (default 3)
# for SECS seconds (default 5); prints each round, the median connections per
# second, the ratios to the floor and the targets as PASS/MISS, with the CPU
# model and a no-op's cost (bench/machine.sh).  Exits 0 when a target is
# missed (it is a benchmark), 1 when a step fails, 2 on bad usage.  MSGD_BIN:
# directory of the msgd programs (default: bin/ of this repo).
set -uo pipefail
export LC_ALL=C

readonly CONC=16 MAXCONN=200 BACKLOG=1024 WARMUP=200
readonly T_FILE=0.85 T_NULL=0.92
readonly SERVERS="floor file null"

me=${0##*/}
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
# shellcheck source=bench/rounds.sh
. "$here/rounds.sh" "$@"

# repo, bindir, launcher, handler, loadgen... (built and checked) and tmp
# shellcheck source=bench/bins.sh
. "$here/bins.sh" build/loadgen build/execcost build/floor
declare -A pid=() port=()
# start NAME COMMAND..., and on exit every server of pid and $tmp
# shellcheck source=bench/servers.sh
. "$here/servers.sh"
# field, median, agg
# shellcheck source=bench/stats.sh
. "$here/stats.sh"
# machine_line (machine_id, noop_build)
# shellcheck source=bench/machine.sh
. "$here/machine.sh"
results=$tmp/results

start floor "$launcher" -q -c "$MAXCONN" -b "$BACKLOG" -1 127.0.0.1 0 "$floor"
start file "$launcher" -q -c "$MAXCONN" -b "$BACKLOG" -1 127.0.0.1 0 \
	"$handler" -l "$tmp/rec"
start null "$launcher" -q -c "$MAXCONN" -b "$BACKLOG" -1 127.0.0.1 0 \
	"$handler" -l /dev/null

machine_line "$execcost" "$tmp" || die "$machine_err"
printf 'one msgd-launcher -q each for: floor (bench/floor.c), file (msgd-handler -l FILE), null (msgd-handler -l /dev/null)\n'
printf 'loadgen: %s rounds of %s s at concurrency %s, in rotating order, warm-up %s connections\n' \
	"$rounds" "$secs" "$CONC" "$WARMUP"
# CPU per connection, which the machine's other work does not move as it
# moves the rates: ticks PID is the launcher's utime+stime+cutime+cstime
# (its handlers' CPU once reaped); cpu_per_conn LINE T0 T1 says
# "srv_us=N lg_us=N cpu_us=N": launcher and handlers per connection served
# (the warm-up's too), loadgen's own per connection measured, their sum
clk=$(getconf CLK_TCK 2>/dev/null || echo 100)
ticks() {
	local st
	st=$(cat "/proc/$1/stat") || die "cannot read /proc/$1/stat"
	st=${st##*) }
	awk '{ print $12 + $13 + $14 + $15 }' <<<"$st"
}
cpu_per_conn() {
	awk -v c="$(field conns "$1")" -v s="$(field secs "$1")" -v p="$(field cpu_pct "$1")" \
		-v t="$(($3 - $2))" -v hz="$clk" -v w="$WARMUP" 'BEGIN {
		srv = t * 1e6 / hz / (c + w); lg = p / 100 * s * 1e6 / c
		printf "srv_us=%.1f lg_us=%.1f cpu_us=%.1f", srv, lg, srv + lg
	}'
}
read -ra all <<<"$SERVERS"
for ((r = 1; r <= rounds; r++)); do
	for ((k = 0; k < ${#all[@]}; k++)); do
		s=${all[(k + r - 1) % ${#all[@]}]}
		kill -0 "${pid[$s]}" 2>/dev/null || die "$s died: $(cat "$tmp/$s.err")"
		t0=$(ticks "${pid[$s]}")
		line=$("$loadgen" -c "$CONC" -d "$secs" -w "$WARMUP" 127.0.0.1 "${port[$s]}" 2>"$tmp/lg.err")
		[[ $line == conns=* ]] || die "loadgen failed: $(cat "$tmp/lg.err")"
		line="$line $(cpu_per_conn "$line" "$t0" "$(ticks "${pid[$s]}")")"
		printf 'round %d  %-6s %s\n' "$r" "$s" "$line"
		printf '%s %s %s\n' "$s" "$CONC" "$line" >>"$results"
	done
done
# every connection to file was recorded, connect and disconnect
grep -qv -e ' connect$' -e ' receive message: ' -e ' disconnect: ' "$tmp/rec" &&
	die "$tmp/rec holds lines that are not records"

declare -A rate=() cpu=()
printf '\nmedians of %d rounds of %d s at c=%d (CPU in us per connection: launcher and handlers, loadgen, both)\n' \
	"$rounds" "$secs" "$CONC"
printf '%-6s %10s %9s %9s %7s %8s %8s %8s\n' server conns/s p50_ms p99_ms errors srv_us lg_us cpu_us
for s in $SERVERS; do
	rate[$s]=$(agg "$s" "$CONC" rate)
	cpu[$s]=$(agg "$s" "$CONC" cpu_us)
	printf '%-6s %10s %9s %9s %7s %8s %8s %8s\n' "$s" "${rate[$s]}" "$(agg "$s" "$CONC" p50_ms)" \
		"$(agg "$s" "$CONC" p99_ms)" "$(agg "$s" "$CONC" errors)" "$(agg "$s" "$CONC" srv_us)" \
		"$(agg "$s" "$CONC" lg_us)" "${cpu[$s]}"
done
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
rfile=$(div "${rate[file]}" "${rate[floor]}") rnull=$(div "${rate[null]}" "${rate[floor]}")
# where every CPU is busy the rate is the inverse of the CPU a connection
# takes: the floor's CPU over the handler's is the ratio a machine with no
# other work would show
cfile=$(div "${cpu[floor]}" "${cpu[file]}") cnull=$(div "${cpu[floor]}" "${cpu[null]}")
printf '\nratio file/floor: %s (by CPU per connection: %s)\nratio null/floor: %s (by CPU per connection: %s)\n' \
	"$rfile" "$cfile" "$rnull" "$cnull"
# each round's own ratio (its runs a few seconds apart), and their median:
# a machine whose speed drifts over a run moves a round's runs together
round_ratio() {
	awk -v want="$1" -v n="${#all[@]}" '{
		for (i = 3; i <= NF; i++) if ($i ~ /^rate=/) rate[int((NR - 1) / n), $1] = substr($i, 6)
	} END {
		for (k = 0; k < NR / n; k++) if (rate[k, "floor"] > 0) print rate[k, want] / rate[k, "floor"]
	}' "$results" | median %.2f
}
printf "median of each round's own ratio: file/floor %s, null/floor %s\n" \
	"$(round_ratio file)" "$(round_ratio null)"
printf 'load average now: %s\n\ntargets\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
verdict() { if awk -v r="$1" -v t="$2" 'BEGIN { exit !(r >= t) }'; then echo PASS; else echo MISS; fi; }
printf '%s  msgd-handler -l FILE >= %s x the floor (%s)\n' "$(verdict "$rfile" "$T_FILE")" "$T_FILE" "$rfile"
printf '%s  msgd-handler -l /dev/null >= %s x the floor (%s)\n' "$(verdict "$rnull" "$T_NULL")" "$T_NULL" "$rnull"
