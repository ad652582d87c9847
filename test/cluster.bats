#!/usr/bin/env bats
# Across machines, the rsyslog part: msgd-handler -s on a node whose /dev/log
# is the node rsyslog's socket (examples/rsyslog-node.conf), forwarded over
# RELP to a central rsyslog (examples/rsyslog-central.conf) that writes one
# file a day.  Both run the shipped files with only addresses, ports and
# paths rewritten; everything listens on 127.0.0.1 or under $T, and the
# handler sees the node's socket as /dev/log in a private mount namespace.

load helpers

# the peer must come from the test, never from the caller's environment
unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT

PATH=$PATH:/usr/sbin:/sbin
EXAMPLES=$BATS_TEST_DIRNAME/../examples

# a line of the central's day file before the record: the time the node
# got it (UTC, microseconds), the node's host name, ident and pid
CENTRAL_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00 [^ ]+ msgd-handler\[[0-9]+\]: '

# need_rsyslog: skip unless rsyslogd and its RELP modules are installed
# (and ss, which the waits use)
need_rsyslog() {
	command -v ss >/dev/null || skip "needs ss (Debian package iproute2)"
	command -v rsyslogd >/dev/null ||
		skip "needs rsyslogd (Debian package rsyslog)"
	printf '%s\n' 'module(load="omrelp")' 'module(load="imrelp")' \
		'action(type="omfile" file="/dev/null")' >"$T/modules.conf"
	rsyslogd -N1 -f "$T/modules.conf" >/dev/null 2>&1 ||
		skip "needs rsyslog's omrelp and imrelp (Debian package rsyslog-relp)"
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
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

# forget PID: teardown is not to signal PID, which has ended
forget() {
	local keep=() p
	for p in "${SERVER_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	SERVER_PIDS=("${keep[@]}")
}

# stop_pid PID: SIGTERM a server and wait (at most 20 s) until it has ended
stop_pid() {
	local i
	kill "$1"
	for ((i = 0; i < 400; i++)); do
		alive "$1" || break
		sleep 0.05
	done
	alive "$1" && { echo "pid $1 still runs 20 s after SIGTERM"; return 1; }
	wait "$1" || true
	forget "$1"
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
		alive "$CENTRAL_PID" && stop_pid "$CENTRAL_PID"
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
	with_dev "$T/dev" timeout 20 "${HANDLER_CMD[@]}" -s <"$T/in" \
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
	# shellcheck disable=SC2016 # expanded by the inner bash
	start_server "$T/acks" with_dev "$T/dev" timeout 60 bash -c '
		for i in $(seq -w 1 200); do
			echo "outage $i"
			sleep 0.01
		done | "$@" -s' bash "${HANDLER_CMD[@]}"
	wait_grep "$T/acks" '^ok 50$' 30
	stop_pid "$CENTRAL_PID"
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
	stop_pid "$CENTRAL_PID"
	# past the queue's in-memory part (8000 records)
	seq -f 'spill %05g' 1 9000 >"$T/in"
	status=0
	with_dev "$T/dev" timeout 30 "${HANDLER_CMD[@]}" -s <"$T/in" \
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
	with_dev "$T/dev" timeout 20 "${HANDLER_CMD[@]}" -s <"$T/in" >"$T/out"
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	central_wait ' disconnect: ' 1 30
	stop_pid "$CENTRAL_PID"
	seq -f 'restart %03g' 1 50 >"$T/in"
	status=0
	with_dev "$T/dev" timeout 20 "${HANDLER_CMD[@]}" -s <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	[ "$(tail -n 1 "$T/out")" = 'bye 50' ]
	unix_drained "$T/dev/log"
	stop_pid "$NODE_PID"
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
