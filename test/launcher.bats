#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# msgd-launcher: what a client, the child program and the operator see.
# Every launcher listens on port 0 with -1 and is stopped by PID; clients
# are test/client.py, whose steps are listed at its top.

load helpers

L=$MSGD_BIN/msgd-launcher
H=$MSGD_BIN/msgd-handler

# nearly every test here runs test/client.py
setup() {
	common_setup
	need python3
}

# children PID: the PIDs of PID's children, zombies included, one a line
# (run in $(...), where a skip cannot end the test: its caller needs ps)
children() {
	ps --ppid "$1" -o pid= | tr -d ' '
}

# wait_no_children PID: wait (at most 10 s) until PID has no child left
wait_no_children() {
	local i
	need ps
	for ((i = 0; i < 500; i++)); do
		[ -z "$(children "$1")" ] && return 0
		sleep 0.02
	done
	echo "children of $1 after 10 s:" >&2
	ps --ppid "$1" -o pid=,stat=,args= >&2
	return 1
}

# the UCSPI part of an environment listing on stdin, sorted
ucspi() {
	grep -E '^(PROTO|TCP[A-Z]*)=' | LC_ALL=C sort
}

# ucspi_env_is LOCALIP REMOTEIP: the UCSPI lines of an `env` child, read by
# client.py whose first line is its own port, are exactly these
ucspi_env_is() {
	[ "$(printf '%s\n' "${lines[@]}" | ucspi)" = "PROTO=TCP
TCPLOCALIP=$1
TCPLOCALPORT=$PORT
TCPREMOTEIP=$2
TCPREMOTEPORT=${lines[0]}" ]
}

# start_fails MESSAGE ARG...: the launcher with ARG... exits 1 with only
# "msgd-launcher: MESSAGE" and nothing else
start_fails() {
	local msg=$1
	shift
	run timeout -k 5 10 "$L" "$@" 3>&-
	echo "args: $* -> status $status: $output" >&2
	[ "$status" -eq 1 ]
	[ "$output" = "msgd-launcher: $msg" ]
}

# ---- serving ----

@test "a client of the handler behind the launcher gets hello, ok 1, bye 1 and is recorded by its own address" {
	launch l 127.0.0.1 0 "$H" -l "$T/rec"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" port send:'hi\n' shut eof
	[ "$status" -eq 0 ]
	cport=${lines[0]}
	[[ $cport =~ ^[0-9]+$ ]]
	[ "$output" = "$cport"$'\nhello\nok 1\nbye 1' ]
	mapfile -t rec <"$T/rec"
	[ "${#rec[@]}" -eq 3 ]
	[[ ${rec[0]} =~ ^${TS_RE}127\.0\.0\.1:$cport\ connect$ ]]
	[[ ${rec[1]} =~ ^${TS_RE}127\.0\.0\.1:$cport\ #1\ receive\ message:\ hi$ ]]
	[[ ${rec[2]} =~ ^${TS_RE}127\.0\.0\.1:$cport\ disconnect:\ 1\ message,\ 2\ bytes,\ eof$ ]]
}

@test "cat behind the launcher is an echo service: the same bytes come back after a half-close" {
	head -c 65536 /dev/urandom >"$T/want"
	launch l 127.0.0.1 0 cat
	"${CLIENT[@]}" 127.0.0.1 "$PORT" file:"$T/want" shut eof >"$T/got"
	cmp "$T/want" "$T/got"
}

@test "a shell script the launcher has never seen gets the addresses in its environment" {
	# shellcheck disable=SC2016 # the script expands them
	printf '#!/bin/sh\necho "remote $TCPREMOTEIP:$TCPREMOTEPORT local $TCPLOCALIP:$TCPLOCALPORT"\n' >"$T/addr.sh"
	chmod +x "$T/addr.sh"
	launch l 127.0.0.1 0 "$T/addr.sh"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" port eof
	[ "$status" -eq 0 ]
	[ "$output" = "${lines[0]}"$'\n'"remote 127.0.0.1:${lines[0]} local 127.0.0.1:$PORT" ]
}

# ---- the child's environment, descriptors and signals ----

@test "the child sees PROTO=TCP and both addresses, and no UCSPI variable of the launcher's own" {
	PRE=(env PROTO=UDP TCPREMOTEHOST=evil.example TCPREMOTEINFO=evil
		TCPLOCALHOST=evil.example TCPREMOTEIP=6.6.6.6 MSGD_KEPT=yes)
	launch l 127.0.0.1 0 env
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" port eof
	[ "$status" -eq 0 ]
	cport=${lines[0]}
	[ "$(printf '%s\n' "${lines[@]}" | ucspi)" = "PROTO=TCP
TCPLOCALIP=127.0.0.1
TCPLOCALPORT=$PORT
TCPREMOTEIP=127.0.0.1
TCPREMOTEPORT=$cport" ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^MSGD_KEPT=yes$')" -eq 1 ]
}

# what a child's fd 0 has set, as "NAME=VALUE" lines, and its MSGDTCPOPTS
SOCKOPTS_PY='import os, socket as s
c = s.socket(fileno=0)
for name, level, opt in (("nodelay", s.IPPROTO_TCP, s.TCP_NODELAY),
        ("keepalive", s.SOL_SOCKET, s.SO_KEEPALIVE),
        ("keepidle", s.IPPROTO_TCP, s.TCP_KEEPIDLE),
        ("keepintvl", s.IPPROTO_TCP, s.TCP_KEEPINTVL),
        ("keepcnt", s.IPPROTO_TCP, s.TCP_KEEPCNT)):
    print("%s=%d" % (name, c.getsockopt(level, opt)), flush=True)
print("MSGDTCPOPTS=%s" % os.environ.get("MSGDTCPOPTS", "(none)"), flush=True)
c.detach()'

@test "a TCP child's connection has TCP_NODELAY and keepalive (60 s, 10 s, 6) from the listener, and MSGDTCPOPTS says so, whatever the launcher inherited" {
	PRE=(env 'MSGDTCPOPTS=nodelay,keepalive,60,10,6' PROXYLOCAL=1)
	launch l 127.0.0.1 0 "${CLIENT[0]}" -c "$SOCKOPTS_PY"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "nodelay=1
keepalive=1
keepidle=60
keepintvl=10
keepcnt=6
MSGDTCPOPTS=nodelay,keepalive,60,10,6" ]
	# an inherited one is dropped, ours given once
	PRE=(env MSGDTCPOPTS=evil)
	launch l2 127.0.0.1 0 env
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep '^MSGDTCPOPTS=')" = \
		"MSGDTCPOPTS=nodelay,keepalive,60,10,6" ]
}

@test "msgd-handler under msgd-launcher sets no socket option: its connection has them from the listener" {
	need strace
	# getsockname (who the peer is) shows that the trace saw the handler
	launch l 127.0.0.1 0 strace -f -qq -o "$T/trace" \
		-e trace=setsockopt,getsockname "$H" -l "$T/rec"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'hi\n' shut eof
	[ "$status" -eq 0 ]
	[ "$output" = "hello
ok 1
bye 1" ]
	wait_grep "$T/rec" ' disconnect: 1 message, 2 bytes, eof$'
	grep -q 'getsockname(0, ' "$T/trace"
	[ "$(grep -c 'setsockopt(' "$T/trace")" -eq 0 ]
}

@test "on a wildcard listener TCPLOCALIP is the address each client connected to" {
	launch l 0 0 env
	run "${CLIENT[@]}" -s 127.0.0.3 127.0.0.2 "$PORT" port eof
	[ "$status" -eq 0 ]
	ucspi_env_is 127.0.0.2 127.0.0.3
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" port eof
	[ "$status" -eq 0 ]
	ucspi_env_is 127.0.0.1 127.0.0.1
}

@test "an IPv6 client of ::1 is TCPREMOTEIP=::1 and is recorded as [::1]:PORT" {
	has_ipv6 || skip "no IPv6 loopback"
	launch l ::1 0 env
	run "${CLIENT[@]}" ::1 "$PORT" port eof
	[ "$status" -eq 0 ]
	ucspi_env_is ::1 ::1
	launch h ::1 0 "$H" -l "$T/rec"
	run "${CLIENT[@]}" ::1 "$PORT" port send:'six\n' shut eof
	[ "$status" -eq 0 ]
	[ "$output" = "${lines[0]}"$'\nhello\nok 1\nbye 1' ]
	[[ $(head -n 1 "$T/rec") =~ ^${TS_RE}\[::1\]:${lines[0]}\ connect$ ]]
}

@test "a dual-stack :: listener shows an IPv4 client as 127.0.0.1, not ::ffff:127.0.0.1" {
	has_ipv6 || skip "no IPv6 loopback"
	launch l :: 0 env
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" port eof
	[ "$status" -eq 0 ]
	ucspi_env_is 127.0.0.1 127.0.0.1
	run "${CLIENT[@]}" ::1 "$PORT" port eof
	[ "$status" -eq 0 ]
	ucspi_env_is ::1 ::1
}

@test "-6 on :: serves IPv6 only, so a -4 launcher on 0 can take the same port" {
	has_ipv6 || skip "no IPv6 loopback"
	launch six -6 :: 0 env
	local six=$PORT
	run "${CLIENT[@]}" 127.0.0.1 "$six" port eof
	[ "$status" -eq 1 ]
	[ "$output" = "connect: Connection refused" ]
	launch four -4 0 "$six" env
	[ "$PORT" = "$six" ]
	run "${CLIENT[@]}" 127.0.0.1 "$six" port eof
	[ "$status" -eq 0 ]
	ucspi_env_is 127.0.0.1 127.0.0.1
	run "${CLIENT[@]}" ::1 "$six" port eof
	[ "$status" -eq 0 ]
	ucspi_env_is ::1 ::1
}

# The shell lists its own descriptors with ls, a separate process, so the
# directory ls opens is not in the list; sh -c runs no script file either.
FDS='ls /proc/$$/fd; readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2'

@test "the child has the socket on 0 and 1, the launcher's stderr on 2, and no other descriptor" {
	echo x >"$T/in"
	launch l 127.0.0.1 0 /bin/sh -c "$FDS" 4>"$T/out" 7<"$T/in" 9>>"$T/log"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 6 ]
	[ "${lines[0]} ${lines[1]} ${lines[2]}" = "0 1 2" ]
	[[ ${lines[3]} =~ ^socket:\[[0-9]+\]$ ]]
	[ "${lines[4]}" = "${lines[3]}" ]
	[ "${lines[5]}" = "$T/l.err" ]
}

@test "a descriptor above 1024 does not reach the child when the descriptor limit is high" {
	# many systems (Docker's default among them) run with 1048576
	ulimit -n 100000 2>/dev/null || skip "cannot raise the descriptor limit"
	# shellcheck disable=SC2016 # that bash expands them
	PRE=(bash -c 'exec 1500>"$0" && exec "$@"' "$T/extra")
	launch l 127.0.0.1 0 /bin/sh -c "$FDS"
	[ -e "/proc/$PID/fd/1500" ]
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 6 ]
	[ "${lines[0]} ${lines[1]} ${lines[2]}" = "0 1 2" ]
}

@test "the child starts with no signal ignored or blocked, whatever the launcher inherited" {
	# shellcheck disable=SC2016 # python code
	PRE=("${CLIENT[0]}" -c 'import os, signal as s, sys
for n in (s.SIGINT, s.SIGHUP, s.SIGQUIT, s.SIGUSR1, s.SIGPIPE, s.SIGCHLD, s.SIGTSTP):
    s.signal(n, s.SIG_IGN)
s.pthread_sigmask(s.SIG_BLOCK, {s.SIGUSR2, s.SIGALRM, s.SIGWINCH})
os.execv(sys.argv[1], sys.argv[1:])')
	launch l 127.0.0.1 0 grep -E '^(SigBlk|SigIgn):' /proc/self/status
	grep -E '^SigIgn:\s+0*[1-9a-f]' "/proc/$PID/status" # the wrapper worked
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	# glibc's posix_spawn leaves its own SIGCANCEL and SIGSETXID (32, 33)
	# ignored in every child it starts; nothing else may be
	[[ $output == $'SigBlk:\t0000000000000000\nSigIgn:\t'@(0000000000000000|0000000180000000) ]]
}

# ---- limits ----

@test "with -c 1 a second client waits in the backlog and is served when the first leaves" {
	launch l -c 1 127.0.0.1 0 "$H" -l "$T/rec"
	client_bg a 127.0.0.1 "$PORT" line wait:"$T/go" send:'from a\n' shut eof
	a=$CPID
	wait_grep "$T/a" '^hello$'
	t0=$(cpu_ticks "$PID")
	client_bg b 127.0.0.1 "$PORT" quiet:1 send:'from b\n' shut eof
	b=$CPID
	wait_grep "$T/b" '^quiet$'
	# waiting at the limit is not a busy loop
	t1=$(cpu_ticks "$PID")
	[ $((t1 - t0)) -lt $(($(getconf CLK_TCK) / 4)) ]
	touch "$T/go"
	wait_exit "$a"
	[ "$EXIT" -eq 0 ]
	wait_exit "$b"
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	[ "$(cat "$T/b")" = $'quiet\nhello\nok 1\nbye 1' ]
	[ "$(grep -c 'receive message: from [ab]$' "$T/rec")" -eq 2 ]
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/l.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 1 at once
msgd-launcher: stopping: 0 running, grace 10 s" ]
}

@test "with -C 2 a third connection from one address is told too many connections while another address is served" {
	launch l -v -C 2 127.0.0.1 0 "$H" -l "$T/rec"
	client_bg a1 -s 127.0.0.2 127.0.0.1 "$PORT" line wait:"$T/go" send:'a1\n' shut eof
	a1=$CPID
	client_bg a2 -s 127.0.0.2 127.0.0.1 "$PORT" line wait:"$T/go" send:'a2\n' shut eof
	a2=$CPID
	wait_grep "$T/a1" '^hello$'
	wait_grep "$T/a2" '^hello$'
	"${CLIENT[@]}" -s 127.0.0.2 127.0.0.1 "$PORT" eof >"$T/a3"
	printf 'error too many connections\n' | cmp - "$T/a3"
	"${CLIENT[@]}" -s 127.0.0.3 127.0.0.1 "$PORT" send:'b\n' shut eof >"$T/b"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/b"
	touch "$T/go"
	wait_exit "$a1"
	wait_exit "$a2"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/a1"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/a2"
	[ "$(grep -c '^msgd-launcher: deny' "$T/l.err")" -eq 1 ]
	grep -qx 'msgd-launcher: deny 127.0.0.2 per-source limit' "$T/l.err"
	# once they are gone, 127.0.0.2 is welcome again
	wait_grep "$T/l.err" '^msgd-launcher: status: 0/40$'
	"${CLIENT[@]}" -s 127.0.0.2 127.0.0.1 "$PORT" send:'a4\n' shut eof >"$T/a4"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/a4"
	[ "$(grep -c '^msgd-launcher: deny' "$T/l.err")" -eq 1 ]
}

@test "500 connections leave no zombie: every child is reaped and its end logged" {
	launch l -v 127.0.0.1 0 true
	run "${CLIENT[@]}" loop 127.0.0.1 "$PORT" 500
	[ "$status" -eq 0 ]
	[ "$output" = "500 connections, 1 replies
500 b''" ]
	wait_no_children "$PID"
	wait_grep "$T/l.err" '^msgd-launcher: status: 0/40$'
	[ "$(grep -cE '^msgd-launcher: end [0-9]+ status 0$' "$T/l.err")" -eq 500 ]
	[ "$(grep -cE '^msgd-launcher: pid [0-9]+ from 127\.0\.0\.1 port [0-9]+$' "$T/l.err")" -eq 500 ]
	[[ $(proc_state "$PID") == [RS] ]]
}

@test "8 clients at once on 4 slots, 800 connections to a program that exits at once: every slot comes back, every end is logged once" {
	# children end before, or just as, their spawner hands them back: each
	# is matched to its slot whichever comes first
	launch l -v -c 4 127.0.0.1 0 true
	local pids=() i
	for ((i = 0; i < 8; i++)); do
		"${CLIENT[@]}" loop 127.0.0.1 "$PORT" 100 >"$T/loop$i" 2>&1 3>&- &
		pids+=("$!")
	done
	for ((i = 0; i < 8; i++)); do
		wait "${pids[i]}"
		[ "$(cat "$T/loop$i")" = "100 connections, 1 replies
100 b''" ]
	done
	wait_no_children "$PID"
	wait_count "$T/l.err" '^msgd-launcher: end ' 800
	[ "$(grep -cE '^msgd-launcher: end [0-9]+ status 0$' "$T/l.err")" -eq 800 ]
	# each child made is ended once: the same pids, each once
	diff <(sed -nE 's/^msgd-launcher: pid ([0-9]+) from .*/\1/p' "$T/l.err" | sort -n) \
		<(sed -nE 's/^msgd-launcher: end ([0-9]+) status 0$/\1/p' "$T/l.err" | sort -n)
	[ "$(tail -n 1 "$T/l.err")" = 'msgd-launcher: status: 0/4' ]
}

# burst_then_served: with the launcher already started ($PORT), 400
# clients connect at once, hold on for 3 s and leave; then one more must
# be served whole within 10 s.  The clients' own descriptor limit is the
# test's, not the launcher's.
burst_then_served() {
	local out
	out=$(timeout -k 5 60 "${CLIENT[0]}" -c '
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(400):
    s = socket.socket()
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    held.append(s)
time.sleep(3)
for s in held:
    s.close()
start = time.monotonic()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"after\n")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    try:
        b = s.recv(4096)
    except socket.timeout:
        got += b"timeout\n"
        break
    if not b:
        break
    got += b
sys.stdout.write(got.decode(errors="replace"))
print("%d s" % (time.monotonic() - start < 10))
' "$PORT") || { echo "status $?: $out" >&2; return 1; }
	echo "$out" >&2
	[ "$out" = $'hello\nok 1\nbye 1\n1 s' ]
	[[ $(proc_state "$PID") == [RS] ]]
}

@test "400 clients at once under ulimit -n 32 with -c 1000 leave the launcher serving the next client" {
	# shellcheck disable=SC2016 # expanded by that bash
	PRE=(bash -c 'ulimit -n 32 && exec "$@"' ulimit)
	launch l -c 1000 -b 1024 127.0.0.1 0 "$H" -l "$T/rec"
	burst_then_served
}

@test "400 clients at once under ulimit -n 64 with -c 1000 leave the launcher serving the next client" {
	# shellcheck disable=SC2016 # expanded by that bash
	PRE=(bash -c 'ulimit -n 64 && exec "$@"' ulimit)
	launch l -c 1000 -b 1024 127.0.0.1 0 "$H" -l "$T/rec"
	burst_then_served
}

@test "a soft descriptor limit of 64 under a hard one of 4096 is raised at the start, and 400 clients at once leave the launcher serving" {
	need prlimit
	PRE=(prlimit --nofile=64:4096)
	launch l -c 1000 -b 1024 127.0.0.1 0 "$H" -l "$T/rec"
	grep -E '^Max open files +4096 +4096 ' "/proc/$PID/limits"
	burst_then_served
}

@test "with -p, a descriptor limit too low for -c MAX relays waiting for their header is said at the start, and the launcher serves" {
	# shellcheck disable=SC2016 # expanded by that bash
	PRE=(bash -c 'ulimit -n 32 && exec "$@"' ulimit)
	launch l -c 100 -p 10.0.0.0/8 127.0.0.1 0 "$H" -l "$T/rec"
	cat "$T/l.err" >&2
	grep -qxE 'msgd-launcher: the descriptor limit \(32\) leaves room for [0-9]+ relays waiting for a PROXY header, not -c 100' "$T/l.err"
	"${CLIENT[@]}" 127.0.0.1 "$PORT" send:'x\n' shut eof >"$T/c"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/c"
	# room enough: nothing said
	launch m -c 10 -p 10.0.0.0/8 127.0.0.1 0 "$H" -l "$T/rec"
	[ "$(cat "$T/m.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 10 at once" ]
}

@test "when out of descriptors the launcher logs it once, backs off without spinning, and recovers" {
	need prlimit
	launch l 127.0.0.1 0 "$H" -l "$T/rec"
	"${CLIENT[@]}" 127.0.0.1 "$PORT" send:'before\n' shut eof >"$T/c1"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/c1"
	# the soft limit at the lowest free descriptor: accept() gets EMFILE
	free=0
	while [ -e "/proc/$PID/fd/$free" ]; do free=$((free + 1)); done
	prlimit --pid "$PID" --nofile="$free:"
	client_bg flood flood 127.0.0.1 "$PORT" 50 "$T/release"
	flood=$CPID
	wait_grep "$T/flood" '^50 open$'
	wait_grep "$T/l.err" '^msgd-launcher: cannot accept'
	t0=$(cpu_ticks "$PID")
	sleep 2
	t1=$(cpu_ticks "$PID")
	hz=$(getconf CLK_TCK)
	echo "cpu: $((t1 - t0)) ticks of $hz a second in 2 s" >&2
	[ $((t1 - t0)) -lt $((hz / 4)) ]
	[ "$(grep -c 'cannot accept' "$T/l.err")" -eq 1 ]
	cat "$T/l.err" >&2
	# EMFILE as glibc and musl say it
	grep -qxE 'msgd-launcher: cannot accept \(will retry\): (Too many open files|No file descriptors available)' "$T/l.err"
	[[ $(proc_state "$PID") == [RS] ]]
	# the flood goes away and descriptors are back: served again
	touch "$T/release"
	wait_exit "$flood"
	prlimit --pid "$PID" --nofile=1024:
	"${CLIENT[@]}" 127.0.0.1 "$PORT" send:'after\n' shut eof >"$T/c2"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/c2"
	[ "$(grep -c '^msgd-launcher: accepting again$' "$T/l.err")" -eq 1 ]
}

# ---- programs that fail ----

@test "a PROGRAM that is missing, not in PATH or not executable stops the start with status 1 and the reason" {
	start_fails 'cannot run /nonexistent/prog: No such file or directory' \
		127.0.0.1 0 /nonexistent/prog
	start_fails 'cannot run no-such-program-xyz: No such file or directory' \
		127.0.0.1 0 no-such-program-xyz
	printf '#!/bin/sh\necho hi\n' >"$T/noexec"
	chmod 644 "$T/noexec"
	start_fails "cannot run $T/noexec: Permission denied" 127.0.0.1 0 "$T/noexec"
	mkdir "$T/dir"
	start_fails "cannot run $T/dir: Is a directory" 127.0.0.1 0 "$T/dir"
	# in PATH but not executable is not found, as execvp says it
	mkdir "$T/path"
	cp "$T/noexec" "$T/path/noexec-xyz"
	PATH="$T/path:$PATH" start_fails 'cannot run noexec-xyz: Permission denied' \
		127.0.0.1 0 noexec-xyz
	# and as a daemon: the caller gets the message and the status
	daemon -i "$T/pid" 127.0.0.1 0 /nonexistent/prog
	if [ "$DSTATUS" -eq 0 ]; then daemon_pid "$T/pid"; fi
	[ "$DSTATUS" -eq 1 ]
	[ "$(cat "$T/d.err")" = 'msgd-launcher: cannot run /nonexistent/prog: No such file or directory' ]
	[ ! -e "$T/pid" ]
}

@test "a PROGRAM only root may run is refused at the start with -u, as the user who would run it" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for -u"
	mkdir -m 700 "$T/private"
	printf '#!/bin/sh\necho hi\n' >"$T/private/prog"
	chmod 755 "$T/private/prog"
	start_fails "cannot run $T/private/prog: Permission denied" \
		-u nobody 127.0.0.1 0 "$T/private/prog"
}

@test "a PROGRAM that goes away after the start is logged by name for each client, who gets EOF, and the launcher goes on" {
	printf '#!/bin/sh\necho here\n' >"$T/prog"
	chmod 755 "$T/prog"
	launch l 127.0.0.1 0 "$T/prog"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = here ]
	rm "$T/prog"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[[ $(proc_state "$PID") == [RS] ]]
	# posix_spawn says which exec failed; the launcher logs it, and the
	# child that could not exec is reaped without an end line
	wait_no_children "$PID"
	wait_count "$T/l.err" . 3
	sleep 0.2
	[ "$(grep -c . "$T/l.err")" -eq 3 ]
	[ "$(head -n 1 "$T/l.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once" ]
	[ "$(grep -cx "msgd-launcher: cannot run $T/prog: No such file or directory" "$T/l.err")" -eq 2 ]
	# back, but not executable: said with that reason
	printf '#!/bin/sh\necho here\n' >"$T/prog"
	chmod 644 "$T/prog"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	wait_grep "$T/l.err" "^msgd-launcher: cannot run $T/prog: Permission denied\$"
}

@test "a PROGRAM found in PATH at the start keeps being run from there" {
	mkdir "$T/path"
	# shellcheck disable=SC2016 # the script expands it
	printf '#!/bin/sh\necho "from path: $0"\n' >"$T/path/msgd-test-prog"
	chmod 755 "$T/path/msgd-test-prog"
	PRE=(env PATH="$T/path:$PATH")
	launch l 127.0.0.1 0 msgd-test-prog
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "from path: $T/path/msgd-test-prog" ]
}

@test "a PROGRAM replaced after the start runs in its new version without restarting the launcher" {
	printf '#!/bin/sh\necho old\n' >"$T/prog"
	chmod +x "$T/prog"
	launch l 127.0.0.1 0 "$T/prog"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = old ]
	printf '#!/bin/sh\necho new\n' >"$T/prog.new"
	chmod +x "$T/prog.new"
	mv "$T/prog.new" "$T/prog"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = new ]
}

# ---- logging ----

@test "-v logs each child's pid and source, the count, and every end" {
	# shellcheck disable=SC2016 # $$ is the child's
	launch l -v 127.0.0.1 0 /bin/sh -c 'echo $$'
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" port eof
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	cport=${lines[0]} child=${lines[1]}
	wait_grep "$T/l.err" '^msgd-launcher: status: 0/40$'
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/l.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once
msgd-launcher: pid $child from 127.0.0.1 port $cport
msgd-launcher: status: 1/40
msgd-launcher: end $child status 0
msgd-launcher: status: 0/40
msgd-launcher: stopping: 0 running, grace 10 s" ]
}

@test "-q logs nothing for a normal connection, from start to stop" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'quiet\n' shut eof
	[ "$status" -eq 0 ]
	[ "$output" = $'hello\nok 1\nbye 1' ]
	wait_no_children "$PID"
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	[ ! -s "$T/l.err" ]
}

