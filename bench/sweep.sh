#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Concurrency sweep: connections/s and p99 latency of msgd-launcher and its
# peers (tcpserver, tcpsvd, xinetd, systemd-socket-activate and a bare
# reference spawner from bench/refspawn.c), all serving the same msgd-handler
# on 127.0.0.1, loaded by bench/loadgen at each concurrency; then the
# handler's own CPU per connection (exec to exit) against a static no-op.
#
#   bench/sweep.sh [-r ROUNDS] [-d SECS] [-m MODE] [-n RUNS]
#   (or ROUNDS=5 SECS=3 MODE=fork CONCS="1 16" bench/sweep.sh)
#
# ROUNDS rounds (default 3) of SECS seconds (default 3) at each concurrency
# in CONCS (default "1 4 16 64 256"), the servers in rotating order; prints
# the medians over the rounds (rates with their min-max), the ratios
# msgd/tcpserver and msgd/ref, the handler's cost (RUNS runs, default 2000),
# and a last line SUMMARY.  Writes bench/sweep.dat (gnuplot data, one block
# per server) and bench/sweep.png (needs gnuplot; skipped without it).  A peer
# that is not installed is skipped; msgd is required.  MODE is refspawn's mode
# (fork, spawnN, clone; default spawn2).  Exits 0 (a benchmark: no targets),
# 1 when a step fails or a server dies, 2 on bad usage.  loadgen: bench/README.md.
set -uo pipefail
export LC_ALL=C

readonly MAXCONN=300 BACKLOG=1024 WARMUP=100
me=${0##*/}
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
usage() { printf 'usage: %s [-r ROUNDS] [-d SECS] [-m fork|spawnN|clone] [-n RUNS]\n' "$0" >&2; exit 2; }
bad() { printf '%s: %s\n' "$me" "$*" >&2; exit 2; }

rounds=${ROUNDS:-3} secs=${SECS:-3} mode=${MODE:-spawn2} runs=2000 concs=${CONCS:-1 4 16 64 256}
while getopts r:d:m:n: opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	d) secs=$OPTARG ;;
	m) mode=$OPTARG ;;
	n) runs=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
