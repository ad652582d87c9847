#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Connection-rate benchmark: msgd-launcher against tcpserver (ucspi-tcp) and
# against bare reference spawners (bench/refspawn.c: the ceiling), all
# serving the same msgd-handler on 127.0.0.1, loaded by bench/loadgen.
#
#   bench/launcher.sh [-r ROUNDS] [-d SECS]    (or ROUNDS=5 SECS=3 bench/launcher.sh)
#
# Starts the servers once, then runs loadgen at each concurrency against each
# server, rotating their order, ROUNDS times (default 3) for SECS seconds
# (default 5); prints the medians, the ratio msgd/tcpserver, the CPU each server
# spent per connection, peak RSS and the targets as PASS/MISS.  The reference
# spawners accept and start the handler with nothing else: fork, posix_spawn
# from 1, 2 and 4 threads, and clone(CLONE_VM) on a stack per child; msgd is
# compared with the fastest of them in the same run.  Besides plain
# msgd-launcher and tcpserver it runs msgd-launcher with -x and a file of
# 10,000 rules (msgd-x) and with -p and a PROXY v2 header before each
# connection (msgd-p, loadgen -P): each should be within 5% of msgd. Exits 0 when a
# target is missed (it is a benchmark), 1 when tcpserver is missing or a step
# fails, 2 on bad usage. MSGD_BIN: directory of the msgd programs (default: bin/
# of this repo). See bench/README.md.
set -uo pipefail
export LC_ALL=C

readonly CONCS="16 64" MAXCONN=200 BACKLOG=1024 WARMUP=200
# targets: msgd >= T_REF x the fastest reference; where that reference is at
# least T_ROOM x tcpserver (room to win), msgd >= T_RATIO x tcpserver
readonly T_REF=0.85 T_ROOM=2.0 T_RATIO=1.5 T_RSS_KB=1024 T_FRONT=0.95 NRULES=10000
readonly REFS="ref-fork ref-spawn1 ref-spawn2 ref-spawn4 ref-clone"
readonly SERVERS="msgd tcpserver msgd-x msgd-p $REFS"