@test "by default a non-zero status and a killing signal are logged, a zero status is not" {
	# shellcheck disable=SC2016 # the child's shell expands these
	launch l 127.0.0.1 0 /bin/sh -c 'read -r c; echo $$; [ "$c" != k ] || kill -9 $$; exit "$c"'
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'0\n' eof
	[ "$status" -eq 0 ]
	zero=$output
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'3\n' eof
	[ "$status" -eq 0 ]
	three=$output
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'k\n' eof
	[ "$status" -eq 0 ]
	killed=$output
	wait_grep "$T/l.err" "^msgd-launcher: end $killed signal 9\$"
	wait_no_children "$PID"
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	[[ $zero =~ ^[0-9]+$ ]]
	[ "$(cat "$T/l.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once
msgd-launcher: end $three status 3
msgd-launcher: end $killed signal 9
msgd-launcher: stopping: 0 running, grace 10 s" ]
}

# ---- stopping ----

@test "SIGTERM refuses new connections at once, lets a running one finish, and exits 0" {
	launch l 127.0.0.1 0 "$H" -l "$T/rec"
	client_bg a 127.0.0.1 "$PORT" line wait:"$T/go" send:'late\n' shut eof
	a=$CPID
	wait_grep "$T/a" '^hello$'
	kill -TERM "$PID"
	wait_grep "$T/l.err" '^msgd-launcher: stopping: 1 running, grace 10 s$' 2
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 1 ]
	[ "$output" = "connect: Connection refused" ]
	[[ $(proc_state "$PID") == [RS] ]]
	touch "$T/go"
	wait_exit "$a"
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	wait_exit "$PID" 5
	[ "$EXIT" -eq 0 ]
	[ "$(grep -c '#1 receive message: late$' "$T/rec")" -eq 1 ]
	[ "$(cat "$T/l.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once
msgd-launcher: stopping: 1 running, grace 10 s" ]
}

@test "a SIGTERM as soon as the port is printed still ends the launcher with status 0" {
	# the kill follows the -1 line at once, 20 times; -i widens the window
	run timeout -k 5 60 "${CLIENT[0]}" -c '
import os, signal, subprocess, sys
for n in range(20):
    p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    p.stdout.readline()
    os.kill(p.pid, signal.SIGTERM)
    if p.wait(timeout=10) != 0:
        print("run %d: status %d" % (n, p.returncode))
        sys.exit(1)
print("20 times 0")
' "$L" -1 -i "$T/pid" 127.0.0.1 0 true
	[ "$status" -eq 0 ]
	[ "$output" = "20 times 0" ]
}

@test "when no process can be made the client waits, is served once one can, and it is said once" {
	one_slot
	# U (see one_slot) may have 2 tasks, set by ulimit -u this time: the
	# launcher and this sleeper; when the sleeper ends, the launcher can
	# make a child
	start_server "$T/s" setpriv --reuid="$U" --regid="$U" --clear-groups sleep 60
	sleeper=${SERVER_PIDS[-1]}
	for ((i = 0; i < 100; i++)); do
		[ "$(stat -c %u "/proc/$sleeper")" = "$U" ] && break
		sleep 0.02
	done
	# shellcheck disable=SC2016 # expanded by that bash
	PRE=(bash -c 'ulimit -S -u 2 && exec "$@"' ulimit)
	launch l -u "$U" -g "$U" 127.0.0.1 0 "$H" -l -
	client_bg a 127.0.0.1 "$PORT" send:'hi\n' shut eof
	a=$CPID
	wait_grep "$T/l.err" '^msgd-launcher: cannot fork \(will retry\): Resource temporarily unavailable$'
	sleep 0.5
	[ ! -s "$T/a" ]
	kill "$sleeper"
	wait_exit "$a" 10
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	wait_grep "$T/l.err" '^msgd-launcher: accepting again$'
	[ "$(grep -c 'cannot fork' "$T/l.err")" -eq 1 ]
	wait_grep "$T/l.err" '#1 receive message: hi$'
}

# one_slot_taken SECS STEP...: a launcher as U (see one_slot) whose one
# child serves client a (its pid in A, held until $T/go exists); client b,
# with -w SECS and STEP..., is accepted, but its fork fails and is said;
# B is its pid
one_slot_taken() {
	launch l -u "$U" -g "$U" 127.0.0.1 0 "$H" -l -
	client_bg a -w 60 127.0.0.1 "$PORT" line wait:"$T/go" send:'a\n' shut eof
	A=$CPID
	wait_grep "$T/a" '^hello$'
	client_bg b -w "$1" 127.0.0.1 "$PORT" "${@:2}"
	B=$CPID
	wait_grep "$T/l.err" '^msgd-launcher: cannot fork \(will retry\): Resource temporarily unavailable$'
}

@test "a client whose fork failed is served when a child's end frees a process, though that end woke the launcher during its back-off" {
	one_slot
	one_slot_taken 8 line send:'b\n' shut eof
	[ ! -s "$T/b" ]
	# a's end (SIGCHLD) comes while the launcher waits to try b again
	touch "$T/go"
	wait_exit "$A"
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	wait_exit "$B" 15
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/b")" = $'hello\nok 1\nbye 1' ]
	wait_grep "$T/l.err" '^msgd-launcher: accepting again$'
	[ "$(grep -c 'cannot fork' "$T/l.err")" -eq 1 ]
	wait_grep "$T/l.err" '#1 receive message: b$'
}

