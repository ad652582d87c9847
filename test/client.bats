#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# msgd-client: what a user of nc sees.  Servers are msgd-handler behind
# msgd-launcher, socat, and test/peer.py (its modes are listed at its top);
# all listen on 127.0.0.1 or ::1 port 0 and are stopped by PID.

load helpers

C=$MSGD_BIN/msgd-client
# shellcheck disable=SC2034 # read by launch (helpers.bash)
L=$MSGD_BIN/msgd-launcher
H=$MSGD_BIN/msgd-handler
PEER=("${PYTHON:-python3}" "$BATS_TEST_DIRNAME/peer.py")
USAGE='usage: msgd-client [-46ahVNnvz] [-w SECS] [-q SECS] [-C] HOST PORT
       msgd-client -U [-ahVNnvz] [-w SECS] [-q SECS] [-C] PATH'

# peer MODE [FILE]: test/peer.py MODE in the background; sets PORT
peer() {
	need python3
	start_server "$T/peer" "${PEER[@]}" "$@"
	PORT=$(wait_line "$T/peer")
}

# closed_port: set PORT to a port nobody listens on
closed_port() {
	need python3
	PORT=$(free_port)
}

# client ARG...: msgd-client ARG... (at most 20 s) with stdout in $T/out and
# stderr in $T/err; sets status and MS, the wall time in milliseconds
client() {
	local t0
	t0=$(date +%s%N)
	status=0
	timeout -k 5 20 "$C" "$@" >"$T/out" 2>"$T/err" || status=$?
	MS=$((($(date +%s%N) - t0) / 1000000))
}

# err_is TEXT: stderr was exactly TEXT (one line)
err_is() {
	diff -u <(printf '%s\n' "$1") "$T/err"
}

# slept_about MIN MAX: MS is in [MIN, MAX] milliseconds
slept_about() {
	if [ "$MS" -lt "$1" ] || [ "$MS" -gt "$2" ]; then
		echo "took $MS ms, not $1 to $2"
		return 1
	fi
}

# open_stdin FIFO: make FIFO and keep it open for writing for 30 s
open_stdin() {
	mkfifo "$1"
	sleep 30 >"$1" 3>&- &
	SERVER_PIDS+=("$!")
}

# held_client IN OUT ARG...: msgd-client ARG... in the background (at most
# 20 s), stdin from IN, stdout and stderr to OUT; stopped in teardown
held_client() {
	local in=$1 out=$2
	shift 2
	timeout -k 5 20 "$C" "$@" <"$in" >"$out" 2>&1 3>&- &
	SERVER_PIDS+=("$!")
}

# socat_echo: socat echoing every connection through cat; sets PORT
socat_echo() {
	socat_serve EXEC:cat
}

# socat_serve ADDRESS: socat serving every connection with its ADDRESS
# (EXEC:..., SYSTEM:...); sets PORT
socat_serve() {
	start_server "$T/socat" socat -d -d -t 10 \
		TCP-LISTEN:0,bind=127.0.0.1 "$1"
	# the event: socat has written its listening line (the file may not
	# even exist before)
	wait_grep "$T/socat.err" 'listening on .*:[0-9]+$' || return 1
	PORT=$(sed -nE 's/.*listening on .*:([0-9]+)$/\1/p' "$T/socat.err")
	[ -n "$PORT" ]
}

# wait_size FILE SIZE: wait (at most 60 s) until FILE holds SIZE bytes
wait_size() {
	local i
	for ((i = 0; i < 1200; i++)); do
		[ "$(stat -c %s "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.05
	done
	echo "$1 holds $(stat -c %s "$1") bytes, not $2, after 60 s"
	return 1
}

# wait_no_conn PORT: wait (at most 30 s) until no TCP socket here is
# connected to PORT: a reset has reached the client's
wait_no_conn() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ -z "$(ss -Htn "dport = :$1")" ] && return 0
		sleep 0.05
	done
	echo "still connected to port $1 after 30 s:"
	ss -tn "dport = :$1"
	return 1
}

# the server of send_reset, in python: PAYLOAD TAIL FIFO
SEND_RESET_PY='
import fcntl, socket, struct, sys, termios, time

def unacked(c):
    # TIOCOUTQ is SIOCOUTQ on a socket: bytes not yet acknowledged
    return struct.unpack("i", fcntl.ioctl(c, termios.TIOCOUTQ, bytes(4)))[0]

with open(sys.argv[1], "rb") as f:
    payload = f.read()
