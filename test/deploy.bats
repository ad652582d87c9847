#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# msgd deployed: the handler under the real super-servers (xinetd,
# tcpserver, tcpsvd, systemd-socket-activate), the launcher socket-activated,
# the real nc variants as clients, and the shipped xinetd file, systemd
# units and man pages checked by their own tools.  Everything is on
# loopback; every server is started with start_server and stopped by PID.

load helpers

L=$MSGD_BIN/msgd-launcher
H=$MSGD_BIN/msgd-handler
ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)

# listen_port PID: wait (at most 10 s) until PID listens on a TCP port of
# IPv4 and print the port; read from /proc, for a program that listens on
# port 0 but does not say which port it got
listen_port() {
	local i fd link row
	for ((i = 0; i < 200; i++)); do
		for fd in "/proc/$1/fd/"*; do
			link=$(readlink "$fd" 2>/dev/null) || continue
			[[ $link =~ ^socket:\[([0-9]+)\]$ ]] || continue
			# sl local remote st ... inode: a listener is state 0A
			row=$(awk -v ino="${BASH_REMATCH[1]}" \
				'$4 == "0A" && $10 == ino { print $2 }' /proc/net/tcp)
			if [ -n "$row" ]; then
				echo $((16#${row#*:}))
				return 0
			fi
		done
		sleep 0.05
	done
	echo "pid $1 listens on no TCP port after 10 s" >&2
	return 1
}

# converse_tcp PORT TEXT: send TEXT (printf %b) to 127.0.0.1 PORT with a
# half-close after it; what came back is in $T/out, the client's own port
# in CPORT
converse_tcp() {
	printf '%b' "$2" | timeout -k 5 20 python3 "$TCP_PY" client 127.0.0.1 "$1" \
		--port-file "$T/cport" >"$T/out"
	CPORT=$(cat "$T/cport")
	[[ $CPORT =~ ^[0-9]+$ ]]
}

# exchange_recorded FILE PEER: $T/out and the record file FILE are those of
# one connection from PEER that sent "hi" and "there"
exchange_recorded() {
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	records_are "$1" "$2 connect" "$2 #1 receive message: hi" \
		"$2 #2 receive message: there" \
		"$2 disconnect: 2 messages, 7 bytes, eof"
}

# record_pid FILE: the pid in FILE's first record
record_pid() {
	head -n 1 "$1" | sed -E 's/^[^ ]+ msgd-handler\[([0-9]+)\]: .*/\1/'
}

# activate NAME ARG...: start "systemd-socket-activate -l 127.0.0.1:PORT
# ARG..." on a free PORT with its log in $T/NAME.err; set PID and PORT.  It
# cannot listen on port 0, so a port taken between free_port and its bind
# is retried once with another.
activate() {
	local name=$1 try
	shift
	for try in 1 2; do
		PORT=$(free_port)
		start_server "$T/$name" systemd-socket-activate \
			-l "127.0.0.1:$PORT" "$@"
		PID=${SERVER_PIDS[-1]}
		wait_grep "$T/$name.err" '^(Listening on|Failed)' || return 1
		grep -qx "Listening on 127.0.0.1:$PORT as 3." "$T/$name.err" &&
			return 0
		echo "try $try: port $PORT:" >&2
		cat "$T/$name.err" >&2
		stop_pid "$PID" || true
	done
	return 1
}

# nc_exchange CMD...: printf 'hi\n' | CMD 127.0.0.1 PORT prints exactly the
# exchange and exits 0
nc_exchange() {
	run bash -c 'printf "hi\n" | timeout -k 5 10 "$@"' sh "$@"
	echo "$* -> status $status: $output" >&2
	[ "$status" -eq 0 ]
	[ "$output" = $'hello\nok 1\nbye 1' ]
}

# synopsis PAGE: PAGE's SYNOPSIS as mandoc renders it, in one line
synopsis() {
	mandoc -T ascii "$1" | sed 's/.\x08//g' |
		sed -n '/^SYNOPSIS$/,/^[A-Z]/{/^[A-Z]/!p;}' | tr -s ' \t\n' '   ' |
		sed 's/^ //; s/ $//'
}

# usage_line PROGRAM: the usage PROGRAM prints for a bad option (its
# lines from "usage: " on), without "usage: ", in one line
usage_line() {
	"$1" -@ 2>&1 </dev/null 3>&- | sed -n '/^usage: /,$p' |
		sed 's/^usage: //' | tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//'
}

# xinetd_attr NAME: the value of NAME in the msgd service of the shipped
# file, blanks collapsed; one line per assignment
xinetd_attr() {
	awk -v name="$1" '
		/^[ \t]*#/ { next }
		/^service msgd/ { in_msgd = 1; next }
		in_msgd && /^}/ { in_msgd = 0 }
		in_msgd && $1 == name && $2 == "=" {
			$1 = ""; $2 = ""; sub(/^ +/, ""); print
		}' "$XINETD_FILE"
}

# ---- xinetd ----

XINETD_FILE=$ROOT/xinetd.d/msgd

# xinetd_start: write $T/xinetd.d/msgd from the shipped file with only the
# port (a free one, PORT) and the path rewritten, and the service enabled
# (it ships with disable = yes), as a user would; start xinetd in the
# foreground in a mount namespace whose /dev/log is $T/dev/log, and wait
# until it serves; XPID is its pid, XLOG_FROM the line of $T/syslog where
# its log begins.  xinetd cannot listen on port 0 and
# stays up without its service when the bind fails, so a port taken in
# between is reported (return 1) for the caller to try once more.
xinetd_start() {
	local i started
	PORT=$(free_port)
	sed -E "s|^([[:space:]]*port[[:space:]]*=[[:space:]]*)9100\$|\\1$PORT|
		s|^([[:space:]]*disable[[:space:]]*=[[:space:]]*)yes\$|\\1no|
		s|@SBINDIR@|$MSGD_BIN|" "$XINETD_FILE" >"$T/xinetd.d/msgd"
	started=$(grep -c 'xinetd\[[0-9]*\]: Started working' "$T/syslog")
	XLOG_FROM=$(($(wc -l <"$T/syslog") + 1))
	rm -f "$T/xinetd.pid"
	dev_pre "$T/dev"
	start_server "$T/xinetd" "${DEV_PRE[@]}" xinetd -dontfork \
		-f "$T/xinetd.conf" -pidfile "$T/xinetd.pid"
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -c 'xinetd\[[0-9]*\]: Started working' "$T/syslog")" -gt "$started" ] &&
			break
		sleep 0.05
	done
	XPID=$(cat "$T/xinetd.pid")
	[[ $XPID =~ ^[0-9]+$ ]] || return 1
	SERVER_PIDS+=("$XPID")
	tail -n 1 "$T/syslog" | grep -q 'Started working: 1 available service' &&
		return 0
	echo "xinetd on port $PORT:" >&2
	cat "$T/syslog" >&2
	stop_pid "$XPID"
	# its last words printed before the next one's begin
	syslog_drain "$T/dev/log" "$T/syslog"
	return 1
}