@test "a client that leaves while it waits for a process is closed without a child, and the next one is served" {
	one_slot
	# b connects, closes its side without a byte, and is gone
	one_slot_taken 8 shut
	wait_exit "$B"
	touch "$T/go"
	wait_exit "$A"
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	wait_grep "$T/l.err" '^msgd-launcher: accepting again$'
	"${CLIENT[@]}" 127.0.0.1 "$PORT" send:'c\n' shut eof >"$T/c"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/c"
	wait_grep "$T/l.err" '#1 receive message: c$'
	# a's and c's children, none for b
	[ "$(grep -c ' connect$' "$T/l.err")" -eq 2 ]
	[ "$(grep -c 'cannot fork' "$T/l.err")" -eq 1 ]
}

@test "SIGTERM while a client waits for a process closes that client's connection at once and the launcher exits 0" {
	one_slot
	one_slot_taken 30 eof
	start=$(date +%s%N)
	kill -TERM "$PID"
	# b's EOF comes now, not after a's end or the 10 s grace
	wait_exit "$B" 20
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "b's EOF after $ms ms" >&2
	[ "$ms" -lt 3000 ]
	[ "$EXIT" -eq 0 ]
	[ ! -s "$T/b" ]
	[[ $(proc_state "$PID") == [RS] ]]
	touch "$T/go"
	wait_exit "$A"
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	wait_exit "$PID"
	[ "$EXIT" -eq 0 ]
	[ "$(grep -c '#1 receive message' "$T/l.err")" -eq 1 ]
}