tail, fifo = int(sys.argv[2]), sys.argv[3]
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(1)
print(lsock.getsockname()[1], flush=True)
lsock.settimeout(30)
c = lsock.accept()[0]
c.settimeout(60)
c.sendall(payload[:-tail])
with open(fifo) as f:
    f.read()
c.sendall(payload[-tail:])
end = time.monotonic() + 30
while unacked(c):
    if time.monotonic() > end:
        sys.exit("send-reset: the tail was not taken in 30 s")
    time.sleep(0.01)
c.close()
'

# the reader of slow_reader, in python: OUT CMD...
SLOW_READER_PY='
import fcntl, os, subprocess, sys, termios, time

r, w = os.pipe()
os.set_blocking(w, False)
cmd = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=w)
os.close(w)

def queued():
    return int.from_bytes(fcntl.ioctl(r, termios.FIONREAD, bytes(4)), sys.byteorder)

# fall behind until the pipe is full (10 s at most), and a little longer:
# the writer has more to say, so it meets EAGAIN
size = fcntl.fcntl(r, 1032)  # F_GETPIPE_SZ
end = time.monotonic() + 10
while queued() < size and time.monotonic() < end:
    time.sleep(0.01)
time.sleep(0.3)
with open(sys.argv[1], "wb") as out:
    while data := os.read(r, 65536):
        out.write(data)
sys.exit(cmd.wait())
'

# slow_reader OUT CMD...: CMD with stdout a non-blocking pipe whose reader
# lets it fill before copying it all to OUT; status is CMD's
slow_reader() {
	need python3
	status=0
	timeout -k 5 20 "${PYTHON:-python3}" -c "$SLOW_READER_PY" "$@" \
		2>"$T/err" || status=$?
}

# send_reset PAYLOAD TAIL: a server on 127.0.0.1 port 0 that, for one
# client, sends the file PAYLOAD but its last TAIL bytes, then waits for a
# line on the FIFO $T/go, sends the tail, and once the client's kernel has
# acknowledged it closes without having read a byte, so that the kernel
# resets the connection; then it exits 0.  Sets PORT, and SRV to its pid.
send_reset() {
	need python3
	mkfifo "$T/go"
	start_server "$T/srv" "${PYTHON:-python3}" -c "$SEND_RESET_PY" "$1" "$2" "$T/go"
	SRV=${SERVER_PIDS[-1]}
	PORT=$(wait_line "$T/srv")
}

# client_head ARG...: msgd-client ARG... | head -c 10 >$T/out; status is
# the client's, MS the wall time in milliseconds
client_head() {
	local t0
	t0=$(date +%s%N)
	timeout -k 5 20 "$C" "$@" </dev/null 2>"$T/err" | head -c 10 >"$T/out"
	status=${PIPESTATUS[0]}
	MS=$((($(date +%s%N) - t0) / 1000000))
}

# tmux_client SOCK ARG...: msgd-client ARG... in a new tmux server on
# SOCK, 120x20; the server is stopped in teardown
tmux_client() {
	local sock=$1
	shift
	tmux -L "$sock" -f /dev/null new-session -d -x 120 -y 20 "$C $*" 3>&-
	SERVER_PIDS+=("$(tmux -L "$sock" display -p '#{pid}')")
}

# tmux_wait SOCK LINE: wait (at most 10 s) until the pane shows LINE;
# the pane's text in SCREEN
tmux_wait() {
	local i
	for ((i = 0; i < 200; i++)); do
		SCREEN=$(tmux -L "$1" capture-pane -p)
		grep -qx -- "$2" <<<"$SCREEN" && return 0
		sleep 0.05
	done
	echo "no '$2' on the screen:"
	echo "$SCREEN"
	return 1
}

# echo_50m file|pipe: send 50 MiB of random bytes to the echo server on
# PORT, stdin a file (read and send) or a pipe (splice), and check that the
# same bytes came back
echo_50m() {
	head -c 52428800 /dev/urandom >"$T/in"
	if [ "$1" = file ]; then
		client 127.0.0.1 "$PORT" <"$T/in"
	else
		client 127.0.0.1 "$PORT" < <(cat "$T/in")
	fi
	[ "$status" -eq 0 ]
	[ ! -s "$T/err" ]
	[ "$(sha256sum <"$T/out")" = "$(sha256sum <"$T/in")" ]
}

@test "a line piped in gets the greeting, its ack and bye, and the client exits 0" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	client 127.0.0.1 "$PORT" < <(printf 'hi\n')
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	[ ! -s "$T/err" ]
	[ "$(record_count "$T/rec" ' #1 receive message: hi$')" -eq 1 ]
}

