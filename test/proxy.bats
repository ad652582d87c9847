#!/usr/bin/env bats
# The PROXY protocol (lib/proxy.c) case by case, the handler's -p over real
# TCP, the handler under stunnel's exec mode, the session cap -T, and the
# socket options the handler sets.

load helpers

# the peer must come from the test, never from the caller's environment
unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT

# shellcheck disable=SC2034 # read by handler_usage_error (helpers.bash)
USAGE='usage: msgd-handler [-hpsS] [-g TEXT] [-l FILE] [-m BYTES] [-t SECS] [-T SECS]'
# LeakSanitizer cannot run under ptrace: off for the handlers strace runs
LSAN_OFF=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# the parser's table of cases: make test names the one it built; run
# alone, this file builds it
setup_file() {
	if [ -z "${MSGD_UNIT:-}" ]; then
		MSGD_UNIT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build/proxy-unit
		make -s -C "$BATS_TEST_DIRNAME/.." build/proxy-unit >&2 3>&-
	fi
	export MSGD_UNIT
}

# unit GROUP COUNT: the driver's GROUP passes all COUNT of its cases
unit() {
	run "$MSGD_UNIT" "$1"
	if [ "$status" -ne 0 ] || [ "${lines[-1]}" != "$1: $2 cases, 0 failed" ] ||
		printf '%s\n' "${lines[@]}" | grep -q '^not ok'; then
		printf '%s\n' "status $status" "${lines[@]}"
		return 1
	fi
}


# talk IN [CLIENT_OPT...] -- HANDLER_ARG...: serve one connection with the
# handler (serve-once options from the array serve_opts), send the file IN
# with tcp.py client; what the client got is in $T/out, its port in
# $cport, the handler's status in $status and its stderr in $T/port.err
serve_opts=()
talk() {
	local in=$1 copts=() port
	need python3
	shift
	while [ "$1" != -- ]; do
		copts+=("$1")
		shift
	done
	shift
	rm -f "$T/cport"
	start_server "$T/port" python3 "$TCP_PY" serve-once "${serve_opts[@]}" \
		"${HANDLER_CMD[@]}" "$@"
	port=$(wait_line "$T/port")
	timeout -k 5 30 python3 "$TCP_PY" client 127.0.0.1 "$port" "${copts[@]}" \
		--port-file "$T/cport" <"$in" >"$T/out"
	cport=$(cat "$T/cport")
	status=0
	wait "${SERVER_PIDS[-1]}" || status=$?
}

# refused WHAT: the handler refused the header: exactly the error line for
# the client, no greeting, status 1, no record, and on stderr the line
# "bad proxy header from PEER" and WHAT after it
refused() {
	[ "$status" -eq 1 ] || { echo "status $status"; return 1; }
	file_is "$T/out" 'error bad proxy header\n'
	file_is "$T/port.err" "msgd-handler: bad proxy header from 127.0.0.1:$cport$1\n"
	[ ! -e "$T/F" ] || { echo "records:"; cat "$T/F"; return 1; }
}


# ---- the parser, case by case ----

@test "real v1 and v2 headers parse to their length, client and destination" {
	unit good 17
}

@test "every prefix of a header asks for more, and a header cut at any byte is read whole and not a byte past it" {
	unit split 17
}

@test "a header and the client's data in one write: exactly the header is taken, over a socketpair and TCP; an EOF inside it ends the connection" {
	unit read 26
}

@test "malformed headers are refused: version, command, family, lengths, CRLF, fields, ports, addresses, bytes, plain HTTP" {
	unit bad 57
}

# ---- -p over TCP ----

@test "with -p a v1 TCP4 header names the client in every record, and the greeting comes after it" {
	printf 'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	file_is "$T/port.err" ''
	records_are "$T/F" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: hi' \
		'192.0.2.10:40000 disconnect: 1 messages, 2 bytes, eof'
}

