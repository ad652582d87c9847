# Shared by every .bats file: where the programs are, a private temp dir,
# and background servers that are always stopped by PID.
# shellcheck shell=bash

MSGD_BIN=${MSGD_BIN:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/bin}
# MSGD_WRAP runs each handler under a tool, e.g. valgrind (make memcheck)
MSGD_WRAP=${MSGD_WRAP:-}
export MSGD_BIN MSGD_WRAP

# msgd-handler ARGS..., under $MSGD_WRAP when set
handler() {
	# shellcheck disable=SC2086 # MSGD_WRAP is a command line
	$MSGD_WRAP "$MSGD_BIN/msgd-handler" "$@"
}

setup() {
	# shellcheck disable=SC2034 # used by the .bats files
	T=$BATS_TEST_TMPDIR
	SERVER_PIDS=()
}

teardown() {
	local pid
	for pid in "${SERVER_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${SERVER_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}

# start_server OUTFILE CMD...: run CMD in the background with stdout to
# OUTFILE; its PID is remembered and stopped in teardown.  fd 3 is closed so
# that bats does not wait for the server.
start_server() {
	local out=$1
	shift
	"$@" >"$out" 2>"$out.err" 3>&- &
	SERVER_PIDS+=("$!")
}

# wait_line FILE: wait (at most 10 s) until FILE has a first line, print it
wait_line() {
	local i
	for ((i = 0; i < 200; i++)); do
		if [ -s "$1" ] && head -n 1 "$1" | grep -q .; then
			head -n 1 "$1"
			return 0
		fi
		sleep 0.05
	done
	echo "no line in $1 after 10 s" >&2
	return 1
}

# record_count FILE PATTERN: how many records in FILE match PATTERN (ERE)
record_count() {
	grep -cE -- "$2" "$1" || true
}

# a record's fixed part: time, ident and pid
TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z msgd-handler\[[0-9]+\]: '
export TS_RE
