#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The handler under stunnel's exec mode: a TLS client's own address and
# port in the records, not stunnel's socket.

load helpers

# the peer must come from the test, never from the caller's environment
unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT

# stunnel_handler: stunnel4 in the foreground on a free loopback port ($sport),
# exec'ing the handler for each TLS client; a port that something else
# took meanwhile gets one more try
stunnel_handler() {
	local try i
	for try in 1 2; do
		sport=$(free_port)
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
	stunnel_handler
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
