#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# SIGUSR2: the launcher executes its program file again in place (same
# PID, same arguments), its listeners and running children handed over:
# sessions go on, -c and -C hold, ends are logged by the new image, and a
# re-exec that cannot be done leaves the old image serving.

load helpers

H=$MSGD_BIN/msgd-handler
C=$MSGD_BIN/msgd-client

# L: a copy of the launcher of our own, that a test may remove or replace
setup() {
	common_setup
	cp "$MSGD_BIN/msgd-launcher" "$T/L"
	L=$T/L
}

# session NAME: a client in the background that sends a line, waits for
# $T/go-NAME, sends another and ends; wait until its first ok
session() {
	client_bg "$1" 127.0.0.1 "$PORT" send:'a\n' line line wait:"$T/go-$1" \
		send:'b\n' shut eof
	wait_grep "$T/$1" '^ok 1$'
}

# reexec N: SIGUSR2, and wait until the log says the Nth re-exec is done
reexec() {
	kill -USR2 "$PID"
	wait_count "$T/l.err" '^msgd-launcher: re-executed: ' "$1"
}

# no_zombie: the launcher has no child that ended unreaped (bounded wait:
# a child may have just ended)
no_zombie() {
	local i
	for ((i = 0; i < 250; i++)); do
		[ -z "$(ps --ppid "$PID" -o stat= | awk '/Z/')" ] && return 0
		sleep 0.02
	done
	ps --ppid "$PID" -o pid=,stat= >&2
	return 1
}