@test "the shipped xinetd file, with only its port and path rewritten and disable = no, serves the protocol and its records reach syslog as daemon.info" {
	need xinetd python3
	need_mount_ns
	runuser -u nobody -- test -x "$H" ||
		skip "user nobody (the file's user) cannot run $H"
	local hpid line
	mkdir "$T/dev" "$T/xinetd.d"
	start_server "$T/syslog" python3 "$TCP_PY" syslog "$T/dev/log"
	wait_line "$T/syslog"
	# the handler runs as nobody (user = nobody) and must be able to send
	chmod 666 "$T/dev/log"
	# Debian's /etc/xinetd.conf with its log_type made real (xinetd logs
	# nothing of a service without one), and loopback only
	printf '%s\n' 'defaults' '{' '	log_type = SYSLOG daemon info' \
		'	bind = 127.0.0.1' '}' "includedir $T/xinetd.d" >"$T/xinetd.conf"
	xinetd_start || xinetd_start
	# nothing but the port, the path and disable differs from the shipped
	# file: these three lines are all that changed
	diff -u <(printf '%s\n' "> 	port		= $PORT" \
		"> 	server		= $MSGD_BIN/msgd-handler" "> 	disable		= no") \
		<(diff "$XINETD_FILE" "$T/xinetd.d/msgd" | grep '^>')
	[ "$(diff "$XINETD_FILE" "$T/xinetd.d/msgd" | grep -c '^<')" -eq 3 ]

	converse_tcp "$PORT" 'hi\nthere\n'
	# the socket is on fd 2 too: nothing but protocol lines
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/syslog" 'xinetd\[[0-9]+\]: EXIT: msgd '
	syslog_drain "$T/dev/log" "$T/syslog"
	# the syslog of this xinetd, without a first one's if it was retried
	{ head -n 1 "$T/syslog"; tail -n "+$XLOG_FROM" "$T/syslog"; } >"$T/xlog"
	# the file says -s: the records are daemon.info (<30>) datagrams
	diff -u <(printf '%s\n' "<30> 127.0.0.1:$CPORT connect" \
		"<30> 127.0.0.1:$CPORT #1 receive message: hi" \
		"<30> 127.0.0.1:$CPORT #2 receive message: there" \
		"<30> 127.0.0.1:$CPORT disconnect: 2 messages, 7 bytes, eof") \
		<(syslog_records "$T/xlog" |
			grep -vE "^BAD: <[0-9]+>.{15} xinetd\\[$XPID\\]: ")
	# ... the ones of the handler xinetd started, which ended with 0
	hpid=$(grep -oE 'msgd-handler\[[0-9]+\]' "$T/xlog" | sort -u | tr -dc 0-9)
	[ -n "$hpid" ]
	grep -qE "^<30>.* xinetd\[$XPID\]: START: msgd pid=$hpid from=127\.0\.0\.1\$" "$T/xlog"
	grep -qE "^<30>.* xinetd\[$XPID\]: EXIT: msgd status=0 pid=$hpid duration=[0-9]+\(sec\)\$" "$T/xlog"
	# nobody else wrote to syslog, and xinetd nothing to its stdout/stderr
	while IFS= read -r line; do
		[[ $line =~ ^\<[0-9]+\>.{15}\ (xinetd\[$XPID\]|msgd-handler\[$hpid\]):\  ]] ||
			[ "$line" = --end-- ] || { echo "stray: $line"; false; }
	done < <(sed 1d "$T/xlog")
	file_is "$T/xinetd" ''
	file_is "$T/xinetd.err" ''
}