@test "with -p a v1 TCP6 header names the client as [IP]:PORT" {
	printf 'PROXY TCP6 2001:db8::10 2001:db8::20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" '[2001:db8::10]:40000 connect' \
		'[2001:db8::10]:40000 #1 receive message: hi' \
		'[2001:db8::10]:40000 disconnect: 1 messages, 2 bytes, eof'
}

@test "with -p v2 headers name the client, IPv4 with TLVs and IPv6 alike" {
	# ALPN "h2" and authority "example.com", read and dropped
	{ proxy_v2 0x21 0x11 203.0.113.5 198.51.100.1 51000 9100 \
		010002683202000b6578616d706c652e636f6d
		printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" '203.0.113.5:51000 connect' \
		'203.0.113.5:51000 #1 receive message: hi' \
		'203.0.113.5:51000 disconnect: 1 messages, 2 bytes, eof'

	{ proxy_v2 0x21 0x21 2001:db8::5 2001:db8::1 51001 9100
		printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/G" '[2001:db8::5]:51001 connect' \
		'[2001:db8::5]:51001 #1 receive message: hi' \
		'[2001:db8::5]:51001 disconnect: 1 messages, 2 bytes, eof'
}

@test "with -p an IPv4-mapped IPv6 client is recorded as IPv4, as a dual-stack socket's peer is" {
	printf 'PROXY TCP6 ::ffff:192.0.2.10 ::ffff:192.0.2.20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	records_are "$T/F" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: hi' \
		'192.0.2.10:40000 disconnect: 1 messages, 2 bytes, eof'
}

@test "a v2 LOCAL header (a health check) and a v1 UNKNOWN one keep the socket's own peer" {
	{ proxy_v2 0x20 0x00; printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: hi" \
		"127.0.0.1:$cport disconnect: 1 messages, 2 bytes, eof"

	printf 'PROXY UNKNOWN 192.0.2.10 192.0.2.20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/G" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: hi" \
		"127.0.0.1:$cport disconnect: 1 messages, 2 bytes, eof"
}

@test "a PROXY header's client wins over the launcher's word, and a LOCAL header keeps the launcher's" {
	serve_opts=(--env PROTO=TCP --env TCPREMOTEIP=198.51.100.7
		--env TCPREMOTEPORT=7777)
	printf 'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	records_are "$T/F" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: hi' \
		'192.0.2.10:40000 disconnect: 1 messages, 2 bytes, eof'

	{ proxy_v2 0x20 0x00; printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	records_are "$T/G" '198.51.100.7:7777 connect' \
		'198.51.100.7:7777 #1 receive message: hi' \
		'198.51.100.7:7777 disconnect: 1 messages, 2 bytes, eof'
}

@test "a header dribbled a byte at a time over two seconds is read whole, then the messages" {
	local start took
	printf 'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\none\ntwo\n' >"$T/in"
	start=$(date +%s%N)
	# 47 header bytes, 45 ms apart; the messages in one write after them
	talk "$T/in" --trickle-bytes 47 --delay 0.045 -- -p -l "$T/F"
	took=$((($(date +%s%N) - start) / 1000000))
	[ "$status" -eq 0 ]
	[ "$took" -ge 2000 ] || { echo "took $took ms"; false; }
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	records_are "$T/F" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: one' \
		'192.0.2.10:40000 #2 receive message: two' \
		'192.0.2.10:40000 disconnect: 2 messages, 6 bytes, eof'

	# a v2 header, TLVs and all, the same way
	{ proxy_v2 0x21 0x21 2001:db8::5 2001:db8::1 51001 9100 0400020000
		printf 'one\n'; } >"$T/in"
	talk "$T/in" --trickle-bytes 57 --delay 0.035 -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/G" '[2001:db8::5]:51001 connect' \
		'[2001:db8::5]:51001 #1 receive message: one' \
		'[2001:db8::5]:51001 disconnect: 1 messages, 3 bytes, eof'
}

@test "a header and the first messages in one write: not a byte of them is lost" {
	printf 'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\nPROXY again\r\nsecond' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	records_are "$T/F" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: PROXY again' \
		'192.0.2.10:40000 #2 receive message: second' \
		'192.0.2.10:40000 disconnect: 2 messages, 17 bytes, eof'

	# after the TLVs, bytes that look like another header are data
	{ proxy_v2 0x21 0x11 203.0.113.5 198.51.100.1 51000 9100 04000400000000
		printf '\r\n\r\n\0\r\nQUIT\nend\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nok 4\nok 5\nbye 5\n'
	records_are "$T/G" '203.0.113.5:51000 connect' \
		'203.0.113.5:51000 #1 receive message: ' \
		'203.0.113.5:51000 #2 receive message: ' \
		'203.0.113.5:51000 #3 receive message: \x00' \
		'203.0.113.5:51000 #4 receive message: QUIT' \
		'203.0.113.5:51000 #5 receive message: end' \
		'203.0.113.5:51000 disconnect: 5 messages, 8 bytes, eof'
}

@test "a bad header gets error bad proxy header, no greeting, no record, exit 1 and a line on stderr" {
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	refused ''

	printf 'PROXY TCP4 192.0.2.10 192.0.2.20 65536 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	refused ''

	printf 'PROXY TCP4 2001:db8::1 192.0.2.20 1 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	refused ''

	# a unix socket's addresses, and a version 1 binary header
	{ proxy_v2 0x21 0x31; printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	refused ''
	{ proxy_v2 0x11 0x11 192.0.2.10 192.0.2.20 1 2; printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	refused ''
}

@test "a header cut short by the client's end gets the same error, and stderr says the connection ended" {
	printf 'PROXY TCP4 192.0.2.10 192.0.2.20' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	refused ': cannot read it: Connection reset by peer'
}

@test "no whole header within 5 seconds gets the same error after about 5 seconds" {
	local start took
	# the start of a header, then silence (and no half-close)
	printf 'PROXY TCP4 192.0.2.10' >"$T/in"
	start=$(date +%s%N)
	talk "$T/in" --no-shutdown -- -p -l "$T/F"
	took=$((($(date +%s%N) - start) / 1000000))
	refused ': none within 5 s'
	[ "$took" -ge 4500 ] && [ "$took" -le 15000 ] ||
		{ echo "took $took ms"; false; }
}

@test "-p trusts whoever connects: a client that sends its own header is recorded as the address it claims" {
	# so -p is for a handler that only the proxy can reach (see the man page)
	printf 'PROXY TCP4 10.6.6.6 192.0.2.20 666 9100\r\nnot really\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	records_are "$T/F" '10.6.6.6:666 connect' \
		'10.6.6.6:666 #1 receive message: not really' \
		'10.6.6.6:666 disconnect: 1 messages, 10 bytes, eof'
}

@test "without -p a PROXY line is an ordinary message, recorded under the socket's peer" {
	printf 'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	records_are "$T/F" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100" \
		"127.0.0.1:$cport #2 receive message: hi" \
		"127.0.0.1:$cport disconnect: 2 messages, 45 bytes, eof"
}

@test "without -p a v2 header is data, escaped in the records" {
	{ proxy_v2 0x20 0x00; printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nok 4\nok 5\nbye 5\n'
	records_are "$T/F" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: " \
		"127.0.0.1:$cport #2 receive message: " \
		"127.0.0.1:$cport #3 receive message: \\x00" \
		"127.0.0.1:$cport #4 receive message: QUIT" \
		"127.0.0.1:$cport #5 receive message:  \\x00\\x00\\x00hi" \
		"127.0.0.1:$cport disconnect: 5 messages, 11 bytes, eof"
}

# ---- stunnel's exec mode ----

# stunnel_up: stunnel4 in the foreground on a free loopback port ($sport),
# exec'ing the handler for each TLS client; a port that something else
# took meanwhile gets one more try
stunnel_up() {
	local try i
	for try in 1 2; do
		sport=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
		cat >"$T/stunnel.conf" <<EOF
foreground = yes
pid = $T/stunnel.pid
debug = info
[msgd]
accept = 127.0.0.1:$sport
cert = $T/cert.pem
key = $T/key.pem
exec = $MSGD_BIN/msgd-handler
execArgs = msgd-handler -l $T/F
EOF
		start_server "$T/stunnel.out" stunnel4 "$T/stunnel.conf"
		for ((i = 0; i < 200; i++)); do
			grep -qE "Service \[msgd\] \(FD=[0-9]+\) bound to 127\.0\.0\.1:$sport" \
				"$T/stunnel.out.err" && return 0
			kill -0 "${SERVER_PIDS[-1]}" 2>/dev/null || break
			sleep 0.05
		done
		echo "stunnel (try $try) did not start:" >&2
		cat "$T/stunnel.out.err" >&2
		kill "${SERVER_PIDS[-1]}" 2>/dev/null || true
	done
	return 1
}

@test "under stunnel's exec mode the records name the TLS client's own address and port, not stunnel's socket" {
	need stunnel4 openssl python3
	local me
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
		-subj /CN=localhost 2>"$T/openssl.err" ||
		{ cat "$T/openssl.err"; false; }
	stunnel_up
	# a TLS client: two lines, their acks, then close_notify (stunnel
	# then ends the handler's input)
	timeout -k 5 30 python3 - "$sport" "$T/cport" >"$T/out" <<'EOF'
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
with open(sys.argv[2], "w") as f:
    f.write("%d\n" % raw.getsockname()[1])
s = ctx.wrap_socket(raw)
s.sendall("hi over TLS\n你好\n".encode())
got = b""
while got.count(b"\n") < 3:
    d = s.recv(4096)
    if not d:
        break
    got += d
sys.stdout.buffer.write(got)
try:
    s.unwrap()
except (ssl.SSLError, OSError):
    pass  # "bye 2" came after our close_notify
s.close()
EOF
	me=$(cat "$T/cport")
	file_is "$T/out" 'hello\nok 1\nok 2\n'
	wait_grep "$T/F" ' disconnect: ' 10
	records_are "$T/F" "127.0.0.1:$me connect" \
		"127.0.0.1:$me #1 receive message: hi over TLS" \
		"127.0.0.1:$me #2 receive message: 你好" \
		"127.0.0.1:$me disconnect: 2 messages, 17 bytes, eof"
	grep -q "Service \[msgd\] accepted connection from 127.0.0.1:$me" \
		"$T/stunnel.out.err"
}

# ---- -T: the whole connection's time ----

@test "-T 1 ends a client that keeps talking: error session time limit at about 1 s, a timeout record, exit 1" {
	need python3
	local port k when bytes i me want=()
	start_server "$T/port" python3 "$TCP_PY" serve-once \
		"${HANDLER_CMD[@]}" -T 1 -l "$T/F"
	port=$(wait_line "$T/port")
	# a line every 0.2 s, replies read as they come; when the error came
	# goes to stderr
	timeout -k 5 30 python3 - "$port" "$T/cport" >"$T/out" 2>"$T/when" <<'EOF'
import select, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
with open(sys.argv[2], "w") as f:
    f.write("%d\n" % s.getsockname()[1])
start = time.monotonic()
got, n, due, when = b"", 0, start, None
while time.monotonic() - start < 15:
    if when is None and time.monotonic() >= due:
        n += 1
        s.sendall(b"tick %d\n" % n)
        due += 0.2
    if select.select([s], [], [], 0.02)[0]:
        d = s.recv(65536)
        if not d:
            break
        got += d
        if when is None and got.endswith(b"error session time limit\n"):
            when = time.monotonic() - start
sys.stdout.buffer.write(got)
sys.stderr.write("%d\n" % int((when or 99) * 1000))
EOF
	status=0
	wait "${SERVER_PIDS[-1]}" || status=$?
	[ "$status" -eq 1 ]
	when=$(cat "$T/when")
	[ "$when" -ge 900 ] && [ "$when" -le 5000 ] || { echo "error at $when ms"; false; }
	k=$(grep -c '^ok ' "$T/out")
	[ "$k" -ge 2 ] && [ "$k" -le 10 ] || { echo "$k oks"; false; }
	diff -u <(echo hello; seq -f 'ok %g' 1 "$k"; echo 'error session time limit') \
		"$T/out"
	me=$(cat "$T/cport")
	bytes=0
	want=("127.0.0.1:$me connect")
	for ((i = 1; i <= k; i++)); do
		want+=("127.0.0.1:$me #$i receive message: tick $i")
		bytes=$((bytes + 5 + ${#i}))
	done
	want+=("127.0.0.1:$me disconnect: $k messages, $bytes bytes, timeout")
	records_are "$T/F" "${want[@]}"
}

@test "-T 1 ends a client whose input never pauses" {
	need python3
	local port
	# records to a pipe (each written whole: the handler is slower than
	# the client), the last one kept
	# shellcheck disable=SC2016 # the inner bash expands them
	start_server "$T/port" python3 "$TCP_PY" serve-once --env "LAST=$T/last" \
		bash -c 'set -o pipefail; "$@" 2>&1 >&0 | tail -n 1 >"$LAST"' \
		bash "${HANDLER_CMD[@]}" -T 1 -l -
	port=$(wait_line "$T/port")
	# lines as fast as they go, replies read by a second thread; out:
	# whether an ok came, the last line, and when it came
	timeout -k 5 30 python3 - "$port" >"$T/out" <<'EOF'
import socket, sys, threading, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
start = time.monotonic()
state = {"tail": b"", "ok": False, "when": None}
def reader():
    while True:
        try:
            d = s.recv(1 << 16)
        except OSError:
            break
        if not d:
            break
        state["ok"] = state["ok"] or b"ok " in d
        t = state["tail"] + d[-64:]
        state["tail"] = t[-64:]
        if state["when"] is None and t.endswith(b"error session time limit\n"):
            state["when"] = time.monotonic() - start
r = threading.Thread(target=reader)
r.start()
chunk = b"flood\n" * 200000
while state["when"] is None and time.monotonic() - start < 12:
    try:
        s.sendall(chunk)
    except OSError:
        break
r.join(15)
print(state["ok"])
print(state["tail"].split(b"\n")[-2].decode())
print(int((state["when"] or 99) * 1000))
EOF
	status=0
	wait "${SERVER_PIDS[-1]}" || status=$?
	[ "$status" -eq 1 ]
	[ "$(sed -n 1p "$T/out")" = True ]
	[ "$(sed -n 2p "$T/out")" = 'error session time limit' ]
	[ "$(sed -n 3p "$T/out")" -le 5000 ] || { cat "$T/out"; false; }
	grep -qE "^${TS_RE}127\.0\.0\.1:[0-9]+ disconnect: [0-9]+ messages, [0-9]+ bytes, timeout$" \
		"$T/last" || { cat "$T/last"; false; }
}

@test "-T 1 ends a client that stops reading long before -t would" {
	need python3
	local port start took
	# records to a pipe whose last line is kept: the handler writes many
	# shellcheck disable=SC2016 # the inner bash expands them
	start_server "$T/port" python3 "$TCP_PY" serve-once --env "LAST=$T/last" \
		bash -c 'set -o pipefail; "$@" 2>&1 >&0 | tail -n 1 >"$LAST"' \
		bash "${HANDLER_CMD[@]}" -T 1 -t 60 -l -
	port=$(wait_line "$T/port")
	start=$(date +%s%N)
	# send lines and never read: the replies fill the socket buffers
	timeout -k 5 30 python3 - "$port" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(0.5)
chunk = b"x\n" * 65536
end = time.monotonic() + 20
while time.monotonic() < end:
    try:
        s.send(chunk)
    except socket.timeout:
        pass
    except OSError:
        break  # the handler has gone
EOF
	status=0
	wait "${SERVER_PIDS[-1]}" || status=$?
	took=$((($(date +%s%N) - start) / 1000000))
	[ "$status" -eq 1 ]
	# 1 s, and up to 2 s more draining what the client still sends
	[ "$took" -le 8000 ] || { echo "took $took ms"; false; }
	grep -qE "^${TS_RE}127\.0\.0\.1:[0-9]+ disconnect: [0-9]+ messages, [0-9]+ bytes, timeout$" \
		"$T/last" || { cat "$T/last"; false; }
}

@test "-T 1 ends a silent client at the session limit, before the idle timeout" {
	local start took
	: >"$T/in"
	start=$(date +%s%N)
	talk "$T/in" --no-shutdown -- -T 1 -t 10 -l "$T/F"
	took=$((($(date +%s%N) - start) / 1000000))
	[ "$status" -eq 1 ]
	[ "$took" -ge 900 ] && [ "$took" -le 6000 ] || { echo "took $took ms"; false; }
	file_is "$T/out" 'hello\nerror session time limit\n'
	records_are "$T/F" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport disconnect: 0 messages, 0 bytes, timeout"
}

@test "with -T a conversation that ends in time is not cut" {
	printf 'hi\nthere\n' >"$T/in"
	converse "$T/in" -T 5 -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: hi' \
		'local #2 receive message: there' \
		'local disconnect: 2 messages, 7 bytes, eof'
}

@test "-T takes a number from 0 to 2000000 and names a bad value" {
	local v
	for v in -1 2000001 abc '' 1.5 ' 1' 1s; do
		handler_usage_error "-T: bad value '$v' (a number from 0 to 2000000)" -T "$v"
	done
	handler_usage_error '-T needs a value' -T
	printf 'hi\n' >"$T/in"
	converse "$T/in" -T 2000000 -T 0 -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
}

# ---- the socket ----

@test "on a TCP connection the handler sets TCP_NODELAY and keepalive: 60 s idle, then 6 probes 10 s apart" {
	need strace python3
	local port
	start_server "$T/port" python3 "$TCP_PY" serve-once env "ASAN_OPTIONS=$LSAN_OFF" \
		strace -f -qq -o "$T/trace" -e trace=setsockopt \
		"${HANDLER_CMD[@]}" -l "$T/F"
	port=$(wait_line "$T/port")
	printf 'hi\n' | timeout -k 5 20 python3 "$TCP_PY" client 127.0.0.1 "$port" \
		--port-file "$T/cport" >"$T/out"
	status=0
	wait "${SERVER_PIDS[-1]}" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	diff -u <(printf '%s\n' 'setsockopt(0, TCP, TCP_NODELAY, [1], 4) = 0' \
		'setsockopt(0, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0' \
		'setsockopt(0, TCP, TCP_KEEPIDLE, [60], 4) = 0' \
		'setsockopt(0, TCP, TCP_KEEPINTVL, [10], 4) = 0' \
		'setsockopt(0, TCP, TCP_KEEPCNT, [6], 4) = 0') \
		<(sed -E 's/^[0-9]+ +//; s/(SOL_TCP|IPPROTO_TCP)/TCP/' "$T/trace")
}

@test "on a pipe the handler sets no socket option and serves as usual" {
	need strace
	printf 'hi\n' >"$T/in"
	status=0
	ASAN_OPTIONS=$LSAN_OFF timeout -k 5 20 strace -f -qq -o "$T/trace" \
		-e trace=setsockopt "${HANDLER_CMD[@]}" -l "$T/F" <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	file_is "$T/err" ''
	[ "$(grep -c 'setsockopt(' "$T/trace")" -eq 1 ]
	grep -qE 'setsockopt\(0, (SOL_TCP|IPPROTO_TCP), TCP_NODELAY, \[1\], 4\) = -1 ENOTSOCK' \
		"$T/trace"
}
