#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# One connection's bounds in the handler: the session cap -T, and the
# socket options it sets (TCP_NODELAY, keepalive) on a TCP connection.

load helpers

# the peer must come from the test, never from the caller's environment
unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT

# shellcheck disable=SC2034 # read by handler_usage_error (helpers.bash)
USAGE='usage: msgd-handler [-chVpsS] [-g TEXT] [-l FILE] [-m BYTES] [-t SECS] [-T SECS]'

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
	want+=("127.0.0.1:$me disconnect: $k message$([ "$k" -eq 1 ] || echo s), $bytes bytes, timeout")
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
	grep -qE "^${TS_RE}127\.0\.0\.1:[0-9]+ disconnect: [0-9]+ messages?, [0-9]+ bytes, timeout$" \
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
	grep -qE "^${TS_RE}127\.0\.0\.1:[0-9]+ disconnect: [0-9]+ messages?, [0-9]+ bytes, timeout$" \
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
	# shellcheck disable=SC2154 # cport is set by talk (helpers.bash)
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
	# fd 0's fstat says it is no socket: not even a try
	[ "$(grep -c 'setsockopt(' "$T/trace")" -eq 0 ]
}
