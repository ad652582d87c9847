#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Across machines, the rsyslog part: msgd-handler -s on a node whose /dev/log
# is the node rsyslog's socket (examples/rsyslog-node.conf), forwarded over
# RELP to a central rsyslog (examples/rsyslog-central.conf) that writes one
# file a day.  Both run the shipped files with only addresses, ports and
# paths rewritten; everything listens on 127.0.0.1 or under $T, and the
# handler sees the node's socket as /dev/log in a private mount namespace.
# The front (HAProxy in front of two nodes, TLS through stunnel) comes after.

load helpers

# the peer must come from the test, never from the caller's environment
unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT

PATH=$PATH:/usr/sbin:/sbin
EXAMPLES=$BATS_TEST_DIRNAME/../examples

# a line of the central's day file before the record: the time the node
# got it (UTC, microseconds), the node's host name, ident and pid
CENTRAL_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00 [^ ]+ msgd-handler\[[0-9]+\]: '

# every test here runs python3: free ports, clients, a syslog reader
setup() {
	common_setup
	need python3
}

# need_rsyslog: skip unless rsyslogd and its RELP modules are installed
# (and ss, which the waits use)
need_rsyslog() {
	need ss rsyslogd
	printf '%s\n' 'module(load="omrelp")' 'module(load="imrelp")' \
		'action(type="omfile" file="/dev/null")' >"$T/modules.conf"
	rsyslogd -N1 -f "$T/modules.conf" >/dev/null 2>&1 ||
		skip "needs rsyslog's omrelp and imrelp (Debian package rsyslog-relp)"
}

# rewrite FILE OLD NEW: every OLD in FILE becomes NEW, literally; OLD must
# be there (if not, the shipped config has changed under the test)
rewrite() {
	local text
	grep -qF -- "$2" "$1" || { echo "$1: no '$2' to rewrite"; return 1; }
	text=$(cat "$1")
	printf '%s\n' "${text//"$2"/"$3"}" >"$1"
}

# configure NAME: $T/NAME.conf from examples/rsyslog-NAME.conf, REWRITES
# applied (OLD NEW pairs), checked by rsyslogd -N1; nothing of the machine's
# (/var, /dev/log) left in it
configure() {
	local conf=$T/$1.conf
	shift
	cp "$EXAMPLES/rsyslog-${conf##*/}" "$conf"
	while [ "$#" -ge 2 ]; do
		rewrite "$conf" "$1" "$2" || return 1
		shift 2
	done
	! grep -nE '"/var/|"/dev/' "$conf" || { echo "$conf: machine paths left"; return 1; }
	rsyslogd -N1 -f "$conf" >"$T/check.out" 2>&1 || { cat "$T/check.out"; return 1; }
}