@test "-N changes nothing: the same bytes and status" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	client -N 127.0.0.1 "$PORT" < <(printf 'hi\nthere\n')
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
}

@test "-a: every line acknowledged and the bye that counts them, the last without LF too: exit 0" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	client -a 127.0.0.1 "$PORT" < <(printf 'one\ntwo\nthree')
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nbye 3\n'
	[ ! -s "$T/err" ]
	[ "$(record_count "$T/rec" ' #3 receive message: three$')" -eq 1 ]
	# nothing to send: bye 0 is all of it
	client -a 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nbye 0\n'
}

@test "-a: a line too long gets an error and a bye that counts one fewer: exit 3, where nc's status is 0" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec" -m 4
	client -a 127.0.0.1 "$PORT" < <(printf 'hi\ntoo long\n')
	[ "$status" -eq 3 ]
	file_is "$T/out" 'hello\nok 1\nerror line too long (max 4 bytes)\nbye 1\n'
	[ ! -s "$T/err" ]
	client 127.0.0.1 "$PORT" < <(printf 'hi\ntoo long\n')
	[ "$status" -eq 0 ]
}

@test "-a: a server that cannot record answers error cannot record message: exit 3" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/no/such/dir/rec"
	client -a 127.0.0.1 "$PORT" < <(printf 'hi\n')
	[ "$status" -eq 3 ]
	file_is "$T/out" 'error cannot record message\n'
}

@test "-a: a rule that closes the connection at once, with no word: exit 3" {
	printf '127.0.0.1 deny\n' >"$T/rules"
	launch l -q -x "$T/rules" 127.0.0.1 0 "$H" -l "$T/rec"
	client -a 127.0.0.1 "$PORT" < <(printf 'hi\n')
	[ "$status" -eq 3 ]
	file_is "$T/out" ''
}

@test "-a: the per-source limit's error too many connections: exit 3" {
	launch l -q -C 1 127.0.0.1 0 "$H" -l "$T/rec"
	open_stdin "$T/in"
	held_client "$T/in" "$T/first" 127.0.0.1 "$PORT"
	wait_grep "$T/first" '^hello$' 10
	client -a 127.0.0.1 "$PORT" < <(printf 'hi\n')
	[ "$status" -eq 3 ]
	file_is "$T/out" 'error too many connections\n'
}

@test "-a: a bye that does not count the lines sent, from a server nobody here wrote: exit 3" {
	need socat
	socat_serve SYSTEM:'cat >/dev/null; echo hello; echo ok 1; echo bye 1'
	client -a 127.0.0.1 "$PORT" < <(printf 'one\ntwo\n')
	[ "$status" -eq 3 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
}

@test "-a: a server that closes without bye exits 3; one that cannot be reached is still 1" {
	peer close
	client -a 127.0.0.1 "$PORT" < <(printf 'hi\n')
	[ "$status" -eq 3 ]
	file_is "$T/out" 'goodbye\n'
	closed_port
	client -a 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ $(cat "$T/err") == "msgd-client: connect to 127.0.0.1 port $PORT (tcp) failed: "* ]]
	client -a -z 127.0.0.1 "$PORT"
	[ "$status" -eq 1 ]
	err_is "msgd-client: -a and -z: -z sends nothing to acknowledge
$USAGE"
}

@test "a server that closes first ends the client at once although stdin stays open" {
	peer close
	open_stdin "$T/in"
	client 127.0.0.1 "$PORT" <"$T/in"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'goodbye\n'
	slept_about 0 4000
}

@test "50 MiB of random bytes from a file go out and come back unchanged (cat behind msgd-launcher)" {
	launch l -q 127.0.0.1 0 cat
	echo_50m file
}

@test "50 MiB of random bytes piped in go out and come back unchanged (socat echo)" {
	need socat
	socat_echo
	echo_50m pipe
}

@test "every byte of a file sent arrives at a server nobody here wrote" {
	peer record "$T/got"
	head -c 1048576 /dev/urandom >"$T/in"
	client 127.0.0.1 "$PORT" <"$T/in"
	[ "$status" -eq 0 ]
	cmp "$T/in" "$T/got"
}

@test "every byte piped in arrives at a server nobody here wrote" {
	peer record "$T/got"
	head -c 1048576 /dev/urandom >"$T/in"
	client 127.0.0.1 "$PORT" < <(cat "$T/in")
	[ "$status" -eq 0 ]
	cmp "$T/in" "$T/got"
}

