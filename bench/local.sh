#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Connection rate over a UNIX-domain socket beside TCP: msgd-launcher -U PATH
# and msgd-launcher 127.0.0.1, the same msgd-handler behind both, loaded by
# bench/loadgen (-U for the socket).
#
#   bench/local.sh [-r ROUNDS] [-d SECS]    (or ROUNDS=5 SECS=3 bench/local.sh)
#
# Runs loadgen at each concurrency against each, their order swapped every
# round, ROUNDS times (default 3) for SECS seconds (default 5); prints each
# round, then the medians and the ratio unix/tcp.  Exits 1 when a step
# fails, 2 on bad usage.  MSGD_BIN: directory of the msgd programs (default:
# bin/ of this repo).  See bench/README.md.
set -uo pipefail
export LC_ALL=C

readonly CONCS="16 64" MAXCONN=200 BACKLOG=1024 WARMUP=200
readonly SERVERS="tcp unix"

me=${0##*/}
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
# shellcheck source=bench/rounds.sh
. "$here/rounds.sh" "$@"

# repo, bindir, launcher, handler, loadgen... (built and checked) and tmp
# shellcheck source=bench/bins.sh
. "$here/bins.sh" build/loadgen
declare -A pid=() port=()
# start NAME COMMAND..., stop PID, and on exit every server of pid and $tmp
# shellcheck source=bench/servers.sh
. "$here/servers.sh"
# shellcheck source=bench/stats.sh
. "$here/stats.sh"

start tcp "$launcher" -q -c "$MAXCONN" -b "$BACKLOG" -1 127.0.0.1 0 \
	"$handler" -l "$tmp/rec-tcp"
sock=$tmp/sock
"$launcher" -U -c "$MAXCONN" -b "$BACKLOG" "$sock" "$handler" \
	-l "$tmp/rec-unix" >/dev/null 2>"$tmp/unix.err" 3>&- &
pid[unix]=$!
for ((i = 0; i < 100; i++)); do
	grep -q '^msgd-launcher: listening on ' "$tmp/unix.err" && break
	kill -0 "${pid[unix]}" 2>/dev/null || break
	sleep 0.05
done
[[ -S $sock ]] || die "msgd-launcher -U did not listen: $(tail -n 20 "$tmp/unix.err")"
declare -A target=([tcp]="127.0.0.1 ${port[tcp]}" [unix]="-U $sock")

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
printf 'msgd-launcher on 127.0.0.1 (pid %s) and on %s (pid %s); -c %s -b %s\n' \
	"${pid[tcp]}" "$sock" "${pid[unix]}" "$MAXCONN" "$BACKLOG"
printf '%s CPUs: %s\n' "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')" "${cpu:-unknown}"
printf 'loadgen: %s rounds of %s s at concurrency %s, warm-up %s connections\n' \
	"$rounds" "$secs" "${CONCS// /, }" "$WARMUP"
read -r load1 _ </proc/loadavg
printf 'load average (1 min) before the runs: %s\n\n' "$load1"

results=$tmp/results
: >"$results"
for ((r = 1; r <= rounds; r++)); do
	for c in $CONCS; do
		order=$SERVERS
		((r % 2)) || order="unix tcp"
		for s in $order; do
			kill -0 "${pid[$s]}" 2>/dev/null || die "$s died: $(cat "$tmp/$s.err")"
			# shellcheck disable=SC2086 # the target is words
			line=$("$loadgen" -c "$c" -d "$secs" -w "$WARMUP" ${target[$s]} 2>"$tmp/lg.err")
			[[ $line == conns=* ]] || die "loadgen failed: $(cat "$tmp/lg.err")"
			printf 'round %d  %-4s c=%-3s %s\n' "$r" "$s" "$c" "$line"
			printf '%s %s %s\n' "$s" "$c" "$line" >>"$results"
		done
	done
done

printf '\nmedians of %d rounds of %d s (errors: the sum)\n' "$rounds" "$secs"
printf '%-5s %5s %10s %9s %9s %7s\n' server conc conns/s p50_ms p99_ms errors
for c in $CONCS; do
	for s in $SERVERS; do
		printf '%-5s %5s %10s %9s %9s %7s\n' "$s" "$c" "$(agg "$s" "$c" rate)" \
			"$(agg "$s" "$c" p50_ms)" "$(agg "$s" "$c" p99_ms)" "$(agg "$s" "$c" errors)"
	done
	printf 'unix/tcp at %s: %s\n' "$c" "$(awk -v u="$(agg unix "$c" rate)" \
		-v t="$(agg tcp "$c" rate)" 'BEGIN { if (t > 0) printf "%.2f", u / t; else print "NA" }')"
done
