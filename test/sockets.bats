#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Every socket one launcher is handed or given: LISTEN_FDS=N from
# systemd-socket-activate (TCP and UNIX stream mixed, named by
# LISTEN_FDNAMES), and -U PATH with HOST PORT by hand.  Each client gets
# its own kind's environment, rules and limits, all under one -c.

load helpers

L=$MSGD_BIN/msgd-launcher
H=$MSGD_BIN/msgd-handler
C=$MSGD_BIN/msgd-client

# D: a directory anyone may enter (open_dir); S: the socket's path in it
setup() {
	common_setup
	open_dir sockets
}

teardown() {
	open_dir_teardown
}

# activate_both ARG...: "systemd-socket-activate -l 127.0.0.1:PORT -l $S
# --fdname=net:local ARG..." on a free PORT, its log in $T/sa.err; PID and
# PORT set.  A port taken meanwhile is retried once with another.
activate_both() {
	local try
	for try in 1 2; do
		PORT=$(free_port)
		start_server "$T/sa" systemd-socket-activate -l "127.0.0.1:$PORT" \
			-l "$S" --fdname=net:local "$@"
		PID=${SERVER_PIDS[-1]}
		wait_count "$T/sa.err" '^(Listening on|Failed)' 2 || return 1
		grep -qx "Listening on $S as 4." "$T/sa.err" && return 0
		echo "try $try: port $PORT:" >&2
		cat "$T/sa.err" >&2
		stop_pid "$PID" || true
		rm -f "$S"
	done
	return 1
}

# env_of OUT CMD...: what `env` as the PROGRAM told CMD, sorted, in OUT
env_of() {
	timeout -k 5 10 "${@:2}" </dev/null | LC_ALL=C sort >"$1"
}

@test "socket-activated with a TCP and a UNIX socket, one launcher serves both, each client with its own kind's environment and rules" {
	need systemd-socket-activate python3
	printf '127.0.0.1 allow ZONE=net\nuid:%s allow ZONE=local\n' "$(id -u)" >"$T/rules"
	activate_both "$L" -x "$T/rules" 127.0.0.1 9 /usr/bin/env
	env_of "$T/tcp" "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	env_of "$T/ipc" "$C" -U "$S"
	grep -qx 'PROTO=TCP' "$T/tcp"
	grep -qx "TCPLOCALPORT=$PORT" "$T/tcp"
	grep -qx 'TCPLOCALIP=127.0.0.1' "$T/tcp"
	grep -qx 'ZONE=net' "$T/tcp"
	[ "$(grep -c '^IPC' "$T/tcp")" -eq 0 ]
	grep -qx 'PROTO=IPC' "$T/ipc"
	grep -qx "IPCLOCALPATH=$S" "$T/ipc"
	grep -qx "IPCREMOTEEUID=$(id -u)" "$T/ipc"
	grep -qx 'ZONE=local' "$T/ipc"
	[ "$(grep -cE '^(TCP|PROXY)' "$T/ipc")" -eq 0 ]
	[ "$(grep -cE '^LISTEN_' "$T/tcp" "$T/ipc" | grep -cv ':0$')" -eq 0 ]
	# one launcher, each socket named as LISTEN_FDNAMES named it
	wait_grep "$T/sa.err" "^msgd-launcher: listening on 127.0.0.1 port $PORT \\(net\\), at most 40 at once\$"
	grep -qx "msgd-launcher: listening on $S (local), at most 40 at once" "$T/sa.err"
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	# a socket that systemd made is not ours to remove
	[ -S "$S" ]
}

@test "socket-activated, a uid: deny rule closes the UNIX clients while TCP clients are served and recorded" {
	need systemd-socket-activate python3
	printf 'uid:%s deny\n' "$(id -u)" >"$T/rules"
	activate_both "$L" -x "$T/rules" 127.0.0.1 9 "$H" -l "$T/rec"
	run timeout -k 5 10 "$C" -U "$S" </dev/null
	[ "$output" = "" ]
	wait_grep "$T/sa.err" "^msgd-launcher: deny uid=$(id -u),gid=$(id -g),pid=[0-9]+ rule 1\$"
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" port send:'hi\n' shut eof
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = hello ] && [ "${lines[2]}" = 'ok 1' ] && [ "${lines[3]}" = 'bye 1' ]
	wait_grep "$T/rec" ' disconnect: '
	records_are "$T/rec" "127.0.0.1:${lines[0]} connect" \
		"127.0.0.1:${lines[0]} #1 receive message: hi" \
		"127.0.0.1:${lines[0]} disconnect: 1 message, 2 bytes, eof"
}