@test "SIGUSR2 re-executes in place: a session open across it ends with bye and its records, the new image logs its end, served goes on" {
	launch l -v 127.0.0.1 0 "$H" -l "$T/rec"
	session a
	local child
	child=$(sed -nE 's/^msgd-launcher: pid ([0-9]+) from .*/\1/p' "$T/l.err")
	reexec 1
	grep -qx 'msgd-launcher: re-executed: 1 listening, 1 running adopted' "$T/l.err"
	grep -qx "msgd-launcher: re-executing $(readlink -f "$L")" "$T/l.err"
	# the same process, serving
	[ "$(proc_state "$PID")" != "" ]
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'x\n' shut eof
	[ "$output" = $'hello\nok 1\nbye 1' ]
	touch "$T/go-a"
	wait_grep "$T/a" '^bye 2$'
	file_is "$T/a" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/l.err" "^msgd-launcher: end $child status 0\$"
	[ "$(record_count "$T/rec" "\\[$child\\]: 127\\.0\\.0\\.1:[0-9]+ (connect|#1 receive message: a|#2 receive message: b|disconnect: 2 messages, 2 bytes, eof)\$")" -eq 4 ]
	kill -USR1 "$PID"
	wait_grep "$T/l.err" '^msgd-launcher: status: 0/40 running, 2 served, 0 denied, 0 bad proxy headers, 0 failed spawns$'
	no_zombie
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
}

@test "-c 2 still holds after a re-exec with two sessions begun before it, and the third client is served when one ends" {
	launch l -c 2 127.0.0.1 0 "$H"
	session a
	session b
	reexec 1
	grep -qx 'msgd-launcher: re-executed: 1 listening, 2 running adopted' "$T/l.err"
	client_bg c 127.0.0.1 "$PORT" quiet:1 send:'c\n' shut eof
	wait_grep "$T/c" '^quiet$'
	touch "$T/go-a"
	wait_grep "$T/c" '^bye 1$'
	file_is "$T/c" 'quiet\nhello\nok 1\nbye 1\n'
	touch "$T/go-b"
	wait_grep "$T/b" '^bye 2$'
	file_is "$T/a" 'hello\nok 1\nok 2\nbye 2\n'
}

@test "-C 1 still holds after a re-exec for a source whose session began before it" {
	launch l -v -C 1 127.0.0.1 0 "$H"
	session a
	reexec 1
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$output" = 'error too many connections' ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.1 per-source limit$'
	touch "$T/go-a"
	wait_grep "$T/a" '^bye 2$'
	# its end, logged by the new image, frees the source's one
	wait_grep "$T/l.err" '^msgd-launcher: end [0-9]+ status 0$'
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'x\n' shut eof
	[ "$output" = $'hello\nok 1\nbye 1' ]
}

@test "a re-exec whose program file is gone leaves the old image serving and says why; a new copy put there is the one run next" {
	launch l 127.0.0.1 0 "$H"
	session a
	local path
	path=$(readlink -f "$L")
	rm "$L"
	kill -USR2 "$PID"
	wait_grep "$T/l.err" "^msgd-launcher: cannot re-execute: cannot execute $path: No such file or directory; the old image goes on\$"
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'x\n' shut eof
	[ "$output" = $'hello\nok 1\nbye 1' ]
	# a broken file there: refused the same way
	printf 'not a program\n' >"$T/L.new"
	chmod 755 "$T/L.new"
	mv "$T/L.new" "$L"
	kill -USR2 "$PID"
	wait_grep "$T/l.err" "^msgd-launcher: cannot re-execute: cannot execute $path: Exec format error; the old image goes on\$"
	# an upgrade renames a new file over the path: that file runs
	cp "$MSGD_BIN/msgd-launcher" "$T/L.new"
	mv "$T/L.new" "$L"
	reexec 1
	[ "$(stat -L -c %i "/proc/$PID/exe")" = "$(stat -c %i "$L")" ]
	touch "$T/go-a"
	wait_grep "$T/a" '^bye 2$'
	no_zombie
}

@test "a bad rules file makes a re-exec fail safe with the old rules; good ones are read again by the new image" {
	printf '127.0.0.1 allow ZONE=one\n' >"$T/rules"
	launch l -x "$T/rules" 127.0.0.1 0 /usr/bin/env
	printf '127.0.0.1 allow ZONE=two\n127.0.0.300 deny\n' >"$T/rules"
	kill -USR2 "$PID"
	wait_grep "$T/l.err" "^msgd-launcher: cannot re-execute: $T/rules:2: bad address '127\\.0\\.0\\.300'.*; the old image goes on\$"
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	printf '%s\n' "${lines[@]}" | grep -qx 'ZONE=one'
	printf '127.0.0.1 allow ZONE=two\n' >"$T/rules"
	reexec 1
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	printf '%s\n' "${lines[@]}" | grep -qx 'ZONE=two'
	# nothing of the hand-over reaches a child
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^MSGD_REEXEC')" -eq 0 ]
}

@test "a storm of SIGUSR2 with sessions open: one launcher serves on, every session ends with bye, every end is logged, no zombie" {
	launch l -v 127.0.0.1 0 "$H" -l "$T/rec"
	session a
	session b
	local i
	for i in $(seq 1 30); do
		kill -USR2 "$PID"
		sleep 0.01
	done
	reexec 1
	# quiet again: the last SIGUSR2 is done once SIGUSR1's line comes
	kill -USR1 "$PID"
	wait_grep "$T/l.err" '^msgd-launcher: status: 2/40 running, 2 served, ' 60
	for i in 1 2 3; do
		run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'x\n' shut eof
		[ "$output" = $'hello\nok 1\nbye 1' ]
	done
	touch "$T/go-a" "$T/go-b"
	wait_grep "$T/a" '^bye 2$'
	wait_grep "$T/b" '^bye 2$'
	wait_count "$T/l.err" '^msgd-launcher: end [0-9]+ status 0$' 5
	wait_count "$T/rec" ' disconnect: 2 messages, 2 bytes, eof$' 2
	no_zombie
	[ "$(grep -c '^msgd-launcher: cannot' "$T/l.err")" -eq 0 ]
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
}

@test "under a service manager a re-exec says RELOADING=1 with MONOTONIC_USEC, then READY=1; a failed one READY=1 too" {
	start_server "$T/n" "${CLIENT[@]}" syslog "$T/notify"
	wait_line "$T/n" >/dev/null
	# shellcheck disable=SC2034 # read by launch
	PRE=(env NOTIFY_SOCKET="$T/notify")
	launch l 127.0.0.1 0 "$H"
	wait_grep "$T/n" '^READY=1$'
	reexec 1
	wait_count "$T/n" '^READY=1$' 2
	rm "$L"
	kill -USR2 "$PID"
	wait_count "$T/n" '^READY=1$' 3
	# each RELOADING=1 (with its timestamp, in one datagram) before a READY=1
	[ "$(grep -cE '^RELOADING=1$' "$T/n")" -eq 2 ]
	[ "$(grep -cE '^MONOTONIC_USEC=[0-9]+$' "$T/n")" -eq 2 ]
	[ "$(grep -E '^(READY|RELOADING)=1$' "$T/n" | tr '\n' ' ')" = 'READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 ' ]
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'x\n' shut eof
	[ "$output" = $'hello\nok 1\nbye 1' ]
}

@test "a re-exec on -U PATH with HOST PORT keeps both sockets and the pid file, and the new image removes both files at exit" {
	local S
	S=$T/sock
	launch l -i "$T/pid" -U "$S" 127.0.0.1 0 "$H"
	[ "$(cat "$T/pid")" = "$PID" ]
	reexec 1
	grep -qx 'msgd-launcher: re-executed: 2 listening, 0 running adopted' "$T/l.err"
	run bash -c 'printf "hi\n" | timeout -k 5 10 "$0" -U "$1"' "$C" "$S"
	[ "$output" = $'hello\nok 1\nbye 1' ]
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'x\n' shut eof
	[ "$output" = $'hello\nok 1\nbye 1' ]
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	[ ! -e "$S" ]
	[ ! -e "$T/pid" ]
}

@test "children adopted by a re-exec get the grace at SIGTERM, then SIGTERM, and the launcher exits 0 after them" {
	launch l -k 1 127.0.0.1 0 "$H" -l "$T/rec"
	client_bg a 127.0.0.1 "$PORT" send:'a\n' line line eof
	wait_grep "$T/a" '^ok 1$'
	reexec 1
	kill -TERM "$PID"
	wait_grep "$T/l.err" '^msgd-launcher: stopping: 1 running, grace 1 s$'
	# the handler finishes what it has and says why it goes
	wait_grep "$T/a" '^error server shutting down$'
	wait_exit "$PID"
	forget "$PID"
	[ "$EXIT" -eq 0 ]
	wait_grep "$T/rec" ' disconnect: 1 message, 1 bytes, shutdown$'
}

@test "SIGTERM in the middle of a storm of SIGUSR2 stops the launcher with 0, and the open session still ends with bye" {
	launch l -v 127.0.0.1 0 "$H" -l "$T/rec"
	session a
	local i
	for i in $(seq 1 10); do
		kill -USR2 "$PID"
		sleep 0.01
	done
	kill -TERM "$PID"
	wait_grep "$T/l.err" '^msgd-launcher: stopping: 1 running, grace 10 s$' 60
	touch "$T/go-a"
	wait_grep "$T/a" '^bye 2$'
	wait_exit "$PID" 30
	forget "$PID"
	[ "$EXIT" -eq 0 ]
	wait_grep "$T/rec" ' disconnect: 2 messages, 2 bytes, eof$'
}