# ---- the other super-servers ----

@test "under tcpserver a client gets the whole exchange and is recorded by the peer tcpserver saw" {
	need tcpserver python3
	local hpid port
	start_server "$T/port" tcpserver -v -1 -HRl0 127.0.0.1 0 \
		"${HANDLER_CMD[@]}" -l "$T/rec"
	port=$(wait_line "$T/port")
	converse_tcp "$port" 'hi\nthere\n'
	exchange_recorded "$T/rec" "127.0.0.1:$CPORT"
	# tcpserver's log names the same child, the same peer and the end
	hpid=$(record_pid "$T/rec")
	wait_grep "$T/port.err" "^tcpserver: end $hpid status 0\$"
	grep -qx "tcpserver: ok $hpid 0:127.0.0.1:$port :127.0.0.1::$CPORT" "$T/port.err"
}

@test "under ipsvd's tcpsvd a client gets the whole exchange and is recorded by the peer tcpsvd saw" {
	need tcpsvd python3
	local hpid port
	# tcpsvd takes port 0 but logs "127.0.0.1:0": the port is read from /proc
	start_server "$T/log" tcpsvd -v 127.0.0.1 0 "${HANDLER_CMD[@]}" -l "$T/rec"
	port=$(listen_port "${SERVER_PIDS[-1]}")
	converse_tcp "$port" 'hi\nthere\n'
	exchange_recorded "$T/rec" "127.0.0.1:$CPORT"
	# tcpsvd -v logs on stdout
	hpid=$(record_pid "$T/rec")
	wait_grep "$T/log" "^tcpsvd: info: end $hpid exit 0\$"
	grep -qx "tcpsvd: info: start $hpid :127.0.0.1 ::127.0.0.1:$CPORT" "$T/log"
	file_is "$T/log.err" ''
}

@test "under systemd-socket-activate --inetd -a a client gets the whole exchange and is recorded by its address" {
	need systemd-socket-activate python3
	activate sa --inetd -a "${HANDLER_CMD[@]}" -l "$T/rec"
	converse_tcp "$PORT" 'hi\nthere\n'
	exchange_recorded "$T/rec" "127.0.0.1:$CPORT"
	wait_grep "$T/sa.err" "^Child $(record_pid "$T/rec") died with code 0\$"
}

# ---- the launcher socket-activated ----

