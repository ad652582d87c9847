#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Local clients on a UNIX-domain socket: msgd-launcher -U, msgd-handler on
# an AF_UNIX fd 0 (systemd-socket-activate --inetd) and msgd-client -U,
# with real clients (OpenBSD nc -U, socat) as root and as nobody.  The
# kernel's SO_PEERCRED names each client: uid, gid and pid.

load helpers

L=$MSGD_BIN/msgd-launcher
H=$MSGD_BIN/msgd-handler
C=$MSGD_BIN/msgd-client
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

# D: a directory the user nobody may enter (open_dir); S: the socket's path in it
setup() {
	common_setup
	open_dir unix
}

teardown() {
	open_dir_teardown
}

# need_nobody: skip unless we may act as nobody
need_nobody() {
	need_root "to run clients as nobody"
	need setpriv
}

# "${WITH_PID[@]}" FILE CMD...: CMD, its pid first written to FILE (the
# shell execs CMD, so the pid is CMD's)
# shellcheck disable=SC2016 # expanded by the inner sh
WITH_PID=(sh -c 'echo "$$" >"$0"; exec "$@"')

# exchange CMD...: printf 'hi\n' | CMD (at most 10 s) prints the handler's
# whole answer and exits 0
exchange() {
	run bash -c 'printf "hi\n" | timeout -k 5 10 "$@"' sh "$@"
	echo "$* -> status $status: $output" >&2
	[ "$status" -eq 0 ]
	[ "$output" = $'hello\nok 1\nbye 1' ]
}

# one_client_records FILE PEER: FILE holds the three records of one message
# "hi" from PEER, after it has them all
one_client_records() {
	wait_grep "$1" " disconnect: "
	records_are "$1" "$2 connect" "$2 #1 receive message: hi" \
		"$2 disconnect: 1 message, 2 bytes, eof"
}

# root_refused WHY: root's msgd-client -U gets "error too many connections", logged as WHY
root_refused() {
	run timeout -k 5 10 "$C" -U "$S" </dev/null
	[ "$output" = "error too many connections" ] || return 1
	wait_grep "$T/l.err" "^msgd-launcher: deny uid=0,gid=0,pid=[0-9]+ $1\$"
}

# ---- the launcher ----

@test "the launcher on a UNIX socket serves nc -U, socat and msgd-client -U, each recorded by uid, gid and pid" {
	need nc.openbsd socat
	launch_unix "$S" "$H" -l "$T/rec"
	[ "$(stat -c %a "$S")" = 666 ]
	exchange "${WITH_PID[@]}" "$T/p1" nc.openbsd -N -U "$S"
	exchange "${WITH_PID[@]}" "$T/p2" socat - "UNIX-CONNECT:$S"
	exchange "${WITH_PID[@]}" "$T/p3" "$C" -U "$S"
	wait_count "$T/rec" ' disconnect: 1 message, 2 bytes, eof$' 3
	for p in "$(cat "$T/p1")" "$(cat "$T/p2")" "$(cat "$T/p3")"; do
		[ "$(record_count "$T/rec" "^$TS_RE"'uid=0,gid=0,pid='"$p"' (connect|#1 receive message: hi|disconnect: 1 message, 2 bytes, eof)$')" -eq 3 ]
	done
	[ "$(wc -l <"$T/rec")" -eq 9 ]
}

@test "a client as nobody is recorded as uid 65534, and -v logs every client by its credentials" {
	need_nobody
	need nc.openbsd
	launch_unix -v "$S" "$H" -l "$T/rec"
	exchange "${WITH_PID[@]}" "$T/p" "${NOBODY[@]}" nc.openbsd -N -U "$S"
	one_client_records "$T/rec" "uid=65534,gid=65534,pid=$(cat "$T/p")"
	wait_grep "$T/l.err" "^msgd-launcher: pid [0-9]+ from uid=65534,gid=65534,pid=$(cat "$T/p")\$"
	grep -qx "msgd-launcher: listening on $S, at most 40 at once" "$T/l.err"
}

