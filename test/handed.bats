#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Descriptions msgd is handed: a regular file on fd 1 or fd 2 opened
# without O_APPEND and shared with writers that are not msgd (a shell's
# > log 2>&1, tcpserver's and systemd-socket-activate's 2> log).  Nothing
# msgd wrote is overwritten by them, nothing they wrote by msgd.
# each @test runs in a subshell of its own: SERVER_PIDS is per test
# shellcheck disable=SC2030,SC2031

load helpers

unset TCPREMOTEIP TCPREMOTEPORT REMOTE_ADDR REMOTE_PORT

# only_lines FILE ERE: every line of FILE matches ERE, the last has its LF
only_lines() {
	local bad
	bad=$(grep -cvE -- "$2" "$1" || true)
	[ "$bad" -eq 0 ] || { echo "$1: $bad lines that are not whole:"; cat "$1"; return 1; }
	[ "$(tail -c 1 "$1" | od -An -tx1)" = " 0a" ] ||
		{ echo "$1: no newline at the end"; return 1; }
}

# five_clients PORT: five clients, m1 to m5, each acknowledged
five_clients() {
	local i
	for ((i = 1; i <= 5; i++)); do
		printf 'm%d\n' "$i" | timeout -k 5 20 "$MSGD_BIN/msgd-client" 127.0.0.1 "$1" \
			>"$T/c$i"
		file_is "$T/c$i" 'hello\nok 1\nbye 1\n'
	done
}

# five_recorded FILE: each of m1 to m5 has its whole receive record in FILE
five_recorded() {
	local i
	for ((i = 1; i <= 5; i++)); do
		[ "$(record_count "$1" "^${TS_RE}127\.0\.0\.1:[0-9]+ #1 receive message: m$i\$")" -eq 1 ] ||
			{ echo "m$i: no whole record"; cat "$1"; return 1; }
	done
}

@test "the shell's > log 2>&1: replies on fd 1 and records on fd 2 share one description, and neither overwrites the other" {
	printf 'hi\nthere\n' | timeout -k 5 20 "${HANDLER_CMD[@]}" >"$T/h.log" 2>&1
	# in order: records before the replies they allow
	grep -vE "^${TS_RE}" "$T/h.log" >"$T/replies"
	file_is "$T/replies" 'hello\nok 1\nok 2\nbye 2\n'
	grep -E "^${TS_RE}" "$T/h.log" >"$T/recs"
	records_are "$T/recs" 'local connect' 'local #1 receive message: hi' \
		'local #2 receive message: there' 'local disconnect: 2 messages, 7 bytes, eof'
	[ "$(wc -l <"$T/h.log")" -eq 8 ]
	# and the description is O_APPEND now, for all who share it
	only_lines "$T/h.log" "^(${TS_RE}local |hello|ok [12]|bye 2)"
}

@test "a script's { ...; } > log 2>&1: the launcher's error line is not overwritten by the lines echoed after it" {
	{
		echo "step 1"
		timeout -k 5 10 "$MSGD_BIN/msgd-launcher" 127.0.0.1 0 "$T/no-such-program" 3>&- ||
			echo "step 2 rc=$?"
		echo "step 3"
	} >"$T/o.log" 2>&1
	file_is "$T/o.log" "step 1\nmsgd-launcher: cannot run $T/no-such-program: No such file or directory\nstep 2 rc=1\nstep 3\n"
}

@test "the handler's replies on a > FILE that its records share through another description overwrite no record" {
	printf 'a\nb\n' >"$T/in"
	# two descriptions of one file: fd 1 without O_APPEND, the records' own
	# shellcheck disable=SC2094 # that is the point
	timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/F" <"$T/in" >"$T/F"
	grep -vE "^${TS_RE}" "$T/F" >"$T/replies"
	file_is "$T/replies" 'hello\nok 1\nok 2\nbye 2\n'
	grep -E "^${TS_RE}" "$T/F" >"$T/recs"
	records_are "$T/recs" 'local connect' 'local #1 receive message: a' \
		'local #2 receive message: b' 'local disconnect: 2 messages, 2 bytes, eof'
}

@test "tcpserver -v 2> log (no O_APPEND): its log lines overwrite none of the handlers' records, nor the records its lines" {
	need tcpserver
	local port
	start_server "$T/port" tcpserver -v -1 -HRl0 127.0.0.1 0 "${HANDLER_CMD[@]}"
	port=$(wait_line "$T/port")
	five_clients "$port"
	wait_count "$T/port.err" '^tcpserver: end [0-9]+ status 0$' 5
	five_recorded "$T/port.err"
	[ "$(record_count "$T/port.err" ' disconnect: 1 message, 2 bytes, eof$')" -eq 5 ]
	[ "$(record_count "$T/port.err" '^tcpserver: ok [0-9]+ ')" -eq 5 ]
	only_lines "$T/port.err" "^(${TS_RE}127\.0\.0\.1:[0-9]+ |tcpserver: (status: |pid |ok |end ))"
}

@test "systemd-socket-activate --inetd 2> log (no O_APPEND): its lines and the handlers' records all survive whole" {
	need systemd-socket-activate
	local port
	for _ in 1 2; do
		port=$(free_port)
		start_server "$T/sa" systemd-socket-activate -l "127.0.0.1:$port" \
			--inetd -a "${HANDLER_CMD[@]}"
		wait_grep "$T/sa.err" '^(Listening on|Failed)'
		grep -qx "Listening on 127.0.0.1:$port as 3." "$T/sa.err" && break
		stop_pid "${SERVER_PIDS[-1]}" || true
	done
	five_clients "$port"
	wait_count "$T/sa.err" '^Child [0-9]+ died with code 0$' 5
	five_recorded "$T/sa.err"
	[ "$(record_count "$T/sa.err" '^Communication attempt on fd 3\.$')" -eq 5 ]
	only_lines "$T/sa.err" "^(${TS_RE}127\.0\.0\.1:[0-9]+ |Listening on |Communication attempt |Connection from |Spawned |Execing |Child [0-9]+ died )"
}