@test "a Ctrl-C to the launcher's process group stops it but not the running handler, which finishes its client within the grace" {
	need setsid ps
	# as `make run` in a terminal: the launcher leads its process group,
	# and a Ctrl-C is SIGINT to that whole group
	PRE=(setsid)
	launch l 127.0.0.1 0 "$H" -l "$T/rec"
	[ "$(ps -o pgid= -p "$PID" | tr -d ' ')" = "$PID" ]
	client_bg a 127.0.0.1 "$PORT" line wait:"$T/go" send:'after ctrl-c\n' shut eof
	a=$CPID
	wait_grep "$T/a" '^hello$'
	child=$(children "$PID")
	[[ $child =~ ^[0-9]+$ ]]
	kill -INT -- "-$PID"
	wait_grep "$T/l.err" '^msgd-launcher: stopping: 1 running, grace 10 s$'
	[[ $(proc_state "$child") == [RS] ]]
	touch "$T/go"
	wait_exit "$a"
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	wait_exit "$PID"
	[ "$EXIT" -eq 0 ]
	grep -q '#1 receive message: after ctrl-c$' "$T/rec"
	grep -q ' disconnect: 1 message, 12 bytes, eof$' "$T/rec"
	[ "$(cat "$T/l.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once
msgd-launcher: stopping: 1 running, grace 10 s" ]
}

@test "SIGINT stops the launcher like SIGTERM" {
	# started as a background job, it inherited SIGINT ignored from bash
	launch l 127.0.0.1 0 true
	kill -INT "$PID"
	wait_exit "$PID" 5
	[ "$EXIT" -eq 0 ]
	[ "$(cat "$T/l.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once
msgd-launcher: stopping: 0 running, grace 10 s" ]
}

@test "after the -k grace a child that does not end gets SIGTERM and the launcher exits 0" {
	need ps
	launch l -k 1 127.0.0.1 0 sleep 30
	client_bg a 127.0.0.1 "$PORT" eof
	a=$CPID
	for ((i = 0; i < 250; i++)); do
		child=$(children "$PID")
		[ -z "$child" ] || break
		sleep 0.02
	done
	[[ $child =~ ^[0-9]+$ ]]
	start=$(date +%s%N)
	kill -TERM "$PID"
	wait_exit "$PID" 10
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "stopped after $ms ms" >&2
	[ "$EXIT" -eq 0 ]
	[ "$ms" -ge 900 ]
	[ "$ms" -lt 5000 ]
	wait_exit "$a"
	[ "$EXIT" -eq 0 ]
	[ ! -s "$T/a" ]
	[ "$(cat "$T/l.err")" = "msgd-launcher: listening on 127.0.0.1 port $PORT, at most 40 at once
msgd-launcher: stopping: 1 running, grace 1 s
msgd-launcher: end $child signal 15" ]
}

# ---- privileges ----

@test "-u nobody runs the launcher and its children as nobody with only nobody's group" {
	[ "$(id -u)" -eq 0 ] || skip "not root"
	uid=$(id -u nobody) gid=$(id -g nobody)
	launch l -u nobody 127.0.0.1 0 /bin/sh -c 'id -u; id -g; id -G'
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "$uid
$gid
$gid" ]
	grep -qxP "Uid:\t$uid\t$uid\t$uid\t$uid" "/proc/$PID/status"
	grep -qxP "Gid:\t$gid\t$gid\t$gid\t$gid" "/proc/$PID/status"
	grep -qxP 'Groups:\s*' "/proc/$PID/status"
}

@test "-u with the number of a user takes that user's group too" {
	[ "$(id -u)" -eq 0 ] || skip "not root"
	uid=$(id -u nobody) gid=$(id -g nobody)
	launch l -u "$uid" 127.0.0.1 0 /bin/sh -c 'id -u; id -G'
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "$uid
$gid" ]
}

@test "-g sets the group of the children, alone or with -u" {
	[ "$(id -u)" -eq 0 ] || skip "not root"
	uid=$(id -u nobody)
	gid=$(getent group daemon | cut -d: -f3)
	[ -n "$gid" ] || skip "no group daemon"
	launch l -u nobody -g daemon 127.0.0.1 0 /bin/sh -c 'id -u; id -G'
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "$uid
$gid" ]
	launch g -g "$gid" 127.0.0.1 0 /bin/sh -c 'id -u; id -G'
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$status" -eq 0 ]
	[ "$output" = "0
$gid" ]
}

# ---- bad usage and runtime failures ----

@test "a bad option value or a missing operand is a usage error naming it" {
	launcher_usage_error "-c: bad value '0' (a number from 1 to 65536)" -c 0 127.0.0.1 0 true
	launcher_usage_error "-c: bad value 'abc' (a number from 1 to 65536)" -c abc 127.0.0.1 0 true
	launcher_usage_error "-b: bad value '0' (a number from 1 to 65535)" -b 0 127.0.0.1 0 true
	launcher_usage_error "-k: bad value '-1' (a number from 0 to 86400)" -k -1 127.0.0.1 0 true
	launcher_usage_error "-C: bad value '-1' (a number from 0 to 65536)" -C -1 127.0.0.1 0 true
	launcher_usage_error "-c needs a value" -c
	launcher_usage_error "unknown option -Z" -Z 127.0.0.1 0 true
	launcher_usage_error "HOST PORT PROGRAM missing"
	launcher_usage_error "PORT PROGRAM missing" 127.0.0.1
	launcher_usage_error "PROGRAM missing" 127.0.0.1 0
	launcher_usage_error "-u: no such user 'no_such_user_xyz'" -u no_such_user_xyz 127.0.0.1 0 true
	launcher_usage_error "-g: no such group 'no_such_group_xyz'" -g no_such_group_xyz 127.0.0.1 0 true
}

@test "-h and --help print the usage, a line for each option and the man page on stdout and exit 0, even with other arguments" {
	local a usage='usage: msgd-launcher [-46hVvq1f] [-c MAX] [-C PERSOURCE] [-R RATE] [-N FAMILY:LEN] [-x RULES] [-p CIDR] [-b BACKLOG] [-u USER] [-g GROUP] [-k GRACE] [-i PIDFILE] HOST PORT PROGRAM [ARG...]
       msgd-launcher -U [-hVvqf] [-M MODE] [-c MAX] [-C PERSOURCE] [-R RATE] [-x RULES] [-b BACKLOG] [-u USER] [-g GROUP] [-k GRACE] [-i PIDFILE] PATH [HOST PORT] PROGRAM [ARG...]'
	for a in "-h" "--help" "-v -h 127.0.0.1 0 true" "--help -x"; do
		# shellcheck disable=SC2086 # the words of $a are the arguments
		run timeout -k 5 10 "$L" $a 2>"$T/err" 3>&-
		echo "$a -> status $status: $output" >&2
		[ "$status" -eq 0 ]
		[ "${lines[0]}"$'\n'"${lines[1]}" = "$usage" ]
		[ "${lines[-1]}" = "see msgd-launcher(8)" ]
		[ ! -s "$T/err" ]
	done
	USAGE=$usage help_is_man "$L" "$BATS_TEST_DIRNAME/../man/msgd-launcher.8"
	# the same lines a usage error ends with
	run timeout -k 5 10 "$L" -x 3>&-
	[ "$status" -eq 2 ]
	[ "${lines[-2]}"$'\n'"${lines[-1]}" = "$usage" ]
}

@test "a port number over 65535 is a usage error, not another port" {
	run timeout -k 5 3 "$L" -1 127.0.0.1 99999 true 3>&-
	echo "status $status: $output" >&2
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "msgd-launcher: "*99999* ]]
	[[ ${lines[-2]} == 'usage: msgd-launcher '* ]]
}

@test "a port already in use ends the launcher with status 1 and says so" {
	launch l 127.0.0.1 0 true
	run timeout -k 5 10 "$L" 127.0.0.1 "$PORT" true 3>&-
	[ "$status" -eq 1 ]
	# EADDRINUSE as glibc and musl say it
	[[ $output =~ ^msgd-launcher:\ cannot\ listen\ on\ 127\.0\.0\.1\ port\ $PORT:\ (Address already in use|Address in use)$ ]]
}

@test "an address, port name or family that cannot be used ends the launcher with status 1" {
	run timeout -k 5 10 "$L" -6 127.0.0.1 0 true 3>&-
	[ "$status" -eq 1 ]
	[[ $output =~ ^msgd-launcher:\ cannot\ use\ 127\.0\.0\.1\ port\ 0:\ (Name does not resolve|Address family for hostname not supported)$ ]]
	run timeout -k 5 10 "$L" 127.0.0.1 no-such-service-xyz true 3>&-
	[ "$status" -eq 1 ]
	[[ $output =~ ^msgd-launcher:\ cannot\ use\ 127\.0\.0\.1\ port\ no-such-service-xyz:\ (Unrecognized service|Servname not supported for ai_socktype)$ ]]
	run timeout -k 5 10 "$L" no.such.host.invalid 0 true 3>&-
	[ "$status" -ne 124 ] || skip "the resolver is too slow here"
	[ "$status" -eq 1 ]
	[[ $output =~ ^msgd-launcher:\ cannot\ use\ no\.such\.host\.invalid\ port\ 0:\ [A-Z][a-z\ ]+$ ]]
}

# ---- daemon mode ----

@test "-f detaches at once into a new session in /, writes the pid file, serves, and stops on SIGTERM" {
	need ps
	daemon -i "$T/pid" 127.0.0.1 0 "$H" -l "$T/rec"
	[ "$DSTATUS" -eq 0 ]
	[[ $DPORT =~ ^[0-9]+$ ]]
	# the pid file is there when the command returns
	[ -f "$T/pid" ]
	daemon_pid "$T/pid"
	[ "$(cat "$T/pid")" = "$DPID" ]
	# before it detached it may say where it listens, and nothing else
	# (but that there is no syslog, on a machine with none)
	[ "$(grep -cvx -e "msgd-launcher: listening on 127.0.0.1 port $DPORT, at most 40 at once" \
		-e 'msgd-launcher: cannot reach syslog at /dev/log, where the daemon logs: No such file or directory' \
		"$T/d.err")" -eq 0 ]
	[ "$(readlink "/proc/$DPID/exe")" = "$(readlink -f "$L")" ]
	[ "$(ps -o sid= -p "$DPID" | tr -d ' ')" = "$DPID" ]
	[ "$(readlink "/proc/$DPID/cwd")" = / ]
	for fd in 0 1 2; do
		[ "$(readlink "/proc/$DPID/fd/$fd")" = /dev/null ]
	done
	run "${CLIENT[@]}" 127.0.0.1 "$DPORT" send:'daemon\n' shut eof
	[ "$status" -eq 0 ]
	[ "$output" = $'hello\nok 1\nbye 1' ]
	kill -TERM "$DPID"
	wait_exit "$DPID"
	[ ! -e "$T/pid" ]
}

@test "-f with a pid file that cannot be written fails with status 1 and says why" {
	# shellcheck disable=SC2016 # a daemon left running tells its pid
	daemon -i "$T/no/such/dir/pid" 127.0.0.1 0 /bin/sh -c 'echo $PPID'
	if [ "$DSTATUS" -eq 0 ]; then
		"${CLIENT[@]}" 127.0.0.1 "$DPORT" eof >"$T/ppid"
		daemon_pid "$T/ppid"
	fi
	[ "$DSTATUS" -eq 1 ]
	[ "$(cat "$T/d.err")" = "msgd-launcher: cannot write pid file $T/no/such/dir/pid: No such file or directory" ]
	[ ! -e "$T/no" ]
}

@test "-f with a relative pid file writes it where it was started and removes it on exit" {
	daemon -i rel.pid 127.0.0.1 0 true
	[ "$DSTATUS" -eq 0 ]
	[ -f "$T/rel.pid" ]
	daemon_pid "$T/rel.pid"
	kill -TERM "$DPID"
	wait_exit "$DPID"
	[ ! -e "$T/rel.pid" ]
	[ ! -e /rel.pid ]
}

@test "-f keeps none of its caller's descriptors" {
	echo x >"$T/in"
	daemon -i "$T/pid" 127.0.0.1 0 true 4>"$T/out" 7<"$T/in"
	[ "$DSTATUS" -eq 0 ]
	daemon_pid "$T/pid"
	run ls -l "/proc/$DPID/fd"
	echo "$output" >&2
	# the pid file is its own, kept to empty it at exit if need be
	[[ $(grep -v " -> $T/pid\$" <<<"$output") != *"$T/"* ]]
	kill -TERM "$DPID"
	wait_exit "$DPID"
}

@test "-f sends its log to syslog as msgd-launcher[PID], facility daemon" {
	need_mount_ns
	mkdir "$T/dev"
	: >"$T/dev/null"
	client_bg syslog syslog "$T/dev/log"
	wait_grep "$T/syslog" '^ready$'
	# the daemon's /dev is $T/dev: the real /dev/null and our /dev/log
	# shellcheck disable=SC2016 # that sh expands them
	PRE=(unshare -m --propagation private sh -c 'mount --bind /dev/null "$0/null" &&
		mount --rbind "$0" /dev && exec "$@"' "$T/dev")
	# shellcheck disable=SC2016 # $$ is the child's
	daemon -i "$T/pid" 127.0.0.1 0 /bin/sh -c 'echo $$; exit 3'
	[ "$DSTATUS" -eq 0 ]
	daemon_pid "$T/pid"
	run "${CLIENT[@]}" 127.0.0.1 "$DPORT" eof
	[ "$status" -eq 0 ]
	child=$output
	wait_grep "$T/syslog" ": end $child status 3\$"
	kill -TERM "$DPID"
	wait_exit "$DPID"
	cat "$T/syslog" >&2
	# a syslog there: nothing said about it on the terminal
	[ "$(cat "$T/d.err")" = "msgd-launcher: listening on 127.0.0.1 port $DPORT, at most 40 at once" ]
	[[ $(grep ": end $child status 3\$" "$T/syslog") =~ ^\<(2[4-9]|3[01])\>[A-Z][a-z]{2}\ [\ 1-3][0-9]\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ msgd-launcher\[$DPID\]:\ end\ $child\ status\ 3$ ]]
}

@test "-f with no syslog to log to says so on the terminal before it detaches, and serves" {
	need_mount_ns
	mkdir "$T/dev"
	: >"$T/dev/null"
	# the daemon's /dev is $T/dev: the real /dev/null and no /dev/log
	# shellcheck disable=SC2016 # that sh expands them
	PRE=(unshare -m --propagation private sh -c 'mount --bind /dev/null "$0/null" &&
		mount --rbind "$0" /dev && exec "$@"' "$T/dev")
	daemon -i "$T/pid" 127.0.0.1 0 "$H" -l "$T/rec"
	[ "$DSTATUS" -eq 0 ]
	daemon_pid "$T/pid"
	[ "$(cat "$T/d.err")" = "msgd-launcher: listening on 127.0.0.1 port $DPORT, at most 40 at once
msgd-launcher: cannot reach syslog at /dev/log, where the daemon logs: No such file or directory" ]
	run "${CLIENT[@]}" 127.0.0.1 "$DPORT" send:'hi\n' shut eof
	[ "$output" = $'hello\nok 1\nbye 1' ]
	kill -TERM "$DPID"
	wait_exit "$DPID"
}

@test "a symbolic link, a FIFO or a directory where the pid file goes is refused with status 1, and nothing is written through it" {
	echo keep >"$T/target"
	ln -s "$T/target" "$T/pid"
	start_fails "cannot write pid file $T/pid: it is a symbolic link" \
		-i "$T/pid" 127.0.0.1 0 true
	[ "$(cat "$T/target")" = keep ]
	[ -L "$T/pid" ]
	ln -s "$T/nothing" "$T/dangling"
	start_fails "cannot write pid file $T/dangling: it is a symbolic link" \
		-i "$T/dangling" 127.0.0.1 0 true
	[ ! -e "$T/nothing" ]
	# a FIFO would hang an open for writing until someone reads it
	mkfifo "$T/fifo"
	start_fails "cannot write pid file $T/fifo: it is not a regular file" \
		-i "$T/fifo" 127.0.0.1 0 true
	mkdir "$T/dir"
	start_fails "cannot write pid file $T/dir: it is not a regular file" \
		-i "$T/dir" 127.0.0.1 0 true
}

@test "an old pid file is overwritten with the pid alone" {
	printf '99999999\nold junk that is longer\n' >"$T/pid"
	launch l -i "$T/pid" 127.0.0.1 0 true
	[ "$(cat "$T/pid")" = "$PID" ]
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	[ ! -e "$T/pid" ]
}

@test "with -u a pid file the user may not remove is left empty at exit, not with a stale pid" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for -u"
	# root's directory: nobody may not remove a file from it
	mkdir -m 755 "$T/run"
	launch l -u nobody -i "$T/run/pid" 127.0.0.1 0 true
	[ "$(cat "$T/run/pid")" = "$PID" ]
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	[ -f "$T/run/pid" ]
	[ ! -s "$T/run/pid" ]
}

# ---- make run ----

@test "make run serves the handler on 127.0.0.1:9100 with the records on the terminal, and HOST and PORT override" {
	local repo
	repo=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	run make -s -n -C "$repo" run
	[ "$status" -eq 0 ]
	# (the last line: make may print a build first)
	[ "${lines[-1]}" = "bin/msgd-launcher 127.0.0.1 9100 bin/msgd-handler -l -" ]
	# the same command line for real, on a free port
	run make -s -n -C "$repo" run HOST=127.0.0.1 PORT=0 BIN="$MSGD_BIN"
	[ "${lines[-1]}" = "$MSGD_BIN/msgd-launcher 127.0.0.1 0 $MSGD_BIN/msgd-handler -l -" ]
	# shellcheck disable=SC2086 # the command line make printed
	launch r ${lines[-1]#"$MSGD_BIN/msgd-launcher "}
	"${CLIENT[@]}" 127.0.0.1 "$PORT" send:'hi there\n' shut eof >"$T/c"
	printf 'hello\nok 1\nbye 1\n' | cmp - "$T/c"
	wait_grep "$T/r.err" "^$TS_RE"'127\.0\.0\.1:[0-9]+ #1 receive message: hi there$'
}

# ---- a service manager (NOTIFY_SOCKET) and SIGUSR1 ----

# notified FILE ERE: wait (at most 10 s) for a datagram matching ERE in the
# output of the `client.py syslog` writing FILE
notified() {
	wait_grep "$1" "$2"
}

@test "under a service manager the launcher says READY=1 once it listens, its status when it changes, and STOPPING=1 on SIGTERM" {
	start_server "$T/n" "${CLIENT[@]}" syslog "$T/notify"
	wait_line "$T/n" >/dev/null
	# shellcheck disable=SC2016 # expanded by the child's sh
	printf '#!/bin/sh\necho "${NOTIFY_SOCKET-unset}"\n' >"$T/prog"
	chmod 755 "$T/prog"
	PRE=(env NOTIFY_SOCKET="$T/notify")
	launch l 127.0.0.1 0 "$T/prog"
	notified "$T/n" '^READY=1$'
	notified "$T/n" '^STATUS=0/40 running, 0 served, 0 denied, 0 bad proxy headers, 0 failed spawns$'
	# the children are not the service: NOTIFY_SOCKET is not theirs
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" eof
	[ "$output" = unset ]
	notified "$T/n" '^STATUS=0/40 running, 1 served, 0 denied, 0 bad proxy headers, 0 failed spawns$'
	# a burst of changes is sent at most once a second: one for each
	# second begun since
	local before after start
	before=$(grep -c '^STATUS=' "$T/n")
	start=$(date +%s%N)
	for i in 1 2 3 4 5; do
		"${CLIENT[@]}" 127.0.0.1 "$PORT" eof >/dev/null
	done
	notified "$T/n" '^STATUS=0/40 running, 6 served, '
	after=$(grep -c '^STATUS=' "$T/n")
	echo "$before, then $after STATUS lines in $((($(date +%s%N) - start) / 1000000)) ms" >&2
	[ "$after" -le $((before + 1 + ($(date +%s%N) - start) / 1000000000)) ]
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	notified "$T/n" '^STOPPING=1$'
	[ "$(sed 1d "$T/n" | head -n 2)" = "READY=1
STATUS=0/40 running, 0 served, 0 denied, 0 bad proxy headers, 0 failed spawns" ]
	[ "$(tail -n 1 "$T/n")" = STOPPING=1 ]
}

@test "an abstract NOTIFY_SOCKET (@NAME) gets READY=1 too" {
	local name=msgd-test-$$-$RANDOM
	# shellcheck disable=SC2016 # python, not shell
	start_server "$T/n" python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(b"\0" + sys.argv[1].encode())
print("ready", flush=True)
while True:
    print(s.recv(4096).decode(), flush=True)' "$name"
	wait_line "$T/n" >/dev/null
	# shellcheck disable=SC2034 # read by launch (helpers.bash)
	PRE=(env NOTIFY_SOCKET="@$name")
	launch l 127.0.0.1 0 true
	notified "$T/n" '^READY=1$'
}

# full_manager SOCK: a service manager on SOCK whose queue is full (filled
# by a sender of its own) until the file $T/go appears; then it reads and
# prints what it gets, the filler as "filler"
full_manager() {
	# shellcheck disable=SC2016 # python, not shell
	start_server "$T/n" python3 -c 'import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
f = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
f.setblocking(False)
try:
    while True:
        f.sendto(b"filler", sys.argv[1])
except BlockingIOError:
    pass
print("full", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
while True:
    print(s.recv(4096).decode(), flush=True)' "$1" "$T/go"
	wait_line "$T/n" >/dev/null
}

@test "READY=1 to a manager whose queue is full (EAGAIN) is sent again until there is room" {
	full_manager "$T/notify"
	# shellcheck disable=SC2034 # read by launch (helpers.bash)
	PRE=(env NOTIFY_SOCKET="$T/notify")
	launch l -v 127.0.0.1 0 true
	sleep 1
	touch "$T/go"
	notified "$T/n" '^READY=1$'
	[ "$(printf 'hi\n' | timeout -k 5 10 "$MSGD_BIN/msgd-client" 127.0.0.1 "$PORT")" = '' ]
	wait_grep "$T/l.err" '^msgd-launcher: end [0-9]+ status 0$'
	run grep -c 'cannot notify' "$T/l.err"
	[ "$output" -eq 0 ]
}

@test "READY=1 to a manager whose queue stays full is given up after 5 s, and the loss is logged" {
	full_manager "$T/notify"
	# shellcheck disable=SC2034 # read by launch (helpers.bash)
	PRE=(env NOTIFY_SOCKET="$T/notify")
	launch l -v 127.0.0.1 0 true
	wait_grep "$T/l.err" '^msgd-launcher: cannot notify the service manager of READY=1: its queue stayed full for 5 s$' 15
	# and it serves
	[ "$(printf 'hi\n' | timeout -k 5 10 "$MSGD_BIN/msgd-client" 127.0.0.1 "$PORT")" = '' ]
	wait_grep "$T/l.err" '^msgd-launcher: end [0-9]+ status 0$'
}

@test "SIGUSR1 logs one status line counting running, served, denied, bad proxy headers and failed spawns, even with -q" {
	printf '192.0.2.66 deny\n' >"$T/rules"
	cp "$H" "$T/h"
	launch l -q -x "$T/rules" -p 127.0.0.1 127.0.0.1 0 "$T/h" -l "$T/rec"
	# served, and one running
	client_bg c 127.0.0.1 "$PORT" send:'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\n' line wait:"$T/go"
	wait_grep "$T/c" '^hello$'
	# denied by the rule the header's client meets
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'PROXY TCP4 192.0.2.66 192.0.2.20 40000 9100\r\n' eof
	[ "$output" = "" ]
	# a bad header
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'GET / HTTP/1.0\r\n\r\n' eof
	# closed with the bytes unread: a reset, or EOF
	[[ $output == "" || $output == reset ]]
	# no child made: the program is gone
	rm "$T/h"
	run "${CLIENT[@]}" 127.0.0.1 "$PORT" send:'PROXY TCP4 192.0.2.11 192.0.2.20 40000 9100\r\n' eof
	[ "$output" = "" ]
	wait_grep "$T/l.err" "cannot run $T/h"
	kill -USR1 "$PID"
	wait_grep "$T/l.err" '^msgd-launcher: status: '
	[ "$(grep '^msgd-launcher: status: ' "$T/l.err")" = \
		"msgd-launcher: status: 1/40 running, 1 served, 1 denied, 1 bad proxy headers, 1 failed spawns" ]
	# -q: nothing else but the failed exec
	[ "$(grep -vc -e '^msgd-launcher: status: ' -e 'cannot run' "$T/l.err")" -eq 0 ]
	touch "$T/go"
	[[ $(proc_state "$PID") == [RS] ]]
}

@test "on a Ctrl-C the launcher exits only after a parent in its process group took its own SIGINT, so make run never ends in 'wait: No child processes'" {
	# the parent holds its SIGINT blocked (pending) as long as it likes;
	# GNU make reaping its child before its own handler runs fails its
	# wait with ECHILD.  Then a parent that never takes it: a second at most
	# shellcheck disable=SC2016 # python, not shell
	run timeout -k 5 30 python3 -c 'import os, signal, subprocess, sys, time
os.setpgrp()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
for phase in ("taken", "kept"):
    p = subprocess.Popen([sys.argv[1], "-1", "127.0.0.1", "0", "true"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.readline()
    os.killpg(0, signal.SIGINT)
    t = time.monotonic()
    if phase == "taken":
        time.sleep(0.5)
        print("alive" if p.poll() is None else "gone", flush=True)
        t = time.monotonic()
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # takes the pending one
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    rc = p.wait(timeout=10)
    d = time.monotonic() - t
    print(phase, rc, "at once" if d < 0.3 else "after a second" if 0.9 < d < 3
          else "after %.2f s" % d, flush=True)
os._exit(0)' "$L" 3>&-
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$output" = "alive
taken 0 at once
kept 0 after a second" ]
}