@test "the child sees PROTO=IPC and the IPC variables, and no TCP, PROXY or inherited IPC variable" {
	need_nobody
	need nc.openbsd
	TCPREMOTEIP=192.0.2.1 TCPREMOTEPORT=9 TCPLOCALIP=192.0.2.2 \
		PROXYREMOTEIP=192.0.2.3 IPCREMOTEEUID=4242 IPCREMOTEPATH=/x IPCOTHER=1 \
		KEEP=me launch_unix "$S" /usr/bin/env
	run timeout -k 5 10 "${WITH_PID[@]}" "$T/p" "${NOBODY[@]}" nc.openbsd -N -U "$S" </dev/null
	[ "$status" -eq 0 ]
	diff <(printf '%s\n' "$output" | grep -E '^(PROTO|TCP|PROXY|IPC|KEEP)' | sort) \
		<(printf '%s\n' "IPCLOCALPATH=$S" IPCREMOTEEGID=65534 IPCREMOTEEUID=65534 \
			"IPCREMOTEPID=$(cat "$T/p")" KEEP=me PROTO=IPC)
}

@test "-c 1 on a UNIX socket keeps the second client waiting until the first is done" {
	need nc.openbsd
	launch_unix -c 1 "$S" "$H" -l "$T/rec"
	start_server "$T/c1" nc.openbsd -U "$S" </dev/null
	wait_grep "$T/rec" ' connect$'
	start_server "$T/c2" "$C" -U "$S" </dev/null
	sleep 0.5
	[ "$(record_count "$T/rec" ' connect$')" -eq 1 ]
	[ ! -s "$T/c2" ]
	kill "${SERVER_PIDS[-2]}"
	wait_count "$T/rec" ' connect$' 2
	wait_grep "$T/c2" '^bye 0$'
	file_is "$T/c2" 'hello\nbye 0\n'
}

@test "-C 1 counts per uid: root's second connection is refused while nobody's is served" {
	need_nobody
	need nc.openbsd
	launch_unix -C 1 "$S" "$H" -l "$T/rec"
	start_server "$T/c1" nc.openbsd -U "$S" </dev/null
	wait_grep "$T/rec" ' connect$'
	root_refused 'per-source limit'
	exchange "${NOBODY[@]}" "$C" -U "$S"
}

@test "-R 1 counts per uid: root's second connection within a second is refused, nobody's served" {
	need_nobody
	launch_unix -R 1 "$S" "$H" -l "$T/rec"
	exchange "$C" -U "$S"
	root_refused 'rate limit'
	exchange "${NOBODY[@]}" "$C" -U "$S"
}

@test "uid: and gid: rules decide for local clients, first match wins, and IP rules never match them" {
	need_nobody
	printf '%s\n' '0.0.0.0/0 deny' '::/0 deny' 'gid:0 allow ZONE=root' \
		'uid:65534 deny' 'uid:0 deny' >"$T/rules"
	launch_unix -x "$T/rules" "$S" /usr/bin/env
	run timeout -k 5 10 "$C" -U "$S" </dev/null
	[ "$status" -eq 0 ]
	grep -qx 'ZONE=root' <<<"$output"
	grep -qx 'PROTO=IPC' <<<"$output"
	run timeout -k 5 10 "${WITH_PID[@]}" "$T/p" "${NOBODY[@]}" "$C" -U "$S" </dev/null
	[ -z "$output" ]
	wait_grep "$T/l.err" "^msgd-launcher: deny uid=65534,gid=65534,pid=$(cat "$T/p") rule 4\$"
}

@test "a uid: or gid: rule never matches a TCP client, and may share a file with IP rules" {
	printf '%s\n' 'uid:0 deny' 'gid:0 deny' '127.0.0.1 allow ZONE=lo' >"$T/rules"
	launch t -x "$T/rules" 127.0.0.1 0 /usr/bin/env
	run timeout -k 5 10 "$C" 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 0 ]
	grep -qx 'ZONE=lo' <<<"$output"
	grep -qx 'PROTO=TCP' <<<"$output"
}