@test "-C turns LF into CRLF without doubling a CR already there" {
	peer record "$T/got"
	client -C 127.0.0.1 "$PORT" < <(printf 'a\nb\r\nc\n')
	[ "$status" -eq 0 ]
	file_is "$T/got" 'a\r\nb\r\nc\r\n'
}

@test "-C does not double a CR that ends one read when the LF starts the next" {
	launch l -q 127.0.0.1 0 cat
	client -C 127.0.0.1 "$PORT" < <(printf 'x\r'; sleep 0.3; printf '\ny\n')
	[ "$status" -eq 0 ]
	file_is "$T/out" 'x\r\ny\r\n'
}

@test "-w 1 gives up connecting to a listener whose backlog is full after about a second" {
	peer full
	client -w 1 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	grep -qE "^msgd-client: connect to 127\.0\.0\.1 port $PORT \(tcp\) failed: .*timed out$" "$T/err"
	slept_about 900 4000
}

@test "-w 1 ends a connection with no traffic for a second: exit 1 and why" {
	peer silent
	client -w 1 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	err_is 'msgd-client: timed out: no traffic for 1 s (-w)'
	slept_about 900 4000
}

@test "-q 1 stops waiting for a silent server a second after stdin ends, exit 0" {
	peer silent
	client -q 1 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 0 ]
	[ ! -s "$T/out" ] && [ ! -s "$T/err" ]
	slept_about 900 4000
}

@test "-z on an open port exits 0 and prints nothing" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	client -z 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 0 ]
	[ ! -s "$T/out" ] && [ ! -s "$T/err" ]
}

@test "-z on a closed port exits 1 and prints nothing" {
	closed_port
	client -z 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[ ! -s "$T/out" ] && [ ! -s "$T/err" ]
}

@test "-z -v says the connection succeeded, in OpenBSD nc's words" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	client -z -v 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 0 ]
	err_is "Connection to 127.0.0.1 $PORT port [tcp/*] succeeded!"
	[ ! -s "$T/out" ]
}

@test "-v says the connection succeeded, then the session goes on as usual" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	client -v 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 0 ]
	err_is "Connection to 127.0.0.1 $PORT port [tcp/*] succeeded!"
	file_is "$T/out" 'hello\nbye 0\n'
}

@test "a refused connection exits 1 and says so" {
	closed_port
	client 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	err_is "msgd-client: connect to 127.0.0.1 port $PORT (tcp) failed: Connection refused"
}

@test "a server that sends 5 MiB and resets without reading: all 5 MiB come out, then exit 1 and the write error" {
	local pid tail=32768 ok=1
	need ss
	seq -f '%015.0f' 1 327680 >"$T/want"	# 5 MiB of numbered lines
	send_reset "$T/want" "$tail"
	"$C" 127.0.0.1 "$PORT" >"$T/out" 2>"$T/err" 3>&- \
		< <(head -c 52428800 /dev/zero 3>&-) &
	pid=$!
	SERVER_PIDS+=("$pid")
	# all but the tail written out: the client's receive queue is empty, so
	# the tail fits whole while the client is stopped, for the reset to find
	wait_size "$T/out" $((5242880 - tail))
	kill -STOP "$pid"
	# the server goes on: sends the tail, resets, exits
	timeout -k 5 30 tee "$T/go" <<<go >/dev/null || ok=0
	wait "$SRV" || ok=0
	wait_no_conn "$PORT" || ok=0
	kill -CONT "$pid"
	[ "$ok" -eq 1 ]
	wait_exit "$pid" 30
	[ "$EXIT" -eq 1 ]
	cmp "$T/want" "$T/out"
	err_is "msgd-client: write to 127.0.0.1 port $PORT: Connection reset by peer"
}

@test "a non-blocking stdout whose reader falls behind gets all 4 MiB, exit 0" {
	head -c 4194304 /dev/urandom >"$T/want"
	launch l -q 127.0.0.1 0 cat "$T/want"
	slow_reader "$T/out" "$C" 127.0.0.1 "$PORT"
	[ "$status" -eq 0 ]
	[ ! -s "$T/err" ]
	cmp "$T/want" "$T/out"
}

@test "a reset by the server exits 1 and names the reset" {
	peer reset
	client 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	grep -qx 'msgd-client: read from 127.0.0.1 port [0-9]*: Connection reset by peer' "$T/err"
	[ "$(wc -l <"$T/err")" -eq 1 ]
}

