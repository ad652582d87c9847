# SPDX-License-Identifier: ISC
# shellcheck shell=bash disable=SC2154,SC2034,SC2004 # pid, port and tmp are the sourcing script's associative arrays and dir
# Sourced by the benchmarks that run servers in the background: they keep
# each server's PID in the associative array pid (name -> PID), its port in
# port, and their files in $tmp, and define die; on exit every server is
# stopped by PID and $tmp removed.

# shellcheck disable=SC2317  # stop and cleanup run from the EXIT trap
# stop PID: SIGTERM, a bounded wait (5 s), then SIGKILL
stop() {
	local p=$1 i
	kill -TERM "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
	for ((i = 0; i < 50; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

# start NAME COMMAND...: a server that prints its port (-1) on its first
# line, in the background with fd 3 closed; waits at most 5 s for the port
start() {
	local name=$1 i line=
	shift
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err" 3>&- &
	pid[$name]=$!
	for ((i = 0; i < 100; i++)); do
		{ IFS= read -r line <"$tmp/$name.out"; } 2>/dev/null && [[ $line =~ ^[0-9]+$ ]] && break
		kill -0 "${pid[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	[[ $line =~ ^[1-9][0-9]*$ ]] || die "$name did not print its port: $(tail -n 20 "$tmp/$name.err")"
	port[$name]=$line
}

# shellcheck disable=SC2317
cleanup() {
	local s
	for s in "${!pid[@]}"; do
		stop "${pid[$s]}"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