@test "socket-activated, the launcher serves the port it was given on fd 3 and logs it" {
	need systemd-socket-activate python3
	local c1 c2
	activate sa "$L" -v 127.0.0.1 0 "$H" -l "$T/rec"
	converse_tcp "$PORT" 'hi\nthere\n'
	exchange_recorded "$T/rec" "127.0.0.1:$CPORT"
	c1=$CPORT
	mv "$T/rec" "$T/rec1"
	converse_tcp "$PORT" 'hi\nthere\n'
	exchange_recorded "$T/rec" "127.0.0.1:$CPORT"
	c2=$CPORT
	# the activated port, not the 0 on its command line
	grep -qx "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once" "$T/sa.err"
	grep -qx "msgd-launcher: pid $(record_pid "$T/rec1") from 127.0.0.1 port $c1" "$T/sa.err"
	grep -qx "msgd-launcher: pid $(record_pid "$T/rec") from 127.0.0.1 port $c2" "$T/sa.err"
	wait_grep "$T/sa.err" "^msgd-launcher: end $(record_pid "$T/rec") status 0\$"
	# it binds nothing of its own: the one listener is the inherited one
	[ "$(listen_port "$PID")" = "$PORT" ]
}

@test "socket-activated, the launcher hides LISTEN_PID and LISTEN_FDS from its children and gives them TCPLOCALPORT" {
	need systemd-socket-activate python3
	activate sa "$L" 127.0.0.1 0 env
	run timeout -k 5 20 "${CLIENT[@]}" 127.0.0.1 "$PORT" port eof
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}" | grep -qx "TCPLOCALPORT=$PORT"
	printf '%s\n' "${lines[@]}" | grep -qx "TCPREMOTEPORT=${lines[0]}"
	printf '%s\n' "${lines[@]}" | grep -qx 'PROTO=TCP'
	[ "$(printf '%s\n' "${lines[@]}" | grep -cE '^LISTEN_(PID|FDS|FDNAMES)=')" -eq 0 ]
}

@test "socket-activated with -c 1, a second client waits in the backlog until the first is done" {
	need systemd-socket-activate python3
	activate sa "$L" -c 1 127.0.0.1 0 "$H" -l "$T/rec"
	start_server "$T/a" "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'a\n' line line \
		wait:"$T/go" shut eof
	wait_grep "$T/a" '^ok 1$'
	start_server "$T/b" "${CLIENT[@]}" 127.0.0.1 "$PORT" quiet:1 send:'b\n' \
		shut eof
	wait_grep "$T/b" '^quiet$'
	touch "$T/go"
	wait_grep "$T/b" '^bye 1$'
	file_is "$T/a" 'hello\nok 1\nbye 1\n'
	file_is "$T/b" 'quiet\nhello\nok 1\nbye 1\n'
}

# ---- the nc family as clients ----

@test "nc.openbsd -N, nc.traditional -q 1, ncat, socat and busybox nc each get hello, ok 1, bye 1 and exit 0" {
	local n
	launch l 127.0.0.1 0 "$H" -l "$T/rec"
	n=0
	if command -v nc.openbsd >/dev/null; then
		nc_exchange nc.openbsd -N 127.0.0.1 "$PORT"
		n=$((n + 1))
	fi
	# -q 1: half-close on stdin EOF (Debian's patch), quit 1 s after
	if command -v nc.traditional >/dev/null; then
		nc_exchange nc.traditional -q 1 127.0.0.1 "$PORT"
		n=$((n + 1))
	fi
	if command -v ncat >/dev/null; then
		nc_exchange ncat 127.0.0.1 "$PORT"
		n=$((n + 1))
	fi
	if command -v socat >/dev/null; then
		nc_exchange socat - "TCP:127.0.0.1:$PORT"
		n=$((n + 1))
	fi
	# busybox nc half-closes on stdin EOF by itself: no flag needed
	if command -v busybox >/dev/null; then
		nc_exchange busybox nc 127.0.0.1 "$PORT"
		n=$((n + 1))
	fi
	[ "$n" -gt 0 ] || skip "no nc variant installed"
	[ "$(record_count "$T/rec" ' connect$')" -eq "$n" ]
	[ "$(record_count "$T/rec" ' disconnect: 1 message, 2 bytes, eof$')" -eq "$n" ]
}

# ---- the shipped files, by their own tools ----