(($# == 0)) || usage
for v in "ROUNDS=$rounds" "SECS=$secs" "-n=$runs"; do
	[[ ${v#*=} =~ ^[1-9][0-9]*$ ]] || bad "${v%%=*} must be a positive integer, not \"${v#*=}\""
done
[[ $mode =~ ^(fork|clone|spawn[1-9][0-9]*)$ ]] || bad "MODE must be fork, spawnN or clone, not \"$mode\""
read -ra conc_list <<<"$concs"
((${#conc_list[@]})) || bad "CONCS is empty"
for c in "${conc_list[@]}"; do [[ $c =~ ^[1-9][0-9]*$ ]] || bad "CONCS: \"$c\" is not a positive integer"; done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
# repo, launcher, handler, loadgen, refspawn and execcost (built and
# checked), and tmp; the programs of bin/ of this repo, whatever MSGD_BIN says
unset MSGD_BIN
# shellcheck source=bench/bins.sh
. "$here/bins.sh" --tmp msgd-sweep build/loadgen build/refspawn build/execcost
declare -A pid=() port=()
servers=()	# the ones that started, in order

# start NAME COMMAND..., stop PID, and on exit every server of pid and $tmp
# shellcheck source=bench/servers.sh
. "$here/servers.sh"
# median [FORMAT] (and field, agg)
# shellcheck source=bench/stats.sh
. "$here/stats.sh"
# shellcheck source=bench/machine.sh
. "$here/machine.sh"

# the server's stderr (and xinetd's log), last lines: systemd-socket-activate
# logs every connection there
errs_of() { cat "$tmp/$1.err" "$tmp/$1.filelog" 2>/dev/null | tail -n 20; }

# start1 NAME COMMAND...: start (servers.sh), and NAME is one of the servers
start1() { start "$@" && servers+=("$1"); }

# free_port: a port that was free on 127.0.0.1 a moment ago (the kernel's
# choice for port 0; without python3 a random one: start_at retries)
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 40000))
}

# start_at NAME FUNC: a server told its port: FUNC PORT execs it (so that $!
# is the server itself).  Up to 5 ports: the server must stay up and accept
# a connection on 127.0.0.1:PORT within 5 s, or it is stopped and retried.
start_at() {
	local name=$1 fn=$2 try i p
	for ((try = 0; try < 5; try++)); do
		p=$(free_port)
		"$fn" "$p" >"$tmp/$name.out" 2>"$tmp/$name.err" 3>&- &
		pid[$name]=$!
		for ((i = 0; i < 100; i++)); do
			kill -0 "${pid[$name]}" 2>/dev/null || break
			if (exec 5<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
				# up, and still ours (not another program on that port)?
				sleep 0.05
				kill -0 "${pid[$name]}" 2>/dev/null || break
				port[$name]=$p servers+=("$name")
				return 0
			fi
			sleep 0.05
		done
		stop "${pid[$name]}"
	done
	die "$name did not start: $(errs_of "$name")"
}
# the launch functions, run in the background by start_at: exec, never return
# shellcheck disable=SC2317  # called through start_at
# -l 0: without it, tcpsvd's child looks its local address up in DNS for
# TCPLOCALHOST on every connection (here often seconds: a few conns/s)
run_tcpsvd() { exec tcpsvd -l 0 -c "$MAXCONN" -b "$BACKLOG" 127.0.0.1 "$1" "$handler" -l "$tmp/rec-tcpsvd"; }
# --inetd: the connection on fds 0 and 1, as the handler wants it (without
# it systemd-socket-activate passes it as fd 3, sd_listen_fds style)
# shellcheck disable=SC2317
run_sdsa() { exec systemd-socket-activate --accept --inetd -l "127.0.0.1:$1" "$handler" -l "$tmp/rec-systemd-socket-activate"; }
# xinetd in the foreground (-dontfork), its own log; cps raised so that it
# never throttles, empty log_on_* so that it logs nothing per connection
# shellcheck disable=SC2317
run_xinetd() {
	cat >"$tmp/xinetd.conf" <<-EOF
		defaults
		{
			log_type	= FILE $tmp/xinetd.log
		}
		service msgd-sweep
		{
			type		= UNLISTED
			socket_type	= stream
			protocol	= tcp
			wait		= no
			user		= $(id -un)
			bind		= 127.0.0.1
			port		= $1
			server		= $handler
			server_args	= -l $tmp/rec-xinetd
			instances	= UNLIMITED
			cps		= 100000 1
			per_source	= UNLIMITED
			log_on_success	=
			log_on_failure	=
		}
	EOF
	exec xinetd -dontfork -f "$tmp/xinetd.conf" -pidfile "$tmp/xinetd.pid" -filelog "$tmp/xinetd.filelog"
}
have() { command -v "$1" >/dev/null 2>&1 || { printf 'note: %s is not installed: skipped\n' "$1"; return 1; }; }

start1 msgd "$launcher" -q -c "$MAXCONN" -b "$BACKLOG" -1 127.0.0.1 0 "$handler" -l "$tmp/rec-msgd"
# -q: no log lines per connection, as msgd-launcher -q; -HRl0: no DNS, no ident
have tcpserver && start1 tcpserver tcpserver -q -HRl0 -c "$MAXCONN" -b "$BACKLOG" -1 \
	127.0.0.1 0 "$handler" -l "$tmp/rec-tcpserver"
have tcpsvd && start_at tcpsvd run_tcpsvd
have xinetd && start_at xinetd run_xinetd
have systemd-socket-activate && start_at systemd-socket-activate run_sdsa
ref=ref-$mode
start1 "$ref" "$refspawn" "$mode" "$handler" -l "$tmp/rec-$ref"

ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
machine_id
today=$(date -u +%Y-%m-%d)
printf 'servers: %s (-c %s -b %s where they take it)\n' "${servers[*]}" "$MAXCONN" "$BACKLOG"
printf 'machine: %s, %s CPUs; load average (1 min) before the runs: %s\n' "$machine" "$ncpu" "$(cut -d' ' -f1 /proc/loadavg)"
printf 'loadgen: %s rounds of %s s at concurrency %s, rotating order, warm-up %s connections\n\n' \
	"$rounds" "$secs" "${concs// /, }" "$WARMUP"

results=$tmp/results	# SERVER CONC RATE P99 ERRORS, one line per run
: >"$results"
n=${#servers[@]}
for ((r = 1; r <= rounds; r++)); do
	for c in "${conc_list[@]}"; do
		for ((k = 0; k < n; k++)); do	# none always goes first
			s=${servers[(k + r - 1) % n]}
			line=$("$loadgen" -c "$c" -d "$secs" -w "$WARMUP" 127.0.0.1 "${port[$s]}" 2>"$tmp/lg.err")
			re='^conns=[0-9]+ .*rate=([0-9.]+) .*p99_ms=([0-9.]+) .*errors=([0-9]+)'
			[[ $line =~ $re ]] || die "loadgen against $s: no result line: $line $(cat "$tmp/lg.err")"
			kill -0 "${pid[$s]}" 2>/dev/null || die "$s died: $(errs_of "$s")"
			printf 'round %d  %-23s c=%-3s %s\n' "$r" "$s" "$c" "$line"
			[[ -s $tmp/lg.err ]] && sed 's/^/          /' "$tmp/lg.err"
			printf '%s %s %s %s %s\n' "$s" "$c" "${BASH_REMATCH[@]:1:3}" >>"$results"
		done
	done
done

# col SERVER CONC N: column N (3 rate, 4 p99, 5 errors) of that pair's runs, sorted
col() { awk -v s="$1" -v c="$2" -v k="$3" '$1 == s && $2 == c { print $k }' "$results" | sort -g; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
declare -A rate=() lo=() hi=() p99=() errs=()
printf '\nmedians of %d rounds of %d s (conns/s min-max over the rounds; errors: the sum)\n' "$rounds" "$secs"
printf '%-23s %5s %9s %19s %9s %7s\n' server conc conns/s min-max p99_ms errors
for s in "${servers[@]}"; do
	for c in "${conc_list[@]}"; do
		rate[$s$c]=$(col "$s" "$c" 3 | median %.1f)
		lo[$s$c]=$(col "$s" "$c" 3 | head -n 1) hi[$s$c]=$(col "$s" "$c" 3 | tail -n 1)
		p99[$s$c]=$(col "$s" "$c" 4 | median %.2f)
		errs[$s$c]=$(col "$s" "$c" 5 | awk '{ n += $1 } END { print n + 0 }')
		printf '%-23s %5s %9s %19s %9s %7s\n' "$s" "$c" "${rate[$s$c]}" \
			"(${lo[$s$c]}-${hi[$s$c]})" "${p99[$s$c]}" "${errs[$s$c]}"
	done
done
printf '\nconns/s ratios (medians)\n%5s %15s %15s\n' conc msgd/tcpserver "msgd/$ref"
for c in "${conc_list[@]}"; do
	printf '%5s %15s %15s\n' "$c" "$(div "${rate[msgd$c]}" "${rate[tcpserver$c]:-0}")" \
		"$(div "${rate[msgd$c]}" "${rate[$ref$c]}")"
done

for s in "${servers[@]}"; do stop "${pid[$s]}"; unset "pid[$s]"; done	# idle, but out of the way

# The handler's own cost, exec to exit: msgd-handler serving one short
# session from a file against a static program that does nothing, RUNS times
# each, in alternating blocks so that both meet the same noise.  Each run is
# started and timed by build/execcost (bench/execcost.c): posix_spawn, then
# wait4, whose rusage is the child's own CPU from exec to exit; wall from
# CLOCK_MONOTONIC.  The figures are the medians over the blocks of each
# block's median; the difference is the median of the paired differences,
# the handler's own budget.
printf 'ping\n' >"$tmp/ping"
noop_build "$tmp" || die "cannot build a no-op program with musl-gcc or cc"
blocks=$((runs >= 200 ? 20 : 1))
per=$(((runs + blocks - 1) / blocks)) runs=$((per * blocks))
# block PROGRAM ARGS...: PER runs; "CPU_US WALL_US", the medians per run
block() {
	local line
	line=$("$execcost" "$per" "$tmp/ping" "$@") || return 1
	[[ $line =~ ^cpu_us=([0-9]+)\ wall_us=([0-9]+)$ ]] || return 1
	printf '%s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}
: >"$tmp/cost"	# per block: noop CPU, wall, handler CPU, wall
for ((b = 0; b < blocks; b++)); do
	nc='' hc=''
	read -r nc nw < <(block "$noop")
	[[ $nc =~ ^[0-9.]+$ ]] || die "the no-op program failed"
	read -r hc hw < <(block "$handler" -l /dev/null)
	[[ $hc =~ ^[0-9.]+$ ]] || die "msgd-handler -l /dev/null <ping failed"
	printf '%s %s %s %s\n' "$nc" "$nw" "$hc" "$hw" >>"$tmp/cost"
done
# medcost A [B]: the median over the blocks of column A (minus column B)
medcost() { awk -v a="$1" -v b="${2:-0}" '{ print $a - (b ? $b : 0) }' "$tmp/cost" | sort -g | median %.0f; }
noop_cpu=$(medcost 1) noop_wall=$(medcost 2) h_cpu=$(medcost 3) h_wall=$(medcost 4)
d_cpu=$(medcost 3 1) d_wall=$(medcost 4 2)
printf '\nper run, exec to exit, %d runs each in %d blocks (CPU: the child'"'"'s user+sys from wait4; medians)\n' "$runs" "$blocks"
printf '%-44s %8s %8s\n' program 'CPU us' 'wall us' \
	"msgd-handler -l /dev/null, one session" "$h_cpu" "$h_wall" \
	"no-op ($noop_how)" "$noop_cpu" "$noop_wall" "the handler's own budget (paired difference)" "$d_cpu" "$d_wall"

# the data file: one block per server, two blank lines apart (gnuplot index)
dat=$here/sweep.dat
{
	printf '# bench/sweep.sh: conns/s and p99 latency vs concurrency, loadgen on 127.0.0.1\n# date: %s
# machine: %s, %s CPUs\n# rounds: %s, secs: %s, warm-up: %s connections, ref mode: %s\n' \
		"$today" "$machine" "$ncpu" "$rounds" "$secs" "$WARMUP" "$mode"
	printf '# handler_%s_us_per_connection: %s (msgd-handler %s, no-op %s, %s us per run)\n' \
		cpu "$d_cpu" "$h_cpu" "$noop_cpu" CPU wall "$d_wall" "$h_wall" "$noop_wall" wall
	printf '# blocks (gnuplot index from 0): %s\n# conc rate_median rate_min rate_max p99_median errors\n' "${servers[*]}"
	for ((k = 0; k < n; k++)); do
		s=${servers[k]}
		((k)) && printf '\n\n'
		printf '# %s\n' "$s"
		for c in "${conc_list[@]}"; do
			printf '%s %s %s %s %s %s\n' "$c" "${rate[$s$c]}" "${lo[$s$c]}" "${hi[$s$c]}" "${p99[$s$c]}" "${errs[$s$c]}"
		done
	done
} >"$dat" || die "cannot write $dat"
printf '\nwrote %s\n' "$dat"

# the picture: rate and p99 against concurrency, log x, one line per server
if command -v gnuplot >/dev/null 2>&1; then
	term=png
	gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo && term=pngcairo
	tics=$(printf '%s, ' "${conc_list[@]}")
	cat >"$tmp/sweep.gp" <<-EOF
		set terminal $term size 1200,500
		set termoption noenhanced
		set output '$here/sweep.png'
		names = "${servers[*]}"
		set multiplot layout 1,2 title "msgd-launcher and peers, $today, $machine ($ncpu CPUs)"
		set logscale x 2
		set xtics (${tics%, })
		set xlabel 'concurrency (loadgen clients)'; set grid
		set key outside below center horizontal maxcols 3 samplen 2
		set offsets graph 0.05, graph 0.05, 0, 0
		set ylabel 'connections/s (median, bars: min-max)'
		set yrange [0:*]
		plot for [i=1:words(names)] '$dat' index i-1 using 1:2:3:4 with yerrorlines title word(names, i)
		set ylabel 'p99 latency, ms (median)'; set logscale y 10; set yrange [*:*]
		plot for [i=1:words(names)] '$dat' index i-1 using 1:5 with linespoints title word(names, i)
		unset multiplot
	EOF
	gnuplot "$tmp/sweep.gp" || die "gnuplot failed"
	printf 'wrote %s\n' "$here/sweep.png"
else
	printf 'gnuplot is not installed: no picture\n'
fi

# the summary: at c=16 (or the first concurrency when 16 was not swept)
c=${conc_list[0]}
for x in "${conc_list[@]}"; do [[ $x == 16 ]] && c=16; done
printf '\nSUMMARY: at c=%s msgd %s conns/s = %s x tcpserver, %s x ref(%s); p99 msgd %s ms vs tcpserver %s ms\n' \
	"$c" "${rate[msgd$c]}" "$(div "${rate[msgd$c]}" "${rate[tcpserver$c]:-0}")" \
	"$(div "${rate[msgd$c]}" "${rate[$ref$c]}")" "$mode" "${p99[msgd$c]}" "${p99[tcpserver$c]:-n/a}"
exit 0