@test "-M 0600 keeps nobody out with EACCES, and root still gets in" {
	need_nobody
	launch_unix -M 0600 "$S" "$H" -l "$T/rec"
	[ "$(stat -c %a "$S")" = 600 ]
	run timeout -k 5 10 "${NOBODY[@]}" "$C" -U "$S" </dev/null
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-client: $S: Permission denied" ]
	exchange "$C" -U "$S"
}

# ---- the socket file ----

@test "a stale socket at PATH (nobody listening) is replaced and served" {
	need python3
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$S"
	[ -S "$S" ]
	launch_unix "$S" "$H" -l "$T/rec"
	exchange "$C" -U "$S"
}

@test "a live socket at PATH is 'address in use', exit 1, and its listener still serves" {
	launch_unix "$S" "$H" -l "$T/rec"
	run timeout -k 5 10 "$L" -U "$S" "$H" 3>&-
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-launcher: $S: address in use" ]
	exchange "$C" -U "$S"
}

@test "a regular file, a directory or a symbolic link at PATH is refused with exit 1 and left untouched" {
	printf 'precious\n' >"$S"
	run timeout -k 5 10 "$L" -U "$S" "$H" 3>&-
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-launcher: $S: a file is there, not a socket; left alone" ]
	file_is "$S" 'precious\n'
	rm "$S"
	mkdir "$S"
	run timeout -k 5 10 "$L" -U "$S" "$H" 3>&-
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-launcher: $S: a directory is there, not a socket; left alone" ]
	[ -d "$S" ]
	rmdir "$S"
	ln -s "$T/nowhere" "$S"
	run timeout -k 5 10 "$L" -U "$S" "$H" 3>&-
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-launcher: $S: a symbolic link is there, not a socket; left alone" ]
	[ "$(readlink "$S")" = "$T/nowhere" ]
	[ ! -e "$T/nowhere" ]
}

@test "at SIGTERM the socket file is removed, but not one that took its place" {
	launch_unix "$S" "$H" -l "$T/rec"
	kill -TERM "$PID"
	wait_exit "$PID"
	[ "$EXIT" -eq 0 ]
	[ ! -e "$S" ]
	[ "$(grep -c . "$T/l.err")" -eq 2 ]
	# a file put in its place meanwhile is someone else's
	rm -f "$T/l.err"	# the next launch_unix waits for its own line
	launch_unix "$S" "$H" -l "$T/rec"
	mv "$S" "$D/moved"
	printf 'new\n' >"$S"
	kill -INT "$PID"
	wait_exit "$PID"
	[ "$EXIT" -eq 0 ]
	file_is "$S" 'new\n'
	[ -S "$D/moved" ]
}

@test "where -u forbids removing the socket file, that is logged and the exit is still 0" {
	need_nobody
	launch_unix -u nobody "$S" "$H" -l "$T/rec"
	kill -TERM "$PID"
	wait_exit "$PID"
	[ "$EXIT" -eq 0 ]
	[ -S "$S" ]
	grep -qx "msgd-launcher: cannot remove $S: Permission denied" "$T/l.err"
}

@test "under systemd-socket-activate the launcher serves the inherited UNIX socket and never removes its file" {
	need systemd-socket-activate
	start_server "$T/l" systemd-socket-activate -l "$S" "$L" -U "$S" "$H" -l "$T/rec"
	PID=${SERVER_PIDS[-1]}
	wait_grep "$T/l.err" '^Listening on '
	# it starts the launcher at the first connection
	exchange "${WITH_PID[@]}" "$T/p" "$C" -U "$S"
	grep -qx "msgd-launcher: listening on $S, at most 40 at once" "$T/l.err"
	one_client_records "$T/rec" "uid=0,gid=0,pid=$(cat "$T/p")"
	kill -TERM "$PID"
	wait_exit "$PID"
	[ "$EXIT" -eq 0 ]
	[ -S "$S" ]
}