@test "a closed stdout ends the client at once: | head -c 10 on an endless stream" {
	launch l -q 127.0.0.1 0 yes
	client_head 127.0.0.1 "$PORT"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'y\ny\ny\ny\ny\n'
	[ ! -s "$T/err" ]
	slept_about 0 5000
}

@test "a closed stdout ends the client with a python flood server too" {
	peer flood
	client_head 127.0.0.1 "$PORT"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'y\ny\ny\ny\ny\n'
	slept_about 0 5000
}

@test "a reader that goes away ends the client even while the server is silent" {
	peer silent
	open_stdin "$T/in"
	local t0
	t0=$(date +%s%N)
	timeout -k 5 20 "$C" 127.0.0.1 "$PORT" <"$T/in" 2>"$T/err" | true
	status=${PIPESTATUS[0]}
	MS=$((($(date +%s%N) - t0) / 1000000))
	[ "$status" -eq 0 ]
	[ ! -s "$T/err" ]
	slept_about 0 5000
}

@test "a closed stdin counts as empty input" {
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	client 127.0.0.1 "$PORT" <&-
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nbye 0\n'
}

@test "-6 reaches a server on ::1" {
	need python3
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
		2>/dev/null || skip "no IPv6 loopback"
	launch l -q ::1 0 "$H" -l "$T/rec"
	client -6 ::1 "$PORT" < <(printf 'six\n')
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
}

@test "-4 with an IPv6 address fails at once and says why" {
	client -4 ::1 9
	[ "$status" -eq 1 ]
	err_is 'msgd-client: ::1 is an IPv6 address, but -4 was given'
}

@test "-6 with an IPv4 address fails at once and says why" {
	client -6 127.0.0.1 9
	[ "$status" -eq 1 ]
	err_is 'msgd-client: 127.0.0.1 is an IPv4 address, but -6 was given'
}

@test "-n refuses a name without asking any resolver" {
	client -n localhost 9
	[ "$status" -eq 1 ]
	err_is 'msgd-client: localhost: not a numeric address (-n)'
}

@test "a name in /etc/hosts is resolved without the network" {
	grep -qE '^127\.0\.0\.1[[:space:]].*\blocalhost\b' /etc/hosts ||
		skip "no localhost in /etc/hosts"
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	client -4 localhost "$PORT" </dev/null
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nbye 0\n'
}

@test "-h and --help print the usage, a line for each option of the man page and its name, on stdout, and exit 0" {
	help_is_man "$MSGD_BIN/msgd-client" "$BATS_TEST_DIRNAME/../man/msgd-client.1"
}

@test "no arguments is a usage error: exit 1 and the synopsis" {
	client
	[ "$status" -eq 1 ]
	err_is "msgd-client: HOST PORT missing
$USAGE"
}

@test "a -w that is not a number is named: exit 1" {
	client -w abc 127.0.0.1 9
	[ "$status" -eq 1 ]
	err_is "msgd-client: -w: bad value 'abc' (a number from 1 to 2147483)
$USAGE"
}

@test "a negative -w is named: exit 1" {
	client -w -1 127.0.0.1 9
	[ "$status" -eq 1 ]
	err_is "msgd-client: -w: bad value '-1' (a number from 1 to 2147483)
$USAGE"
}

@test "a -q that is not a number is named: exit 1" {
	client -q 1x 127.0.0.1 9
	[ "$status" -eq 1 ]
	err_is "msgd-client: -q: bad value '1x' (a number from 0 to 2147483)
$USAGE"
}

@test "an unknown option is named: exit 1" {
	client -x 127.0.0.1 9
	[ "$status" -eq 1 ]
	err_is "msgd-client: unknown option -x
$USAGE"
}

@test "a port over 65535 is named: exit 1" {
	client 127.0.0.1 70000
	[ "$status" -eq 1 ]
	err_is "msgd-client: bad port '70000' (a number from 1 to 65535, or a service name)
$USAGE"
}

@test "typed lines go out as typed and the replies show up (tmux)" {
	need tmux
	launch l -q 127.0.0.1 0 "$H" -l "$T/rec"
	local sock=msgdtest$$
	tmux_client "$sock" 127.0.0.1 "$PORT"
	tmux_wait "$sock" hello
	tmux -L "$sock" send-keys 'hi' Enter
	tmux_wait "$sock" 'ok 1'
	diff -u <(printf 'hello\nhi\nok 1\n') <(grep . <<<"$SCREEN")
	[ "$(record_count "$T/rec" ' #1 receive message: hi$')" -eq 1 ]
}