# alive PID: PID runs (a zombie has ended)
alive() {
	[ -e "/proc/$1" ] && [ "$(cut -d ' ' -f 3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# central_up: the central rsyslog on 127.0.0.1:$PORT, listening when this
# returns (at most 10 s); its PID in CENTRAL_PID
central_up() {
	local i
	CENTRAL_RUNS=$((${CENTRAL_RUNS:-0} + 1))
	mkdir -p "$T/central/work" "$T/central/log"
	configure central \
		'workDirectory="/var/spool/rsyslog"' "workDirectory=\"$T/central/work\"" \
		'address="0.0.0.0" port="2514"' "address=\"127.0.0.1\" port=\"$PORT\"" \
		'"/var/log/msgd/' "\"$T/central/log/" || return 1
	start_server "$T/central.$CENTRAL_RUNS.out" rsyslogd -n \
		-f "$T/central.conf" -i "$T/central.pid"
	CENTRAL_PID=${SERVER_PIDS[-1]}
	for ((i = 0; i < 200; i++)); do
		ss -Hltnp "sport = :$PORT" | grep -q "pid=$CENTRAL_PID," && return 0
		alive "$CENTRAL_PID" || break
		sleep 0.05
	done
	echo "central rsyslog not listening on 127.0.0.1:$PORT:"
	cat "$T/central.$CENTRAL_RUNS.out.err"
	return 1
}

# node_up: the node rsyslog, forwarding to the central, its socket at
# $T/dev/log (with_dev's /dev/log) when this returns (at most 10 s); its
# PID in NODE_PID
node_up() {
	local i
	NODE_RUNS=$((${NODE_RUNS:-0} + 1))
	mkdir -p "$T/dev" "$T/node/work"
	configure node \
		'workDirectory="/var/spool/rsyslog"' "workDirectory=\"$T/node/work\"" \
		'Socket="/dev/log"' "Socket=\"$T/dev/log\"" \
		'target="central.example.net"' 'target="127.0.0.1"' \
		'port="2514"' "port=\"$PORT\"" || return 1
	start_server "$T/node.$NODE_RUNS.out" rsyslogd -n \
		-f "$T/node.conf" -i "$T/node.pid"
	NODE_PID=${SERVER_PIDS[-1]}
	for ((i = 0; i < 200; i++)); do
		[ -S "$T/dev/log" ] && return 0
		alive "$NODE_PID" || break
		sleep 0.05
	done
	echo "node rsyslog made no socket $T/dev/log:"
	cat "$T/node.$NODE_RUNS.out.err"
	return 1
}

# start_cluster: a central rsyslog on a free port (another if that one was
# taken meanwhile), then a node rsyslog that forwards to it
start_cluster() {
	PORT=$(free_port)
	if ! central_up; then
		alive "$CENTRAL_PID" && stop_pid "$CENTRAL_PID" 20
		PORT=$(free_port)
		central_up || return 1
	fi
	node_up
}

# central_lines: the central's day files (one, unless the test crossed
# midnight)
central_lines() {
	cat "$T"/central/log/*.log 2>/dev/null || true
}

# central_records: the records at the central without CENTRAL_RE, one a
# line; a line without it comes out as "BAD: LINE"
central_records() {
	central_lines | sed -E "/$CENTRAL_RE/!s/^/BAD: /; s/$CENTRAL_RE//"
}

# central_wait ERE COUNT SECS: wait (at most SECS) until COUNT lines at the
# central match ERE
central_wait() {
	local i n
	for ((i = 0; i < $3 * 20; i++)); do
		n=$(central_lines | grep -cE -- "$1" || true)
		[ "$n" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "$n lines matching '$1' at the central after $3 s, not $2"
	return 1
}

# wait_lines FILE N SECS: wait (at most SECS) until FILE has N lines
wait_lines() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		[ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "$1 has $(wc -l <"$1") lines after $3 s, not $2"
	return 1
}

# unix_drained SOCK: wait (at most 10 s) until nothing waits unread on the
# datagram socket SOCK: the node rsyslog has taken every record
unix_drained() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(ss -Hxa src "$1" | awk '{ print $3 }')" = 0 ] && return 0
		sleep 0.05
	done
	echo "records still unread on $1 after 10 s:"
	ss -Hxa src "$1"
	return 1
}

# texts PREFIX: the message texts at the central that start with PREFIX,
# sorted, one a line
texts() {
	central_records | sed -n "s/^local #[0-9]* receive message: \\($1.*\\)\$/\\1/p" |
		sort
}

# duplicates: how many lines at the central are the copy of an earlier one
# (a resent record is the same line: same node time, pid and number)
duplicates() {
	central_lines | sort | uniq -d | wc -l
}

@test "a handler's records reach the central rsyslog once each, bytes intact, with the node's name" {
	need_mount_ns
	need_rsyslog
	start_cluster
	{
		printf '你好 世界 world\n'
		printf 'tab\there\001\033[31m\177 back\\slash \377\376 \342\200\250 end   \n'
		printf '\n'
		# the longest record -s sends: 2008 bytes escaped to 8032
		head -c 2008 /dev/zero | tr '\0' '\1'
		printf '\n'
		printf '中%.0s' $(seq 669)
		printf 'x\n'
		head -c 2009 /dev/zero | tr '\0' a
		printf '\n'
	} >"$T/in"
	status=0
	with_dev "$T/dev" timeout -k 5 20 "${HANDLER_CMD[@]}" -s <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nok 4\nok 5\nerror line too long (max 2008 bytes)\nbye 5\n'
	file_is "$T/err" ''
	central_wait ' disconnect: ' 1 30
	diff -a -u <(printf '%s\n' 'local connect' \
		'local #1 receive message: 你好 世界 world' \
		'local #2 receive message: tab\x09here\x01\x1b[31m\x7f back\\slash \xff\xfe \xe2\x80\xa8 end   ' \
		'local #3 receive message: ' \
		"local #4 receive message: $(printf '\\x01%.0s' $(seq 2008))" \
		"local #5 receive message: $(printf '中%.0s' $(seq 669))x" \
		'local #- rejected: line too long (2009 bytes)' \
		'local disconnect: 5 messages, 4075 bytes, eof') <(central_records)
	# one handler, and the node named as rsyslog names it (no domain)
	[ "$(central_lines | grep -oE 'msgd-handler\[[0-9]+\]' | sort -u | wc -l)" -eq 1 ]
	host=$(hostname)
	[ "$(central_lines | cut -d ' ' -f 2 | sort -u)" = "${host%%.*}" ]
}

@test "records sent while the central rsyslog is down wait on the node, and each arrives once when it is back" {
	need_mount_ns
	need_rsyslog
	start_cluster
	# one connection, 200 messages 10 ms apart
	dev_pre "$T/dev"
	# shellcheck disable=SC2016 # expanded by the inner bash
	start_server "$T/acks" "${DEV_PRE[@]}" timeout -k 5 60 bash -c '
		for i in $(seq -w 1 200); do
			echo "outage $i"
			sleep 0.01
		done | "$@" -s' bash "${HANDLER_CMD[@]}"
	wait_grep "$T/acks" '^ok 50$' 30
	stop_pid "$CENTRAL_PID" 20
	down=$(grep -c '^ok ' "$T/acks")
	wait_grep "$T/acks" '^ok 150$' 30
	central_up
	up=$(grep -c '^ok ' "$T/acks")
	wait_grep "$T/acks" '^bye 200$' 30
	diff -u <(echo hello; seq -f 'ok %g' 1 200; echo 'bye 200') "$T/acks"
	central_wait ' disconnect: ' 1 60
	# all of them, once, in order
	diff -u <(echo 'local connect'
		seq -w 1 200 | awk '{ printf "local #%d receive message: outage %s\n", NR, $1 }'
		echo 'local disconnect: 200 messages, 2000 bytes, eof') <(central_records)
	echo "# outage: 200 acknowledged, $((up - down)) of them while the central was down; 200 arrived, none twice" >&3
}

@test "a backlog spills to disk on the node while the central rsyslog is down, and all of it arrives when it is back" {
	need_mount_ns
	need_rsyslog
	start_cluster
	stop_pid "$CENTRAL_PID" 20
	# past the queue's in-memory part (8000 records)
	seq -f 'spill %05g' 1 9000 >"$T/in"
	status=0
	with_dev "$T/dev" timeout -k 5 30 "${HANDLER_CMD[@]}" -s <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	[ "$(tail -n 1 "$T/out")" = 'bye 9000' ]
	for ((i = 0; i < 400; i++)); do
		[ -s "$T/node/work/msgd-central.00000001" ] && break
		sleep 0.05
	done
	[ -s "$T/node/work/msgd-central.00000001" ]
	central_up
	# the disk part comes after the records that stayed in memory: wait
	# for the count
	central_wait 'receive message: spill ' 9000 60
	central_wait ' disconnect: ' 1 10
	diff -u <(seq -f 'spill %05g' 1 9000) <(texts spill | uniq)
	# Duplicates, honestly: the records rsyslog was retrying as the queue
	# moved to disk come again (the same line twice, node time and all,
	# so a reader can drop them); we saw this handler's connect and #1
	dups=$(duplicates)
	echo "# spill: 9002 records queued, $(central_lines | wc -l) lines arrived, $dups twice" >&3
	[ "$(central_lines | wc -l)" -eq $((9002 + dups)) ]
	central_lines | sort | uniq -d | sed -E "s/$CENTRAL_RE//" >"$T/dups"
	grep -v -e '^local connect$' -e '^local #1 receive message: spill 00001$' \
		"$T/dups" >"$T/otherdups" || true
	file_is "$T/otherdups" ''
}

@test "a node rsyslog restarted while the central is down keeps its queue on disk; only the record RELP had in flight is lost" {
	need_mount_ns
	need_rsyslog
	start_cluster
	printf 'before\n' >"$T/in"
	with_dev "$T/dev" timeout -k 5 20 "${HANDLER_CMD[@]}" -s <"$T/in" >"$T/out"
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	central_wait ' disconnect: ' 1 30
	stop_pid "$CENTRAL_PID" 20
	seq -f 'restart %03g' 1 50 >"$T/in"
	status=0
	with_dev "$T/dev" timeout -k 5 20 "${HANDLER_CMD[@]}" -s <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	[ "$(tail -n 1 "$T/out")" = 'bye 50' ]
	unix_drained "$T/dev/log"
	stop_pid "$NODE_PID" 20
	# saved on shutdown
	[ -s "$T/node/work/msgd-central.qi" ]
	node_up
	central_up
	central_wait 'receive message: restart 050$' 1 60
	central_wait ' disconnect: 50 messages' 1 10
	# The first record after the central went away was written into the
	# dead RELP session; librelp keeps it (to resend on reconnect) in
	# memory only, and the restart drops it.  The record in retry at
	# shutdown is saved to disk and comes twice.
	diff -u <(seq -f 'restart %03g' 1 50) <(texts restart | uniq)
	lost=$((3 + 52 - $(central_lines | sort -u | wc -l)))
	dups=$(duplicates)
	echo "# restart: 52 records queued, $lost lost, $dups twice" >&3
	[ "$lost" -le 1 ]
	central_lines | sort | uniq -d | sed -E "s/$CENTRAL_RE//" >"$T/dups"
	grep -v '^local #1 receive message: restart 001$' "$T/dups" \
		>"$T/otherdups" || true
	file_is "$T/otherdups" ''
	# if one is lost, it is the first the node took after the central
	# went away: this handler's connect
	[ "$(central_lines | grep -c ' connect$')" -eq $((2 - lost)) ]
}

# ---- the front: HAProxy in front of msgd nodes, TLS through stunnel ----
#
# Two nodes, msgd-launcher -p 127.0.0.1 on 127.0.0.2 and 127.0.0.3, behind
# HAProxy on 127.0.0.1 (which reaches them from 127.0.0.1, as Linux picks
# it for the loopback network: so -p 127.0.0.1), each run from the shipped
# examples/ file with only addresses, ports, paths and the check interval
# rewritten.  Clients connect from 127.0.0.10 to 127.0.0.19, so a record
# that names one of those names the client, not a relay.

need_haproxy() {
	need ss haproxy
	need_root "examples/haproxy.cfg chroots and becomes user haproxy"
	id haproxy >/dev/null 2>&1 || skip "needs the user haproxy (Debian package haproxy)"
}

need_stunnel() {
	need ss stunnel4 openssl
	need_root "examples/stunnel-*.conf become user nobody"
}

# example NAME OLD NEW...: $T/NAME from examples/NAME with each OLD
# replaced by its NEW (rewrite), @SBINDIR@ by the programs' directory;
# no machine path (/etc, /var, /run) left in what it says
example() {
	local conf=$T/$1
	cp "$EXAMPLES/$1" "$conf"
	shift
	while [ "$#" -ge 2 ]; do
		rewrite "$conf" "$1" "$2" || return 1
		shift 2
	done
	if grep -qF @SBINDIR@ "$conf"; then
		rewrite "$conf" @SBINDIR@ "$MSGD_BIN" || return 1
	fi
	! grep -vE '^[[:space:]]*[#;]' "$conf" | grep -nE '(^|[ =])/(etc|var|run)/' ||
		{ echo "$conf: machine paths left"; return 1; }
}

# listening PID PORT: wait (at most 10 s) until PID listens on TCP PORT;
# fail at once if PID ends (the port was taken meanwhile, say)
listening() {
	local i
	for ((i = 0; i < 200; i++)); do
		ss -Hltnp "sport = :$2" | grep -q "pid=$1," && return 0
		alive "$1" || return 1
		sleep 0.05
	done
	echo "pid $1 not listening on port $2 after 10 s"
	return 1
}

# msgd_node N ADDR: a node, "msgd-launcher -1 -p 127.0.0.1 ADDR 0 handler
# -l $T/nodeN.log" (records to a file, the rsyslog part being tested
# above); its pid in NODE_PID[N], its port in NODE_PORT[N]
NODE_PID=()
NODE_PORT=()
msgd_node() {
	start_server "$T/node$1.port" "$MSGD_BIN/msgd-launcher" -1 -p 127.0.0.1 \
		"$2" 0 "${HANDLER_CMD[@]}" -l "$T/node$1.log"
	NODE_PID[$1]=${SERVER_PIDS[-1]}
	NODE_PORT[$1]=$(wait_line "$T/node$1.port") || return 1
	wait_grep "$T/node$1.port.err" '^msgd-launcher: listening on '
}

# haproxy_up: HAProxy from examples/haproxy.cfg on 127.0.0.1:$HPORT in
# front of nodes 1 and 2, checking each every 200 ms; its log socket (in
# its chroot) read by tcp.py syslog into $T/haproxy.log; its pid in
# HAPROXY_PID.  A port taken meanwhile gets one more try.
haproxy_up() {
	local try
	mkdir -p "$T/chroot/dev"
	start_server "$T/haproxy.log" python3 "$TCP_PY" syslog "$T/chroot/dev/log"
	wait_line "$T/haproxy.log" >/dev/null || return 1
	# HAProxy writes to it as user haproxy, as to Debian's /dev/log
	chmod 666 "$T/chroot/dev/log"
	for try in 1 2; do
		HPORT=$(free_port)
		example haproxy.cfg 'bind :9100' "bind 127.0.0.1:$HPORT" \
			'chroot /var/lib/haproxy' "chroot $T/chroot" \
			/run/haproxy/admin.sock "$T/admin.sock" \
			'inter 2s' 'inter 200ms' \
			'server node1 10.0.1.1:9100' "server node1 127.0.0.2:${NODE_PORT[1]}" \
			'server node2 10.0.1.2:9100' "server node2 127.0.0.3:${NODE_PORT[2]}" ||
			return 1
		haproxy -c -q -f "$T/haproxy.cfg" || return 1
		start_server "$T/haproxy.out" haproxy -db -f "$T/haproxy.cfg"
		HAPROXY_PID=${SERVER_PIDS[-1]}
		listening "$HAPROXY_PID" "$HPORT" && return 0
		echo "haproxy (try $try) did not start:"
		cat "$T/haproxy.out.err"
		alive "$HAPROXY_PID" && stop_pid "$HAPROXY_PID" 20
	done
	return 1
}

# cluster_up: nodes 1 (127.0.0.2) and 2 (127.0.0.3) behind HAProxy
cluster_up() {
	msgd_node 1 127.0.0.2 && msgd_node 2 127.0.0.3 && haproxy_up
}

# swarm_py: writes $T/swarm.py, run as
#   swarm.py PORT OUT WORKERS CONNS MSGS PAUSE [FLAG,FLAG... AFTER]
# WORKERS clients at once, worker w from 127.0.0.(10 + w % 10), each opening
# connection after connection to 127.0.0.1:PORT: hello, MSGS messages
# "wWWcCCCmMM" each sent after the ok of the one before (PAUSE seconds
# apart), half-close, bye.  A conversation's phase is the name of the last
# FLAG file that existed as it began, else "before".  A worker stops after
# CONNS conversations, and with FLAGs not before AFTER of them began in the
# last FLAG's phase (at most 60 s in all).  OUT, line by line as it happens:
#   ack ADDR:PORT TEXT               the message TEXT got its ok
#   conn ADDR:PORT PHASE bye         a whole conversation
#   conn ADDR:PORT PHASE error WHAT  anything else
swarm_py() {
	cat >"$T/swarm.py" <<'EOF'
import os, socket, sys, threading, time
port, out = int(sys.argv[1]), sys.argv[2]
workers, conns, msgs = (int(a) for a in sys.argv[3:6])
pause = float(sys.argv[6])
flags = sys.argv[7].split(",") if len(sys.argv) > 7 else []
after = int(sys.argv[8]) if len(sys.argv) > 8 else 0
end = time.monotonic() + 60
lock = threading.Lock()
log = open(out, "w")

def emit(line):
    with lock:
        log.write(line + "\n")
        log.flush()

def expect(f, want):
    got = f.readline()
    if got != want:
        raise ValueError("got %r, not %r" % (got, want))

def conversation(w, c, src):
    phase = "before"
    for flag in flags:
        if os.path.exists(flag):
            phase = os.path.basename(flag)
    me = src + ":?"
    try:
        with socket.socket() as s:
            s.settimeout(15)
            s.bind((src, 0))
            me = "%s:%d" % s.getsockname()
            s.connect(("127.0.0.1", port))
            f = s.makefile("rb")
            expect(f, b"hello\n")
            for m in range(1, msgs + 1):
                text = "w%02dc%03dm%02d" % (w, c, m)
                s.sendall(text.encode() + b"\n")
                expect(f, b"ok %d\n" % m)
                emit("ack %s %s" % (me, text))
                time.sleep(pause)
            s.shutdown(socket.SHUT_WR)
            expect(f, b"bye %d\n" % msgs)
            expect(f, b"")
        emit("conn %s %s bye" % (me, phase))
    except (OSError, ValueError) as e:
        emit("conn %s %s error %s" % (me, phase, e))
    return phase

def worker(w):
    src, n, late = "127.0.0.%d" % (10 + w % 10), 0, 0
    while n < conns or (flags and late < after):
        if time.monotonic() > end:
            emit("deadline worker %d" % w)
            return
        n += 1
        phase = conversation(w, n, src)
        late += bool(flags) and phase == os.path.basename(flags[-1])

threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
EOF
}

# client_records FILE...: the records of FILE... from clients (not the
# health checks' 127.0.0.1), time stamp and ident taken off, sorted
client_records() {
	cat "$@" | sed -E "/^$TS_RE/!s/^/BAD: /; s/^$TS_RE//" |
		grep -v '^127\.0\.0\.1:' | sort || true
}

# acked OUT: "ADDR:PORT TEXT" for every message of swarm's OUT that got its
# ok; recorded FILE...: the same from the records of FILE..., sorted
acked() {
	sed -n 's/^ack //p' "$1" | sort
}
recorded() {
	client_records "$@" | sed -nE 's/^([^ ]+) #[0-9]+ receive message: /\1 /p'
}

# peers FILE...: the client addresses that connected in the records of FILE...
peers() {
	client_records "$@" | sed -n 's/ connect$//p' | sort -u
}

# node_kill N: node N dies as a machine would: its launcher stopped (so it
# forks no more), then it and every handler it runs, SIGKILL (the handlers
# are in process groups of their own: no group holds them all); how many
# handlers in KILLED, and in OPEN how many TCP sessions the node held at that
# moment: its handlers' and those it had not yet given a handler (in its
# listening backlog), which the
# kill cuts too.  HAProxy is held still from before the count until nothing
# listens or is connected on the node's port any more (a killed process
# closes its sockets only as it exits, which can take a while under ASan),
# so that no session reaches node 2 between the count and its death, as
# none could reach a machine switched off.
node_kill() {
	local pid=${NODE_PID[$1]} port=${NODE_PORT[$1]} kids i
	need ps ss
	kill -STOP "$HAPROXY_PID" "$pid"
	kids=$(ps -o pid= --ppid "$pid" || true)
	OPEN=$(ss -Htn state established "( sport = :$port )" | wc -l)
	# shellcheck disable=SC2086 # one word a pid
	kill -KILL "$pid" $kids
	KILLED=$(wc -w <<<"$kids")
	for ((i = 0; i < 400; i++)); do
		[ -z "$(ss -Htn state listening state established "( sport = :$port )")" ] &&
			break
		sleep 0.05
	done
	kill -CONT "$HAPROXY_PID"
	if [ "$i" -eq 400 ]; then
		echo "node $1's port $port still open 20 s after SIGKILL"
		return 1
	fi
}

@test "behind HAProxy two nodes share the clients, and every acknowledged message is recorded once, under the client's own address and port" {
	need_haproxy
	cluster_up
	# 20 clients at once from 10 addresses, 5 conversations of 5 messages each
	swarm_py
	timeout -k 5 120 python3 "$T/swarm.py" "$HPORT" "$T/swarm" 20 5 5 0
	[ "$(grep -c '^conn .* bye$' "$T/swarm")" -eq 100 ]
	[ "$(grep -vc '^ack \|^conn .* bye$' "$T/swarm")" -eq 0 ]
	# exactly the clients' conversations, each on one node, whole
	# shellcheck disable=SC2016 # awk's
	diff -u <(awk '$1 == "ack" { n[$2]++; print $2 " #" n[$2] " receive message: " $3 }
		$1 == "conn" { print $2 " connect"
			print $2 " disconnect: 5 messages, 50 bytes, eof" }' "$T/swarm" | sort) \
		<(client_records "$T/node1.log" "$T/node2.log")
	diff -u <(acked "$T/swarm") <(recorded "$T/node1.log" "$T/node2.log")
	[ -z "$(comm -12 <(peers "$T/node1.log") <(peers "$T/node2.log"))" ]
	n1=$(peers "$T/node1.log" | wc -l)
	n2=$(peers "$T/node2.log" | wc -l)
	[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ]
	[ "$((n1 + n2))" -eq 100 ]
	# the health checks (PROXY v2 LOCAL from HAProxy) left no record
	{ records "$T/node1.log"; records "$T/node2.log"; } >"$T/all"
	grep '^127\.0\.0\.1:' "$T/all" >"$T/odd" || true
	file_is "$T/odd" ''
	echo "# haproxy: 100 conversations, $n1 on node 1, $n2 on node 2" >&3
}

# stat_field SERVER FIELD: FIELD of msgd_nodes/SERVER in HAProxy's
# "show stat" (CSV) from its admin socket
stat_field() {
	python3 - "$T/admin.sock" "$1" "$2" <<'EOF'
import csv, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
rows = list(csv.reader(data.decode().lstrip("# ").splitlines()))
head = rows[0]
for row in rows[1:]:
    if row[:2] == ["msgd_nodes", sys.argv[2]]:
        print(row[head.index(sys.argv[3])])
EOF
}

@test "HAProxy's health checks pass and leave no record and no line in the nodes' logs" {
	need_haproxy
	cluster_up
	# 200 ms apart: in 3 s about 15 checks a node, each a handler
	sleep 3
	local cs
	for n in 1 2; do
		[ "$(stat_field "node$n" status)" = UP ]
		# the last check's result; "* " before it while the next one
		# runs (HAProxy's management guide, check_status)
		cs=$(stat_field "node$n" check_status)
		echo "node$n: check_status '$cs'" >&2
		[[ $cs =~ ^(\*\ )?L7OK$ ]]
		[ "$(stat_field "node$n" chkfail)" = 0 ]
		kill -USR1 "${NODE_PID[$n]}"
	done
	for n in 1 2; do
		wait_grep "$T/node$n.port.err" '^msgd-launcher: status: ' 10
		served=$(sed -nE 's/^msgd-launcher: status: .* ([0-9]+) served, .*/\1/p' "$T/node$n.port.err")
		echo "node $n: $served checks served" >&2
		[ "$served" -ge 5 ]
		# the log: listening, the status line asked for, nothing else
		[ "$(grep -cvE '^msgd-launcher: (listening on|status: )' "$T/node$n.port.err")" -eq 0 ]
		[ ! -s "$T/node$n.log" ]
	done
	# a client through HAProxy is recorded as ever
	printf 'hi\n' | timeout -k 5 20 "$MSGD_BIN/msgd-client" -a 127.0.0.1 "$HPORT" >"$T/out"
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	[ "$(cat "$T/node1.log" "$T/node2.log" | grep -c ' #1 receive message: hi$')" -eq 1 ]
}

@test "a node killed mid-run cuts only its open sessions: clients after it go to the other node, and no acknowledged message is missing" {
	need_haproxy
	cluster_up
	# 10 clients at once, conversations of 5 messages 20 ms apart, until
	# each has begun 5 after the file down exists
	swarm_py
	: >"$T/swarm"
	start_server "$T/swarm.out" timeout -k 5 120 python3 "$T/swarm.py" "$HPORT" \
		"$T/swarm" 10 0 5 0.02 "$T/killed,$T/down" 5
	SWARM_PID=${SERVER_PIDS[-1]}
	wait_count "$T/swarm" '^conn .* bye$' 40 30
	[ "$(grep -c '^conn .* bye$' "$T/swarm")" -ge 40 ]
	start=$(date +%s%N)
	node_kill 2
	touch "$T/killed"
	wait_grep "$T/haproxy.out.err" 'Server msgd_nodes/node2 is DOWN' 20
	noticed=$((($(date +%s%N) - start) / 1000000))
	touch "$T/down"
	for ((i = 0; i < 1200; i++)); do
		alive "$SWARM_PID" || break
		sleep 0.05
	done
	if alive "$SWARM_PID"; then
		echo "the clients still run 60 s after node 2 went down"
		false
	fi
	wait "$SWARM_PID"
	forget "$SWARM_PID"
	[ "$(grep -c '^deadline' "$T/swarm")" -eq 0 ]
	# Every client that began after the kill had a whole conversation:
	# before the check noticed, HAProxy's retries and redispatch took
	# those sent to node 2 to node 1; after, all went to node 1.
	[ "$(grep -c '^conn [^ ]* down bye$' "$T/swarm")" -eq 50 ]
	[ "$(grep -c '^conn [^ ]* \(killed\|down\) error ' "$T/swarm")" -eq 0 ]
	late=$(sed -n 's/^conn \([^ ]*\) \(killed\|down\) bye$/\1/p' "$T/swarm" | sort)
	[ -z "$(comm -23 <(echo "$late") <(peers "$T/node1.log"))" ]
	# every ok had its record, on one node, once; node 2 had its share
	[ -z "$(comm -23 <(acked "$T/swarm") <(recorded "$T/node1.log" "$T/node2.log"))" ]
	[ -z "$(recorded "$T/node1.log" "$T/node2.log" | uniq -d)" ]
	[ -z "$(comm -12 <(peers "$T/node1.log") <(peers "$T/node2.log"))" ]
	[ "$(peers "$T/node2.log" | wc -l)" -gt 0 ]
	[ "$(client_records "$T/node1.log" "$T/node2.log" | grep -c '^BAD: ')" -eq 0 ]
	# only the sessions node 2 had at the kill were cut
	cut=$(grep -c '^conn .* error ' "$T/swarm" || true)
	[ "$cut" -le "$OPEN" ]
	between=$(grep -c '^conn [^ ]* killed ' "$T/swarm" || true)
	echo "# kill: $OPEN sessions open on node 2, $KILLED handlers killed, noticed in $noticed ms; $(grep -c '^conn ' "$T/swarm") conversations, $cut cut short, $between begun in between, all whole; $(acked "$T/swarm" | wc -l) oks, all recorded" >&3
}

# tls_client PORT SRC PORTFILE: a TLS client from SRC to 127.0.0.1:PORT
# (no certificate check): send stdin, read the replies to its lines, then
# end its side with close_notify, as a TLS half-close, and read on until the
# server's; everything received on stdout, its own port in PORTFILE
tls_client() {
	local py
	py=$(cat <<'EOF'
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
raw = socket.socket()
raw.settimeout(10)
raw.bind((sys.argv[2], 0))
raw.connect(("127.0.0.1", int(sys.argv[1])))
with open(sys.argv[3], "w") as f:
    f.write("%d\n" % raw.getsockname()[1])
# TLS over memory buffers: Python's unwrap() would wait for the server's
# close_notify and refuse the data before it
into, outof = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(into, outof)

def flush():
    raw.sendall(outof.read())

def fill():
    d = raw.recv(65536)
    if d:
        into.write(d)
    else:
        into.write_eof()
    return bool(d)

def read(lines):
    got = b""
    while lines is None or got.count(b"\n") < lines:
        try:
            d = tls.read(65536)
        except ssl.SSLWantReadError:
            flush()
            if fill():
                continue
            break
        except ssl.SSLZeroReturnError:
            break
        if not d:
            break
        got += d
    return got

while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        flush()
        fill()
data = sys.stdin.buffer.read()
tls.write(data)
flush()
got = read(data.count(b"\n") + 1)
try:
    tls.unwrap()
except ssl.SSLWantReadError:
    pass
flush()
sys.stdout.buffer.write(got + read(None))
EOF
)
	timeout -k 5 30 python3 -c "$py" "$@"
}

# a self-signed certificate for localhost: $T/cert.pem, $T/key.pem
make_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
		-subj /CN=localhost 2>"$T/openssl.err" ||
		{ cat "$T/openssl.err"; return 1; }
}

# stunnel_up NAME [OLD NEW]...: stunnel4 from examples/stunnel-NAME.conf
# on 127.0.0.1:$SPORT with $T's certificate, the other rewrites given;
# listening when this returns; a port taken meanwhile gets one more try
stunnel_up() {
	local name=$1 try
	shift
	for try in 1 2; do
		SPORT=$(free_port)
		example "stunnel-$name.conf" 'accept = 9101' "accept = 127.0.0.1:$SPORT" \
			/etc/stunnel/msgd.pem "$T/cert.pem" \
			/etc/stunnel/msgd.key "$T/key.pem" "$@" || return 1
		start_server "$T/stunnel.out" "${STUNNEL_PRE[@]}" stunnel4 \
			"$T/stunnel-$name.conf"
		listening "${SERVER_PIDS[-1]}" "$SPORT" && return 0
		echo "stunnel (try $try) did not start:"
		cat "$T/stunnel.out.err"
		alive "${SERVER_PIDS[-1]}" && stop_pid "${SERVER_PIDS[-1]}" 20
	done
	return 1
}
STUNNEL_PRE=()

@test "TLS through stunnel's exec mode: hello, ok, bye, and syslog records name the TLS client's own address and port" {
	need_stunnel
	need_mount_ns
	make_cert
	# the handlers' /dev/log (-s), written to as nobody
	mkdir -p "$T/dev"
	start_server "$T/syslog" python3 "$TCP_PY" syslog "$T/dev/log"
	wait_line "$T/syslog" >/dev/null
	chmod 666 "$T/dev/log"
	# exec'd all the way, so that the pid is stunnel's
	dev_pre "$T/dev"
	STUNNEL_PRE=("${DEV_PRE[@]}")
	stunnel_up exec
	printf 'hi over TLS\n你好\n' | tls_client "$SPORT" 127.0.0.11 "$T/cport" >"$T/out"
	me=127.0.0.11:$(cat "$T/cport")
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/syslog" ' disconnect: ' 10
	syslog_drain "$T/dev/log" "$T/syslog"
	diff -u <(printf '%s\n' "<30> $me connect" \
		"<30> $me #1 receive message: hi over TLS" \
		"<30> $me #2 receive message: 你好" \
		"<30> $me disconnect: 2 messages, 17 bytes, eof") <(syslog_records "$T/syslog")
	grep -q "Service \[msgd\] accepted connection from $me" "$T/stunnel.out.err"
	# nothing from the handler on stderr: every record went to syslog
	[ "$(grep -c 'msgd-handler' "$T/stunnel.out.err")" -eq 0 ]
}

@test "TLS through stunnel with protocol = proxy: hello, ok, bye, and the launcher's records name the TLS client's own address and port" {
	need_stunnel
	make_cert
	start_server "$T/launcher.port" "$MSGD_BIN/msgd-launcher" -1 -p 127.0.0.1 \
		127.0.0.1 0 "${HANDLER_CMD[@]}" -l "$T/F"
	lport=$(wait_line "$T/launcher.port")
	stunnel_up proxy 'connect = 127.0.0.1:9100' "connect = 127.0.0.1:$lport"
	printf 'hi over TLS\n你好\n' | tls_client "$SPORT" 127.0.0.12 "$T/cport" >"$T/out"
	me=127.0.0.12:$(cat "$T/cport")
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/F" ' disconnect: ' 10
	records_are "$T/F" "$me connect" \
		"$me #1 receive message: hi over TLS" \
		"$me #2 receive message: 你好" \
		"$me disconnect: 2 messages, 17 bytes, eof"
	# stunnel reached the launcher from 127.0.0.1, which -p trusts
	grep -q "Service \[msgd\] connected remote server from 127\.0\.0\.1:" \
		"$T/stunnel.out.err"
	[ "$(grep -c 'bad proxy header' "$T/launcher.port.err")" -eq 0 ]
}

@test "doc/cluster.md's TLS recipe: its test certificate, and socat and ncat as clients, get hello, ok, bye through stunnel" {
	need_stunnel
	need socat ncat
	# doc/cluster.md's block with the certificate command, paths and port changed
	awk '/^```sh$/ { inside = 1; block = ""; next }
		/^```$/ { if (inside && block ~ /openssl req/) { printf "%s", block; exit } inside = 0; next }
		inside { block = block $0 "\n" }' "$EXAMPLES/../doc/cluster.md" >"$T/recipe"
	grep -q '^openssl req -x509 ' "$T/recipe"
	sed -i -e "s|/etc/stunnel/msgd.key|$T/key.pem|g" -e "s|/etc/stunnel/msgd.pem|$T/cert.pem|g" "$T/recipe"
	grep -v '^printf ' "$T/recipe" >"$T/make-cert"
	grep '^printf ' "$T/recipe" >"$T/clients"
	[ "$(wc -l <"$T/clients")" -eq 2 ]
	sh -e "$T/make-cert" 2>"$T/openssl.err" || { cat "$T/openssl.err"; false; }
	start_server "$T/launcher.port" "$MSGD_BIN/msgd-launcher" -1 -p 127.0.0.1 \
		127.0.0.1 0 "${HANDLER_CMD[@]}" -l "$T/F"
	lport=$(wait_line "$T/launcher.port")
	stunnel_up proxy 'connect = 127.0.0.1:9100' "connect = 127.0.0.1:$lport"
	sed -i -e "s|127.0.0.1:9101|127.0.0.1:$SPORT|" -e "s|127.0.0.1 9101|127.0.0.1 $SPORT|" "$T/clients"
	run timeout -k 5 30 sh -e "$T/clients"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$output" = $'hello\nok 1\nbye 1\nhello\nok 1\nbye 1' ]
	wait_count "$T/F" ' disconnect: 1 message, 2 bytes, eof$' 2
}