@test "-U with -4, -6, -p or -1, -M without -U, a bad -M and a bad uid: or gid: rule are usage errors" {
	launcher_usage_error "-4 and -6 are for TCP, not -U" -U -4 "$S" true
	launcher_usage_error "-4 and -6 are for TCP, not -U" -6 -U "$S" true
	launcher_usage_error "-p is for TCP, not -U" -U -p 127.0.0.1 "$S" true
	launcher_usage_error "-1 is for TCP, not -U" -U -1 "$S" true
	launcher_usage_error "-M without -U" -M 0600 127.0.0.1 0 true
	launcher_usage_error "-M: bad mode '0800' (octal, from 0 to 0777)" -U -M 0800 "$S" true
	launcher_usage_error "PATH PROGRAM missing" -U
	launcher_usage_error "PROGRAM missing" -U "$S"
	launcher_usage_error "-p: a relay is an address, not a uid:, gid: or cn:" -p uid:0 127.0.0.1 0 true
	printf 'uid:1 allow\nuid:x deny\n' >"$T/rules"
	launcher_file_error "$T/rules:2: bad uid 'x' (a number from 0 to 4294967295)" -U -x "$T/rules" "$S" true
	printf 'gid:4294967296 deny\n' >"$T/rules"
	launcher_file_error "$T/rules:1: bad gid '4294967296' (a number from 0 to 4294967295)" -U -x "$T/rules" "$S" true
	printf 'uid:5/8 deny\n' >"$T/rules"
	launcher_file_error "$T/rules:1: bad uid '5/8' (a number from 0 to 4294967295)" -U -x "$T/rules" "$S" true
	[ ! -e "$S" ]
}

# ---- the handler on its own ----

@test "systemd-socket-activate --inetd: the handler records the client's uid, gid and pid, over any TCP variable; only a PROXY header beats them" {
	need systemd-socket-activate nc.openbsd socat
	start_server "$T/sa" systemd-socket-activate --inetd -a -l "$S" \
		-E PROTO=TCP -E TCPREMOTEIP=192.0.2.1 -E TCPREMOTEPORT=9 \
		-E REMOTE_ADDR=192.0.2.2 -E REMOTE_PORT=9 "$H" -l "$T/rec"
	wait_grep "$T/sa.err" 'Listening on'
	exchange "${WITH_PID[@]}" "$T/p" nc.openbsd -N -U "$S"
	one_client_records "$T/rec" "uid=0,gid=0,pid=$(cat "$T/p")"
	# a relay on the same host that speaks PROXY v2 (handler -p)
	start_server "$T/sa2" systemd-socket-activate --inetd -a -l "$D/relayed" \
		"$H" -p -l "$T/rec2"
	wait_grep "$T/sa2.err" 'Listening on'
	{ proxy_v2 0x21 0x11 192.0.2.7 192.0.2.8 4321 9100; printf 'hi\n'; } >"$T/in"
	run timeout -k 5 10 socat - "UNIX-CONNECT:$D/relayed" <"$T/in"
	[ "$output" = $'hello\nok 1\nbye 1' ]
	one_client_records "$T/rec2" "192.0.2.7:4321"
}

@test "the handler on a UNIX socket records a client as nobody, and setting no TCP option is no error" {
	need_nobody
	need systemd-socket-activate
	# its stderr a file of its own: the records go there, by default
	# shellcheck disable=SC2016 # expanded by the inner sh
	start_server "$T/sa" systemd-socket-activate --inetd -a -l "$S" \
		sh -c 'exec "$0" 2>"$1"' "$H" "$T/rec"
	wait_grep "$T/sa.err" 'Listening on'
	chmod 666 "$S"
	exchange "${WITH_PID[@]}" "$T/p" "${NOBODY[@]}" "$C" -U "$S"
	# the three records and nothing else
	one_client_records "$T/rec" "uid=65534,gid=65534,pid=$(cat "$T/p")"
}

