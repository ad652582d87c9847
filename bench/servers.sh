# shellcheck shell=bash disable=SC2154 # pid and tmp are the sourcing script's
# Sourced by the benchmarks that run servers in the background: they keep
# each server's PID in the associative array pid (name -> PID) and their
# files in $tmp; on exit every server is stopped by PID and $tmp removed.

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