@test "socket-activated with -c 1, a UNIX client waits in the backlog while a TCP session runs" {
	need systemd-socket-activate python3
	activate_both "$L" -c 1 127.0.0.1 9 "$H" -l "$T/rec"
	client_bg a 127.0.0.1 "$PORT" send:'a\n' line line wait:"$T/go" shut eof
	wait_grep "$T/a" '^ok 1$'
	# shellcheck disable=SC2016 # expanded by the inner bash
	start_server "$T/b" bash -c 'printf "b\n" | timeout -k 5 20 "$0" -U "$1"' "$C" "$S"
	sleep 1
	# no greeting while the one slot is the TCP client's
	[ ! -s "$T/b" ]
	touch "$T/go"
	wait_grep "$T/b" '^bye 1$'
	file_is "$T/a" 'hello\nok 1\nbye 1\n'
	file_is "$T/b" 'hello\nok 1\nbye 1\n'
}

@test "-U PATH with HOST PORT serves TCP and local clients, -1 prints the TCP port, and the socket file goes at exit" {
	launch l -U "$S" 127.0.0.1 0 /usr/bin/env
	grep -qx "msgd-launcher: listening on $S, at most 40 at once" "$T/l.err"
	grep -qx "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once" "$T/l.err"
	env_of "$T/tcp" "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	env_of "$T/ipc" "$C" -U "$S"
	grep -qx 'PROTO=TCP' "$T/tcp"
	grep -qx "TCPLOCALPORT=$PORT" "$T/tcp"
	grep -qx 'PROTO=IPC' "$T/ipc"
	grep -qx "IPCLOCALPATH=$S" "$T/ipc"
	[ "$(grep -c '^TCP' "$T/ipc")" -eq 0 ]
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	[ ! -e "$S" ]
}

@test "-U PATH with HOST PORT: -C counts a uid on the socket file and an address on TCP apart" {
	launch l -C 1 -U "$S" 127.0.0.1 0 "$H" -l "$T/rec"
	client_bg a 127.0.0.1 "$PORT" send:'a\n' line line wait:"$T/go" shut eof
	wait_grep "$T/a" '^ok 1$'
	# the address has its one; the uid has its own
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$output" = 'error too many connections' ]
	run bash -c 'printf "hi\n" | timeout -k 5 10 "$0" -U "$1"' "$C" "$S"
	[ "$output" = $'hello\nok 1\nbye 1' ]
	touch "$T/go"
	wait_grep "$T/a" '^bye 1$'
}

@test "-U PATH takes HOST PORT only when HOST is a numeric address; a bad PORT there is a usage error" {
	launcher_usage_error "-1 is for TCP, not -U" -U -1 "$S" true
	launcher_usage_error "bad port '99999' (a number from 0 to 65535, or a service name)" \
		-U "$S" 127.0.0.1 99999 true
	# a name is never HOST here: it is PROGRAM, with its arguments
	run timeout -k 5 10 "$L" -U "$S" localhost 9 true 3>&-
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-launcher: cannot run localhost: No such file or directory" ]
	[ ! -e "$S" ]
}

@test "socket-activated, a re-exec (SIGUSR2) keeps both sockets, and both kinds are served after it and after another" {
	need systemd-socket-activate python3
	activate_both "$L" 127.0.0.1 9 "$H"
	run bash -c 'printf "hi\n" | timeout -k 5 10 "$0" -U "$1"' "$C" "$S"
	[ "$output" = $'hello\nok 1\nbye 1' ]
	kill -USR2 "$PID"
	wait_grep "$T/sa.err" '^msgd-launcher: re-executed: 2 listening, 0 running adopted$'
	run bash -c 'printf "hi\n" | timeout -k 5 10 "$0" -U "$1"' "$C" "$S"
	[ "$output" = $'hello\nok 1\nbye 1' ]
	run timeout -k 5 10 "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'x\n' shut eof
	[ "$output" = $'hello\nok 1\nbye 1' ]
	# a second re-exec hands them over again; the listening lines were the
	# first image's only
	kill -USR2 "$PID"
	wait_count "$T/sa.err" '^msgd-launcher: re-executed: 2 listening' 2
	[ "$(grep -c '^msgd-launcher: listening on ' "$T/sa.err")" -eq 2 ]
}
