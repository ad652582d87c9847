#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Cluster benchmark: what HAProxy and the PROXY header cost against a direct
# connection, on this one machine.  Runs the load generator (bench/loadgen)
#   direct   straight to one msgd-launcher node (no HAProxy, no -p)
#   haproxy1 through HAProxy (examples/haproxy.cfg) to one node (-p)
#   haproxy2 through HAProxy to two nodes (127.0.0.2 and 127.0.0.3)
# in rotating order, ROUNDS times (default 3) for SECS seconds (default 5) at
# each concurrency, and prints the medians of connections/s, p99 and the
# errors, and HAProxy's own CPU per connection.
#
#   bench/cluster.sh [-r ROUNDS] [-d SECS]    (or ROUNDS=5 SECS=3 bench/cluster.sh)
#
# On a 2-core machine two nodes cannot beat one: the point is the cost of the
# hop, and the figures a user needs to size a cluster (bench/README.md).
# Exits 1 when haproxy is missing or a step fails, 2 on bad usage.
set -uo pipefail
export LC_ALL=C

readonly CONCS="16 64" WARMUP=200

me=${0##*/}
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || die "cannot find the script's directory"
# shellcheck source=bench/rounds.sh
. "$here/rounds.sh" "$@"
command -v haproxy >/dev/null 2>&1 || die "haproxy is not installed (Debian: apt-get install haproxy)"

# repo, launcher, handler and loadgen (built and checked), and tmp; the
# programs of bin/ of this repo, whatever MSGD_BIN says
unset MSGD_BIN
# shellcheck source=bench/bins.sh
. "$here/bins.sh" --tmp msgd-cluster build/loadgen
pids=()
# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT

freeport() {
	python3 -c 'import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

# node NAME ADDR [LAUNCHER OPTIONS...]: a launcher on ADDR, port in port_NAME
declare -A port=()
node() {
	local name=$1 addr=$2 i line=
	shift 2
	"$launcher" -q -c 200 -b 1024 "$@" -1 "$addr" 0 "$handler" -l "$tmp/rec-$name" \
		>"$tmp/$name.port" 2>"$tmp/$name.err" 3>&- &
	pids+=("$!")
	for ((i = 0; i < 100; i++)); do
		{ IFS= read -r line <"$tmp/$name.port"; } 2>/dev/null && [[ $line =~ ^[0-9]+$ ]] && break
		sleep 0.05
	done
	[[ $line =~ ^[1-9][0-9]*$ ]] || die "node $name did not start: $(cat "$tmp/$name.err")"
	port[$name]=$line
}

node direct 127.0.0.1
node n2 127.0.0.2 -p 127.0.0.1
node n3 127.0.0.3 -p 127.0.0.1

# haproxy NAME PORT SERVERS: the shipped configuration, only its addresses,
# sockets and privileges rewritten for a private instance on loopback
haproxy_start() {
	local name=$1 hport=$2 servers=$3 i
	sed -e '/^[[:space:]]*log \/dev\/log/d' -e '/^[[:space:]]*chroot /d' \
		-e '/^[[:space:]]*user haproxy/d' -e '/^[[:space:]]*group haproxy/d' \
		-e "s|stats socket /run/haproxy/admin.sock|stats socket $tmp/$name.sock|" \
		-e "s|^\([[:space:]]*bind\) :9100|\1 127.0.0.1:$hport|" \
		-e '/^[[:space:]]*server node[0-9]/d' \
		examples/haproxy.cfg >"$tmp/$name.cfg"
	printf '%s\n' "$servers" >>"$tmp/$name.cfg"
	haproxy -db -f "$tmp/$name.cfg" >"$tmp/$name.log" 2>&1 3>&- &
	pids+=("$!")
	hpid[$name]=$!
	for ((i = 0; i < 100; i++)); do
		python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$hport" 2>/dev/null && return 0
		sleep 0.05
	done
	die "haproxy $name did not start: $(cat "$tmp/$name.log")"
}
declare -A hpid=()
port[haproxy1]=$(freeport 127.0.0.1)
haproxy_start haproxy1 "${port[haproxy1]}" "	server node2 127.0.0.2:${port[n2]}"
port[haproxy2]=$(freeport 127.0.0.1)
haproxy_start haproxy2 "${port[haproxy2]}" "	server node2 127.0.0.2:${port[n2]}
	server node3 127.0.0.3:${port[n3]}"
sleep 1	# the first health checks

ticks() { local st f; st=$(<"/proc/$1/stat"); read -ra f <<<"${st##*) }"; echo $((f[11] + f[12])); }
# field, median, agg
# shellcheck source=bench/stats.sh
. "$here/stats.sh"

ways="direct haproxy1 haproxy2"
printf 'cluster bench: %s rounds of %s s at concurrency %s; %s CPUs; load average %s\n' \
	"$rounds" "$secs" "${CONCS// /, }" "$(getconf _NPROCESSORS_ONLN)" "$(cut -d ' ' -f 1 /proc/loadavg)"
results=$tmp/results
: >"$results"
declare -A hticks=([haproxy1]=0 [haproxy2]=0) hconns=([haproxy1]=0 [haproxy2]=0)
for ((r = 1; r <= rounds; r++)); do
	for c in $CONCS; do
		read -ra all <<<"$ways"
		for ((k = 0; k < 3; k++)); do
			w=${all[(k + r - 1) % 3]}
			[[ -n ${hpid[$w]:-} ]] && t0=$(ticks "${hpid[$w]}")
			line=$("$loadgen" -c "$c" -d "$secs" -w "$WARMUP" 127.0.0.1 "${port[$w]}" 2>"$tmp/lg.err")
			[[ $line == conns=* ]] || die "loadgen failed: $(cat "$tmp/lg.err")"
			if [[ -n ${hpid[$w]:-} ]]; then
				hticks[$w]=$((hticks[$w] + $(ticks "${hpid[$w]}") - t0))
				hconns[$w]=$((hconns[$w] + $(field conns "$line")))
			fi
			printf 'round %d  %-8s c=%-3s %s\n' "$r" "$w" "$c" "$line"
			printf '%s %s %s\n' "$w" "$c" "$line" >>"$results"
		done
	done
done

printf '\nmedians of %d rounds (errors: the sum; the measured conns exclude warm-up)\n' "$rounds"
printf '%-9s %5s %10s %9s %7s %14s\n' way conc conns/s p99_ms errors 'vs direct'
for c in $CONCS; do
	d=$(agg direct "$c" rate)
	for w in $ways; do
		a=$(agg "$w" "$c" rate)
		printf '%-9s %5s %10s %9s %7s %14s\n' "$w" "$c" "$a" "$(agg "$w" "$c" p99_ms)" \
			"$(agg "$w" "$c" errors)" "$(awk -v a="$a" -v d="$d" 'BEGIN { printf "%.2f", (d > 0 ? a / d : 0) }')"
	done
done
hz=$(getconf CLK_TCK)
printf '\nHAProxy CPU per connection (utime+stime of the haproxy process over the measured runs; health checks included)\n'
for w in haproxy1 haproxy2; do
	awk -v t="${hticks[$w]}" -v n="${hconns[$w]}" -v hz="$hz" -v w="$w" \
		'BEGIN { printf "%-9s %8.0f us over %d connections\n", w, n ? t * 1e6 / hz / n : 0, n }'
done
for name in n2 n3; do
	printf 'node %s served %s connections (health checks included)\n' "$name" "$(grep -c ' connect$' "$tmp/rec-$name")"
done