@test "a handler on a pipe with PROTO=IPC names the IPC variables' client, and bad ones as local" {
	printf 'hi\n' >"$T/in"
	PROTO=IPC IPCREMOTEEUID=1000 IPCREMOTEEGID=100 IPCREMOTEPID=4194304 \
		converse "$T/in" -l "$T/rec"
	[ "$status" -eq 0 ]
	one_client_records "$T/rec" "uid=1000,gid=100,pid=4194304"
	PROTO=IPC IPCREMOTEEUID=4294967295 IPCREMOTEEGID=4294967295 IPCREMOTEPID=2147483647 \
		converse "$T/in" -l "$T/rec2"
	one_client_records "$T/rec2" "uid=4294967295,gid=4294967295,pid=2147483647"
	PROTO=IPC IPCREMOTEEUID=1000 IPCREMOTEEGID=x IPCREMOTEPID=7 \
		TCPREMOTEIP=192.0.2.1 TCPREMOTEPORT=9 converse "$T/in" -l "$T/rec3"
	one_client_records "$T/rec3" "local"
	PROTO=IPC IPCREMOTEEUID=1000 IPCREMOTEPID=7 converse "$T/in" -l "$T/rec4"
	one_client_records "$T/rec4" "local"
}

# ---- the client ----

@test "msgd-client -U: -4 or -6 is a usage error, a missing socket is named, and -v and -z say what OpenBSD nc and Solaris nc say" {
	run "$C" -U -4 "$S"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "msgd-client: -4 and -6 are for TCP, not -U" ]
	run "$C" -6 -U "$S"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "msgd-client: -4 and -6 are for TCP, not -U" ]
	run "$C" -U "$S" </dev/null
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-client: $S: No such file or directory" ]
	run "$C" -z -U "$S"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	launch_unix "$S" "$H" -l "$T/rec"
	run "$C" -z -v -U "$S"
	[ "$status" -eq 0 ]
	[ "$output" = "Connection to $S succeeded!" ]
}

# ---- the README's recipe ----

@test "the README's local-clients recipe: root and group 50 are served, anyone else is refused by the socket before any rule" {
	need_nobody
	local readme=$BATS_TEST_DIRNAME/../README.md sock=$D/run/msgd/msgd.sock
	# the README's commands, run here with this test's paths
	grep -qF 'install -d -m 2750 -g 50 /run/msgd ' "$readme"
	grep -qF 'msgd-launcher -U -M 0660 -C 3 -x /etc/msgd/local.rules /run/msgd/msgd.sock' "$readme"
	sed -n '/^# \/etc\/msgd\/local.rules/,/^```$/p' "$readme" | sed '1d;$d' >"$T/local.rules"
	[ "$(grep -c ' allow ' "$T/local.rules")" -eq 2 ]
	mkdir "$D/run"
	install -d -m 2750 -g 50 "$D/run/msgd"
	launch_unix -M 0660 -C 3 -x "$T/local.rules" "$sock" "$H" -l "$T/records.log"
	[ "$(stat -c '%a %g' "$sock")" = "660 50" ]
	exchange "$C" -a -U "$sock"
	# primary group 50, and group 50 among the supplementary ones
	exchange setpriv --reuid=61234 --regid=50 --clear-groups "$C" -a -U "$sock"
	exchange setpriv --reuid=61235 --regid=61235 --groups=50 "$C" -a -U "$sock"
	# anyone else: refused by the kernel, before any rule
	run setpriv --reuid=61236 --regid=61236 --clear-groups "$C" -a -U "$sock" </dev/null
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-client: $sock: Permission denied" ]
	run "${NOBODY[@]}" "$C" -a -U "$sock" </dev/null
	[ "$status" -eq 1 ]
	wait_count "$T/records.log" ' disconnect: ' 3
	[ "$(record_count "$T/records.log" ' uid=0,gid=0,pid=[0-9]+ #1 receive message: hi$')" -eq 1 ]
	[ "$(record_count "$T/records.log" ' uid=61234,gid=50,pid=[0-9]+ #1 receive message: hi$')" -eq 1 ]
	[ "$(record_count "$T/records.log" ' uid=61235,gid=61235,pid=[0-9]+ #1 receive message: hi$')" -eq 1 ]
	[ "$(record_count "$T/records.log" ' connect$')" -eq 3 ]
}