@test "systemd-analyze verify finds nothing to say about the six units" {
	need systemd-analyze
	local f
	for f in "$ROOT"/systemd/msgd.service "$ROOT"/systemd/msgd.socket \
		"$ROOT"/systemd/msgd-inetd.socket "$ROOT"/systemd/msgd-inetd@.service \
		"$ROOT"/systemd/msgd-local-inetd.socket "$ROOT"/systemd/msgd-local-inetd@.service; do
		sed "s|@SBINDIR@|$MSGD_BIN|g" "$f" >"$T/${f##*/}"
	done
	# an unknown key is only a warning: the output must be empty too
	cd "$T"
	run timeout -k 5 30 systemd-analyze verify --man=no "$T/msgd.service" \
		"$T/msgd.socket" "$T/msgd-inetd.socket" "$T/msgd-inetd@.service" \
		"$T/msgd-local-inetd.socket" "$T/msgd-local-inetd@.service"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "shellcheck has nothing to say about any script, test file or helper" {
	need shellcheck
	cd "$ROOT"
	run shellcheck -x .ci/run test/run test/fuzz/run test/nspawn-boot bench/*.sh
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run shellcheck -s bash test/*.bats test/helpers.bash
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "every timeout in the tests escalates to SIGKILL, so a process that blocks SIGTERM cannot hang the suite" {
	cd "$ROOT"
	# a timeout whose first word is its duration, not -k; this pattern has a +
	run grep -nE '(^|[^-[:alnum:]_])timeout +[0-9$"]' test/*.bats test/run \
		test/helpers.bash .ci/run
	echo "$output" >&2
	[ "$status" -eq 1 ]
	[ -z "$output" ]
}

@test "mandoc -T lint -W warning has nothing to say about any man page" {
	need mandoc
	local m n=0
	for m in "$ROOT"/man/*.[18]; do
		[ -e "$m" ] || continue
		run mandoc -T lint -W warning "$m"
		echo "$m -> $status: $output" >&2
		[ "$status" -eq 0 ]
		[ -z "$output" ]
		n=$((n + 1))
	done
	[ "$n" -ge 2 ]
}

@test "each man page's SYNOPSIS is what its program prints as usage" {
	need mandoc
	local m prog n=0
	for m in "$ROOT"/man/*.[18]; do
		[ -e "$m" ] || continue
		prog=${m##*/}
		prog=${prog%.*}
		[ -x "$MSGD_BIN/$prog" ] || continue
		echo "$prog: man:   $(synopsis "$m")" >&2
		echo "$prog: usage: $(usage_line "$MSGD_BIN/$prog")" >&2
		[ -n "$(usage_line "$MSGD_BIN/$prog")" ]
		[ "$(synopsis "$m")" = "$(usage_line "$MSGD_BIN/$prog")" ]
		n=$((n + 1))
	done
	[ "$n" -ge 2 ]
}

@test "msgd-launcher(8) shows the log line of a PROGRAM that cannot run word for word" {
	need mandoc
	# "No" is an mdoc macro: unescaped, it is swallowed from the line
	mandoc -T ascii "$ROOT/man/msgd-launcher.8" | sed 's/.\x08//g' |
		grep -qE '^ +cannot run PROGRAM: No such file or directory$'
}

# ---- the xinetd file a user copies ----

@test "the xinetd file sets cps explicitly, the port, type, user, server and limits a user relies on, and comes disabled" {
	[ "$(xinetd_attr cps)" = '500 2' ]
	[ "$(xinetd_attr type)" = UNLISTED ]
	[ "$(xinetd_attr port)" = 9100 ]
	[ "$(xinetd_attr socket_type)" = stream ]
	[ "$(xinetd_attr protocol)" = tcp ]
	[ "$(xinetd_attr wait)" = no ]
	[ "$(xinetd_attr user)" = nobody ]
	[ "$(xinetd_attr server)" = @SBINDIR@/msgd-handler ]
	[ "$(xinetd_attr server_args)" = '-s -t 300' ]
	[ "$(xinetd_attr instances)" = 40 ]
	[ "$(xinetd_attr per_source)" = 10 ]
	# shipped disabled, as distributions ship services: enabling it is
	# the administrator's step, and the file says how
	[ "$(xinetd_attr disable)" = yes ]
	grep -qE '^#.*"disable = no"' "$XINETD_FILE"
	# no USERID in the logging: ident look-ups stall every connection
	[ "$(grep -cE '^[^#]*USERID' "$XINETD_FILE")" -eq 0 ]
}