me=${0##*/}
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
# shellcheck source=bench/rounds.sh
. "$here/rounds.sh" "$@"

command -v tcpserver >/dev/null 2>&1 ||
	die "tcpserver is not installed (Debian: apt-get install ucspi-tcp); nothing to compare with"

# repo, bindir, launcher, handler, loadgen... (built and checked) and tmp
# shellcheck source=bench/bins.sh
. "$here/bins.sh" build/loadgen build/refspawn build/execcost
declare -A pid=() port=() lgflags=([msgd-p]=-P)

# start NAME COMMAND..., stop PID, and on exit every server of pid and $tmp
# shellcheck source=bench/servers.sh
. "$here/servers.sh"


# cpu PID: user+system ticks of the process itself, and of its reaped children
cpu() {
	local st fields
	st=$(<"/proc/$1/stat") || return 1
	read -ra fields <<<"${st##*) }"	# from field 3 (state) on
	printf '%d %d\n' $((fields[11] + fields[12])) $((fields[13] + fields[14]))
}
# host CPU: busy and total ticks, all CPUs
host_cpu() {
	local _cpu user nice sys idle iowait rest
	read -r _cpu user nice sys idle iowait rest </proc/stat
	local irq softirq steal
	read -r irq softirq steal _ <<<"$rest"
	printf '%d %d\n' $((user + nice + sys + irq + softirq + steal)) \
		$((user + nice + sys + idle + iowait + irq + softirq + steal))
}
# sched PID: ns on a CPU and ns runnable but waiting for one (0 0 without schedstat)
sched() {
	local a=0 b=0
	{ read -r a b _ <"/proc/$1/schedstat"; } 2>/dev/null
	printf '%d %d\n' "$a" "$b"
}
usecs() { local t=$EPOCHREALTIME; printf '%d\n' "$((10#${t/./}))"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# field, median, agg
# shellcheck source=bench/stats.sh
. "$here/stats.sh"
# machine_line (machine_id, noop_build)
# shellcheck source=bench/machine.sh
. "$here/machine.sh"

# NRULES rules that do not match loopback, spread over many prefix lengths
# and both families, and last the one that does: the worst place for it
awk -v n="$NRULES" 'BEGIN {
	srand(7)
	for (i = 0; i < n - 1; i++) {
		if (i % 5 == 4)
			printf "2001:db8:%x:%x::/64 deny\n", int(rand() * 65536), i
		else {
			p = 16 + i % 17
			a = int(rand() * 256); b = int(rand() * 256); c = int(rand() * 256)
			printf "10.%d.%d.0/%d %s\n", a, (p >= 24 ? b : 0), (p >= 24 ? 24 : 16), (i % 2 ? "allow" : "deny")
		}
	}
	print "127.0.0.0/8 allow ZONE=local"
}' >"$tmp/rules"
start msgd "$launcher" -q -c "$MAXCONN" -b "$BACKLOG" -1 127.0.0.1 0 \
	"$handler" -l "$tmp/rec-msgd"
start msgd-x "$launcher" -q -c "$MAXCONN" -b "$BACKLOG" -x "$tmp/rules" -1 \
	127.0.0.1 0 "$handler" -l "$tmp/rec-msgd-x"
start msgd-p "$launcher" -q -c "$MAXCONN" -b "$BACKLOG" -p 127.0.0.1 -1 \
	127.0.0.1 0 "$handler" -l "$tmp/rec-msgd-p"
# -q: tcpserver logs four lines per connection by default; msgd-launcher runs -q too
start tcpserver tcpserver -q -HRl0 -c "$MAXCONN" -b "$BACKLOG" -1 127.0.0.1 0 \
	"$handler" -l "$tmp/rec-tcpserver"
for s in $REFS; do
	start "$s" "$refspawn" "${s#ref-}" "$handler" -l "$tmp/rec-$s"
done

ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
# a ratio means little without the machine: what a process costs here
machine_line "$execcost" "$tmp" || die "$machine_err"
printf 'msgd-launcher (pid %s), tcpserver (pid %s), msgd-launcher -x %s rules (pid %s), -p (pid %s); -c %s -b %s, %s CPUs\n' \
	"${pid[msgd]}" "${pid[tcpserver]}" "$NRULES" "${pid[msgd-x]}" "${pid[msgd-p]}" "$MAXCONN" "$BACKLOG" "$ncpu"
printf 'bare reference spawners (bench/refspawn.c): %s\n' "$REFS"
printf 'loadgen: %s rounds of %s s at concurrency %s, servers in rotating order, warm-up %s connections\n' \
	"$rounds" "$secs" "${CONCS// /, }" "$WARMUP"
# other work on the machine skews everything: say how busy it was before
read -r load1 _ </proc/loadavg
printf 'load average (1 min) before the runs: %s\n\n' "$load1"

declare -A cpu0=()
for s in $SERVERS; do
	cpu0[$s]=$(cpu "${pid[$s]}") || die "$s is gone"
done
read -r hbusy0 htotal0 < <(host_cpu)
declare -A wall=() oncpu=() runq=()
for s in $SERVERS; do wall[$s]=0 oncpu[$s]=0 runq[$s]=0; done

results=$tmp/results
: >"$results"
for ((r = 1; r <= rounds; r++)); do
	for c in $CONCS; do
		# none always goes first: rotate the order each round
		read -ra all <<<"$SERVERS"
		order=""
		for ((k = 0; k < ${#all[@]}; k++)); do
			order+=" ${all[(k + r - 1) % ${#all[@]}]}"
		done
		for s in $order; do
			kill -0 "${pid[$s]}" 2>/dev/null || die "$s died: $(cat "$tmp/$s.err")"
			read -r b0 t0 < <(host_cpu)
			read -r a0 q0 < <(sched "${pid[$s]}")
			w0=$(usecs)
			# shellcheck disable=SC2086 # -P or nothing
			line=$("$loadgen" ${lgflags[$s]:-} -c "$c" -d "$secs" -w "$WARMUP" 127.0.0.1 "${port[$s]}" 2>"$tmp/lg.err")
			[[ $line == conns=* ]] || die "loadgen failed: $(cat "$tmp/lg.err")"
			w1=$(usecs)
			read -r a1 q1 < <(sched "${pid[$s]}")
			read -r b1 t1 < <(host_cpu)
			wall[$s]=$((wall[$s] + w1 - w0))
			oncpu[$s]=$((oncpu[$s] + (a1 - a0) / 1000))
			runq[$s]=$((runq[$s] + (q1 - q0) / 1000))
			printf 'round %d  %-9s c=%-3s %s host_busy=%d%%\n' "$r" "$s" "$c" "$line" \
				$(((b1 - b0) * 100 / (t1 > t0 ? t1 - t0 : 1)))
			[[ -s $tmp/lg.err ]] && sed 's/^/          /' "$tmp/lg.err"
			printf '%s %s %s\n' "$s" "$c" "$line" >>"$results"
		done
	done
done

read -r hbusy1 htotal1 < <(host_cpu)
declare -A selfus=() kidsus=() rss=() served=()
for s in $SERVERS; do
	kill -0 "${pid[$s]}" 2>/dev/null || die "$s died: $(cat "$tmp/$s.err")"
	read -r self0 kids0 <<<"${cpu0[$s]}"
	read -r self1 kids1 < <(cpu "${pid[$s]}")
	served[$s]=$(grep -c ' connect$' "$tmp/rec-$s")
	tck=$(getconf CLK_TCK)
	selfus[$s]=$(awk -v t="$((self1 - self0))" -v n="${served[$s]}" -v hz="$tck" 'BEGIN { printf "%.0f", n ? t * 1e6 / hz / n : 0 }')
	kidsus[$s]=$(awk -v t="$((kids1 - kids0))" -v n="${served[$s]}" -v hz="$tck" 'BEGIN { printf "%.0f", n ? t * 1e6 / hz / n : 0 }')
	rss[$s]=$(hwm_kb "${pid[$s]}")
done

printf '\nmedians of %d rounds of %d s (errors: the sum)\n' "$rounds" "$secs"
printf '%-10s %5s %10s %9s %9s %7s\n' server conc conns/s p50_ms p99_ms errors
declare -A rate=() p99=() errs=()
for c in $CONCS; do
	for s in $SERVERS; do
		rate[$s$c]=$(agg "$s" "$c" rate)
		p99[$s$c]=$(agg "$s" "$c" p99_ms)
		errs[$s$c]=$(agg "$s" "$c" errors)
		printf '%-10s %5s %10s %9s %9s %7s\n' "$s" "$c" "${rate[$s$c]}" \
			"$(agg "$s" "$c" p50_ms)" "${p99[$s$c]}" "${errs[$s$c]}"
	done
done
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
declare -A ratio=() best=() refratio=() room=()
for c in $CONCS; do
	best[$c]=
	for s in $REFS; do
		[[ -z ${best[$c]} ]] || awk -v a="${rate[$s$c]}" -v b="${rate[${best[$c]}$c]}" 'BEGIN { exit !(a > b) }' &&
			best[$c]=$s
	done
	printf '\nat c=%s, conns/s as a multiple of tcpserver:' "$c"
	for s in $REFS; do printf ' %s %s' "${s#ref-}" "$(div "${rate[$s$c]}" "${rate[tcpserver$c]}")"; done
	printf '\n'
	room[$c]=$(div "${rate[${best[$c]}$c]}" "${rate[tcpserver$c]}")
	refratio[$c]=$(div "${rate[msgd$c]}" "${rate[${best[$c]}$c]}")
	ratio[$c]=$(div "${rate[msgd$c]}" "${rate[tcpserver$c]}")
	printf 'ratio msgd/%s (the fastest reference) conns/s at c=%s: %s\n' "${best[$c]}" "$c" "${refratio[$c]}"
	printf 'ratio msgd/tcpserver conns/s at c=%s: %s\n' "$c" "${ratio[$c]}"
	for s in msgd-x msgd-p; do
		ratio[$s$c]=$(awk -v a="${rate[$s$c]}" -v b="${rate[msgd$c]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		printf 'ratio %s/msgd conns/s at c=%s: %s\n' "$s" "$c" "${ratio[$s$c]}"
	done
done

printf '\nCPU per connection served (utime+stime from /proc/PID/stat over all runs)\n'
printf '%-10s %11s %10s %12s %14s\n' server connections 'self us' 'handlers us' 'peak RSS kB'
for s in $SERVERS; do
	printf '%-10s %11s %10s %12s %14s\n' "$s" "${served[$s]}" "${selfus[$s]}" "${kidsus[$s]}" "${rss[$s]}"
done
if [[ -r /proc/${pid[msgd]}/schedstat ]]; then
	printf '\nthe server process during the runs, per connection served (/proc/PID/schedstat)\n'
	printf '%-10s %8s %9s %18s %18s\n' server 'wall us' 'on CPU us' 'waiting for CPU us' 'blocked/asleep us'
	for s in $SERVERS; do
		awk -v s="$s" -v n="${served[$s]}" -v w="${wall[$s]}" -v a="${oncpu[$s]}" -v q="${runq[$s]}" \
			'BEGIN { if (n) printf "%-10s %8.0f %9.0f %18.0f %18.0f\n", s, w / n, a / n, q / n, (w - a - q) / n }'
	done
fi
awk -v b="$((hbusy1 - hbusy0))" -v t="$((htotal1 - htotal0))" -v n="$ncpu" \
	'BEGIN { printf "host CPU busy during the runs: %.0f%% of %s CPUs (loadgen included)\n", t ? 100 * b / t : 0, n }'

for s in $SERVERS; do
	[[ -s $tmp/$s.err ]] && { printf '\n%s said on stderr:\n' "$s"; head -20 "$tmp/$s.err"; }
done

verdict() { if [[ $1 == 1 ]]; then printf 'PASS  %s\n' "$2"; else printf 'MISS  %s\n' "$2"; fi; }
printf '\ntargets\n'
for c in $CONCS; do
	ok=$(awk -v r="${refratio[$c]}" -v t="$T_REF" 'BEGIN { print (r >= t) }')
	verdict "$ok" "conns/s msgd >= $T_REF x the fastest reference at c=$c (${refratio[$c]} of ${best[$c]})"
	if awk -v r="${room[$c]}" -v t="$T_ROOM" 'BEGIN { exit !(r >= t) }'; then
		ok=$(awk -v r="${ratio[$c]}" -v t="$T_RATIO" 'BEGIN { print (r >= t) }')
		verdict "$ok" "conns/s msgd/tcpserver >= $T_RATIO at c=$c (${ratio[$c]}; ${best[$c]} is ${room[$c]} x tcpserver)"
	else
		printf 'n/a   conns/s msgd/tcpserver >= %s at c=%s: the fastest reference is only %s x tcpserver here (msgd %s x)\n' \
			"$T_RATIO" "$c" "${room[$c]}" "${ratio[$c]}"
	fi
done
for c in $CONCS; do
	ok=$(awk -v a="${p99[msgd$c]}" -v b="${p99[tcpserver$c]}" 'BEGIN { print (a + 0 <= b + 0) }')
	verdict "$ok" "p99 msgd <= tcpserver at c=$c (${p99[msgd$c]} vs ${p99[tcpserver$c]} ms)"
done
for c in $CONCS; do
	for s in msgd-x msgd-p; do
		ok=$(awk -v r="${ratio[$s$c]}" -v t="$T_FRONT" 'BEGIN { print (r >= t) }')
		verdict "$ok" "conns/s $s within 5% of msgd at c=$c (ratio ${ratio[$s$c]})"
	done
done
total_errs=0 summary=""
for s in $SERVERS; do
	n=0
	for c in $CONCS; do n=$((n + ${errs[$s$c]})); done
	total_errs=$((total_errs + n))
	summary+="${summary:+, }$s $n"
done
verdict $((total_errs == 0)) "zero errors ($summary)"
verdict $((rss[msgd] <= T_RSS_KB)) "msgd-launcher peak RSS <= 1 MiB (${rss[msgd]} kB; tcpserver ${rss[tcpserver]} kB)"
exit 0
