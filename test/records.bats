#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# msgd-handler's records under a hostile world: killed writers, shared
# pipes and files, syslog's size limit, and sinks that take nothing.  A
# record is whole or absent, never glued to another, and every wait on a
# sink has a bound.
# each @test runs in a subshell of its own: SERVER_PIDS is per test
# shellcheck disable=SC2030,SC2031

load helpers

unset TCPREMOTEIP TCPREMOTEPORT REMOTE_ADDR REMOTE_PORT

# every_line_whole FILE: each line of FILE is a whole record (TS_RE, a
# peer, then connect, a message, a rejection or a disconnect), the last
# with its LF, and none holds the start of another (a torn record glued to
# the next would pass for a message otherwise; no test's message holds one)
every_line_whole() {
	local bad
	# bytes, not characters: in a UTF-8 locale grep is slower by 30 times
	# on multi-MiB records, and the shape checked is all ASCII
	bad=$(LC_ALL=C grep -cvE "^${TS_RE}[^ ]+ (connect|#[0-9]+ receive message: .*|#- rejected: line too long \([0-9]+ bytes\)|disconnect: [0-9]+ messages?, [0-9]+ bytes, [a-z]+)\$" "$1" || true)
	[ "$bad" -eq 0 ] || {
		echo "$1: $bad lines are not whole records:"
		grep -vE "^${TS_RE}" "$1" | cut -c 1-200 | head -n 5
		return 1
	}
	bad=$(LC_ALL=C grep -cE ".${TS_RE}" "$1" || true)
	[ "$bad" -eq 0 ] || {
		echo "$1: $bad lines hold two records glued:"
		LC_ALL=C grep -oE ".{0,60}.${TS_RE}.{0,40}" "$1" | head -n 5
		return 1
	}
	[ ! -s "$1" ] || [ "$(tail -c 1 "$1" | od -An -tx1)" = " 0a" ] ||
		{ echo "$1: the last record has no newline"; return 1; }
}

# ctl_line N: N control bytes (0x01) and an LF; escaped, 4 N bytes
ctl_line() {
	head -c "$1" /dev/zero | tr '\0' '\1'
	printf '\n'
}

@test "a record file whose writer was killed mid-record is cut back to its last whole record before the next append" {
	local whole='2026-11-26T10:00:00.000Z msgd-handler[7]: local #1 receive message: kept'
	printf '%s\n%s' "$whole" '2026-11-26T10:00:00.001Z msgd-handler[7]: local #2 receive mes' \
		>"$T/F"
	printf 'next\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	[ "$(head -n 1 "$T/F")" = "$whole" ]
	sed 1d "$T/F" >"$T/F2"
	records_are "$T/F2" 'local connect' 'local #1 receive message: next' \
		'local disconnect: 1 message, 4 bytes, eof'
}

@test "a record file holding only a torn record is emptied before the next append" {
	printf '2026-11-26T10:00:00.001Z msgd-handler[7]: local #1 rece' >"$T/F"
	: >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	records_are "$T/F" 'local connect' 'local disconnect: 0 messages, 0 bytes, eof'
}

@test "a last line that is not a record of ours is never cut: it is ended with an LF before the records" {
	printf 'notes of the operator\nno newline at the end' >"$T/F"
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	[ "$(sed -n 1,2p "$T/F")" = $'notes of the operator\nno newline at the end' ]
	sed 1,2d "$T/F" >"$T/F2"
	records_are "$T/F2" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "an unfinished foreign line that starts with a date is never cut: only our whole record head marks a torn record" {
	printf 'notes\n2024-05-01 backup of /srv started' >"$T/F"
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	[ "$(sed -n 1,2p "$T/F")" = $'notes\n2024-05-01 backup of /srv started' ]
	sed 1,2d "$T/F" >"$T/F2"
	records_are "$T/F2" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "without /proc, on a stderr file shared with other handlers, a torn tail is ended with an LF, never cut" {
	need_mount_ns
	need python3
	# AddressSanitizer's runtime cannot start without /proc
	[ -z "${ASAN_OPTIONS:-}" ] || skip "an ASan build needs /proc"
	local torn='2026-11-26T10:00:00.001Z msgd-handler[7]: local #1 rece'
	printf '%s' "$torn" >"$T/F"
	printf 'hi\n' >"$T/in"
	status=0
	# /proc hidden: stderr cannot be reopened, so the lock is shared with
	# whoever shares the description and cutting could hit their records
	# stderr opened for reading and appending, as a launcher's log may be
	unshare -m --propagation private sh -c 'mount -t tmpfs none /proc && exec "$@"' sh \
		python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND)
os.dup2(fd, 2)
os.execvp(sys.argv[2], sys.argv[2:])' "$T/F" timeout -k 5 20 "${HANDLER_CMD[@]}" -l - \
		<"$T/in" >"$T/out" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	[ "$(head -n 1 "$T/F")" = "$torn" ]
	sed 1d "$T/F" >"$T/F2"
	records_are "$T/F2" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "handlers killed with SIGKILL or SIGTERM while writing 4 MiB records never leave a torn or glued record" {
	local i sig pid rounds=12
	[ -z "$MSGD_WRAP" ] || rounds=4
	# a 1 MiB line of control bytes is one 4 MiB record write
	ctl_line 1048576 >"$T/big"
	printf 'after\n' >"$T/small"
	for ((i = 0; i < rounds; i++)); do
		sig=KILL
		[ $((i % 2)) -eq 0 ] || sig=TERM
		timeout -k 5 20 "${HANDLER_CMD[@]}" -m 1048576 -l "$T/F" <"$T/big" \
			>/dev/null 2>&1 3>&- &
		pid=$!
		sleep "0.0$((RANDOM % 10))"
		kill -"$sig" "$pid" 2>/dev/null || true
		wait "$pid" || true
		# the next writer repairs whatever the kill left
		timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/F" <"$T/small" >"$T/out" 2>"$T/err"
		file_is "$T/out" 'hello\nok 1\nbye 1\n'
		every_line_whole "$T/F"
	done
	# and no record was cut short and ended: each message is all there
	# shellcheck disable=SC2016 # awk's
	LC_ALL=C awk '/ receive message: / { m = $0; sub(/.* receive message: /, "", m)
		if (m != "after" && !(length(m) == 4 * 1048576 && gsub(/\\x01/, "", m) == 1048576)) bad++ }
		END { if (bad) print bad " records are not whole"; exit bad > 0 }' "$T/F"
}

@test "a handler stuck at exit in LeakSanitizer's stop-the-world (a SIGCONT took its SIGSTOP) still ends on SIGTERM" {
	[[ ${ASAN_OPTIONS:-} == *detect_leaks=1* ]] ||
		skip "only a LeakSanitizer build (make sanitize) stops the world at exit"
	local i hp spam st stuck=0
	ctl_line 1048576 >"$T/big"
	# timeout(1) sends SIGCONT after each SIGTERM: a storm of them makes
	# one land between the tracer's attach and its SIGSTOP, for good
	for ((i = 0; i < 20 && !stuck; i++)); do
		"$MSGD_BIN/msgd-handler" -m 1048576 -l "$T/F" <"$T/big" >/dev/null 2>&1 3>&- &
		hp=$!
		(while kill -CONT "$hp" 2>/dev/null; do :; done) 3>&- &
		spam=$!
		sleep 3
		kill "$spam" 2>/dev/null || true
		wait "$spam" 2>/dev/null || true
		st=$(ps -o stat= -p "$hp" || true)
		if [ -n "$st" ] && [[ $st != Z* ]]; then
			stuck=1
			kill -TERM "$hp"
			sleep 2
			st=$(ps -o stat= -p "$hp" || true)
			kill -KILL "$hp" 2>/dev/null || true
			wait "$hp" 2>/dev/null || true
			[ -z "$st" ] || [[ $st == Z* ]] || { echo "SIGTERM left it: $st"; false; }
		fi
		wait "$hp" 2>/dev/null || true
	done
	[ "$stuck" -eq 1 ] || skip "no exit was stuck in $i tries"
}

@test "a SIGTERM that comes while the handler exits ends it with its own status: 0 after a whole conversation" {
	need strace
	[[ ${ASAN_OPTIONS:-} != *detect_leaks=1* ]] ||
		skip "LeakSanitizer's own tracer cannot attach under strace"
	local hp
	printf 'a\n' >"$T/in"
	# exit_group starts half a second late, and so does every
	# rt_sigaction return (a sanitizer's build sets SIGTERM up again at
	# exit): the SIGTERM lands there, after the disconnect record
	timeout -k 5 30 strace -f -qq -o /dev/null \
		-e trace=rt_sigaction,exit_group \
		-e inject=rt_sigaction:delay_exit=500000 \
		-e inject=exit_group:delay_enter=500000 \
		"$MSGD_BIN/msgd-handler" -l "$T/F" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
	SERVER_PIDS+=("$!")
	wait_grep "$T/F" ' disconnect: 1 message, 1 bytes, eof$'
	hp=$(grep -o 'msgd-handler\[[0-9]*\]' "$T/F" | head -n 1 | tr -dc 0-9)
	kill -TERM "$hp"
	status=0
	wait "${SERVER_PIDS[-1]}" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	file_is "$T/err" ''
}

@test "SIGTERM while waiting for input ends with error server shutting down, a shutdown record and status 0" {
	local pid
	mkfifo "$T/in"
	timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/F" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
	pid=$!
	exec 4>"$T/in"
	printf 'a\nb\n' >&4
	wait_grep "$T/F" 'local #2 receive message: b$'
	wait_grep "$T/out" '^ok 2$'
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	exec 4>&-
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nerror server shutting down\n'
	file_is "$T/err" ''
	records_are "$T/F" 'local connect' 'local #1 receive message: a' \
		'local #2 receive message: b' \
		'local disconnect: 2 messages, 2 bytes, shutdown'
}

@test "SIGTERM during a batch lets the batch finish: every line read is recorded and acknowledged" {
	local pid i
	seq -f 'm%g' 1 200000 >"$T/in"
	for i in 1 2 3; do
		rm -f "$T/F"
		timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/F" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
		pid=$!
		# after start-up (the handler is installed), at a random moment
		wait_grep "$T/F" ' connect$'
		sleep "0.0$((RANDOM % 5))"
		kill -TERM "$pid" 2>/dev/null || true
		status=0
		wait "$pid" || status=$?
		[ "$status" -eq 0 ]
		every_line_whole "$T/F"
		# acknowledged = recorded, in order; ended by bye or the shutdown line
		k=$(grep -c '^ok ' "$T/out" || true)
		[ "$(record_count "$T/F" ' receive message: ')" -eq "$k" ]
		diff <(echo hello; [ "$k" -eq 0 ] || seq -f 'ok %g' 1 "$k") \
			<(grep -vE '^(bye|error server shutting down)' "$T/out")
		tail -n 1 "$T/out" | grep -qE '^(bye 200000|error server shutting down)$'
		tail -n 1 "$T/F" | grep -qE "disconnect: $k messages?, [0-9]+ bytes, (eof|shutdown)\$"
	done
}

@test "on a pipe a line whose record would not fit in PIPE_BUF is refused, with the limit that fits" {
	{
		ctl_line 984	# 3936 bytes escaped: with the head, fits in 4096
		ctl_line 985
		printf 'end\n'
	} >"$T/in"
	status=0
	timeout -k 5 20 "${HANDLER_CMD[@]}" -l - <"$T/in" >"$T/out" 2> >(cat >"$T/pipe") ||
		status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nerror line too long (max 984 bytes)\nok 2\nbye 2\n'
	wait_grep "$T/pipe" 'disconnect: 2 messages'
	records_are "$T/pipe" 'local connect' \
		"local #1 receive message: $(printf '\\x01%.0s' $(seq 984))" \
		'local #- rejected: line too long (985 bytes)' \
		'local #2 receive message: end' \
		'local disconnect: 2 messages, 987 bytes, eof'
}

@test "-m larger than a pipe can carry whole is said at start-up" {
	printf 'x\n' >"$T/in"
	status=0
	timeout -k 5 20 "${HANDLER_CMD[@]}" -m 4096 -l - <"$T/in" >"$T/out" 2> >(cat >"$T/pipe") ||
		status=$?
	[ "$status" -eq 0 ]
	wait_grep "$T/pipe" 'disconnect'
	[ "$(head -n 1 "$T/pipe")" = 'msgd-handler: -m 4096: records to a pipe must fit in 4096 bytes, so lines over 984 bytes are refused' ]
	# to a regular file the same -m is taken as it is, silently
	converse "$T/in" -m 4096 -l - 2>"$T/F"
	[ "$(record_count "$T/F" 'msgd-handler: -m')" -eq 0 ]
}

@test "8 handlers sharing one stderr pipe, with lines too long for it, never tear or interleave a record" {
	local n=8 i pids=() failed=0
	[ -z "$MSGD_WRAP" ] || n=3
	{
		for ((i = 0; i < 150; i++)); do
			head -c 4096 /dev/zero | tr '\0' a
			printf '\n'
			ctl_line 984
		done
	} >"$T/in"
	{ echo hello
		for ((i = 1; i <= 150; i++)); do
			echo 'error line too long (max 984 bytes)'
			echo "ok $i"
		done
		echo 'bye 150'; } >"$T/want"
	shared_fifo "$T/pipe" "$T/shared" 60
	for ((i = 1; i <= n; i++)); do
		timeout -k 5 60 "${HANDLER_CMD[@]}" -l - <"$T/in" >"$T/out$i" \
			2>&5 3>&- &
		pids+=("$!")
	done
	exec 5>&-
	for ((i = 1; i <= n; i++)); do
		wait "${pids[i - 1]}" || failed=$((failed + 1))
		cmp "$T/want" "$T/out$i"
	done
	wait "$READER"
	[ "$failed" -eq 0 ]
	every_line_whole "$T/shared"
	[ "$(record_count "$T/shared" ' receive message: ')" -eq $((n * 150)) ]
	[ "$(record_count "$T/shared" ' rejected: line too long \(4096 bytes\)$')" -eq $((n * 150)) ]
}

@test "with -l - on a regular file every writer locks the file itself, so a writer holding it excludes the handler" {
	local holder
	# the holder and the handler share one open file description, as the
	# launcher's children share its stderr
	exec 5>>"$T/F"
	# the holder takes the writers' lock, then writes a marker as it lets
	# go: the handler's records must come after it
	hold_lock "$T/F" sh -c 'sleep 1 && echo "marker written under the lock" >&5' 3>&- &
	holder=$!
	wait_locked "$T/F"
	printf 'hi\n' | timeout -k 5 20 "${HANDLER_CMD[@]}" -l - >"$T/out" 2>&5
	exec 5>&-
	wait "$holder"
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	[ "$(head -n 1 "$T/F")" = 'marker written under the lock' ]
	sed 1d "$T/F" >"$T/F2"
	records_are "$T/F2" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "a writer holding the record file's lock delays a handler at most 5 s, then the client gets error cannot record message" {
	local holder
	: >"$T/F"
	hold_lock "$T/F" sleep 12 3>&- &
	holder=$!
	wait_locked "$T/F"
	printf 'hi\n' >"$T/in"
	SECONDS=0
	converse "$T/in" -t 2 -l "$T/F"
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	[ "$status" -eq 1 ]
	[ "$SECONDS" -ge 4 ] && [ "$SECONDS" -lt 11 ] || { echo "$SECONDS s"; false; }
	file_is "$T/out" 'error cannot record message\n'
	file_is "$T/err" "msgd-handler: cannot write record to $T/F: another process held its lock for 5 s\n"
	[ ! -s "$T/F" ]
}

@test "a reader holding a lock on the record file neither delays nor stops recording" {
	local holder
	: >"$T/F"
	# read-only, as a member of the file's group may open it; flock(2)
	# and fcntl read locks need no more
	(flock -s 4 && exec sleep 12) 4<"$T/F" 3>&- &
	holder=$!
	sleep 0.3
	printf 'hi\n' >"$T/in"
	SECONDS=0
	converse "$T/in" -t 2 -l "$T/F"
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 3 ] || { echo "$SECONDS s"; false; }
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "no lock file is made beside the record file, whatever its mode: the lock is on the file itself" {
	local mode
	for mode in 640 660 600 644; do
		rm -f "$T/F"
		: >"$T/F"
		chmod "$mode" "$T/F"
		printf 'hi\n' >"$T/in"
		converse "$T/in" -l "$T/F"
		[ "$status" -eq 0 ]
		[ ! -e "$T/F.lock" ]
		[ "$(stat -c %a "$T/F")" = "$mode" ]
	done
}

@test "-l naming the null device, by any name, keeps no record: nothing is opened or written but the replies" {
	need strace
	printf 'a\nb\n' >"$T/in"
	ln -s /dev/null "$T/nothing"
	for f in /dev/null "$T/nothing"; do
		status=0
		ASAN_OPTIONS=$LSAN_OFF timeout -k 5 20 strace -f -qq -o "$T/trace" \
			-e trace=open,openat,write "${HANDLER_CMD[@]}" -l "$f" \
			<"$T/in" >"$T/out" 2>"$T/err" || status=$?
		[ "$status" -eq 0 ]
		file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
		file_is "$T/err" ''
		! grep -E 'open(at)?\(' "$T/trace" | grep -v -e '/proc/self/fd/1"' \
			-e '/usr/lib' -e '/etc/ld.so' -e '"/lib' -e '/dev/urandom'
		! grep -E '^([0-9]+ +)?write\([^1],' "$T/trace"
	done
}

@test "-l /dev/full is no null device: its connect record cannot be written, so no greeting: error cannot record message, exit 1" {
	[ -c /dev/full ] || skip "no /dev/full"
	printf 'a\n' >"$T/in"
	converse "$T/in" -l /dev/full
	[ "$status" -eq 1 ]
	file_is "$T/out" 'error cannot record message\n'
	grep -q '^msgd-handler: cannot write record to /dev/full: ' "$T/err"
}

@test "-l FIFO with no reader fails within seconds instead of blocking in open" {
	mkfifo "$T/fifo"
	printf 'hi\n' >"$T/in"
	SECONDS=0
	converse "$T/in" -l "$T/fifo"
	[ "$status" -eq 1 ]
	[ "$SECONDS" -lt 12 ] || { echo "$SECONDS s"; false; }
	file_is "$T/out" 'error cannot record message\n'
	file_is "$T/err" "msgd-handler: cannot open record file $T/fifo: no reader for 5 s\n"
}

@test "-l FIFO with a reader gets whole records" {
	fifo_reader "$T/fifo" "$T/F"
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l "$T/fifo"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	wait "$READER"
	records_are "$T/F" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "a stderr pipe that nobody reads fails the record within seconds instead of hanging the handler" {
	local holder
	mkfifo "$T/fifo"
	# a reader that never reads, and a pipe already full
	sleep 30 0<>"$T/fifo" 3>&- &
	holder=$!
	SERVER_PIDS+=("$holder")
	timeout -k 5 10 head -c 65536 /dev/zero >"$T/fifo"
	printf 'hi\n' >"$T/in"
	SECONDS=0
	status=0
	timeout -k 5 30 "${HANDLER_CMD[@]}" -l - <"$T/in" >"$T/out" 2>"$T/fifo" || status=$?
	[ "$status" -eq 1 ]
	[ "$SECONDS" -lt 15 ] || { echo "$SECONDS s"; false; }
	file_is "$T/out" 'error cannot record message\n'
	# nothing of it squeezed into the full pipe
	[ "$( (timeout -k 5 2 cat "$T/fifo" || true) | tr -d '\0' | wc -c)" -eq 0 ]
}

@test "with -s a line is bounded by what syslog carries whole, and a longer -m is said at start-up" {
	need_mount_ns
	need python3
	mkdir "$T/dev"
	start_server "$T/syslog" python3 "$TCP_PY" syslog "$T/dev/log"
	wait_line "$T/syslog"
	{
		ctl_line 2008	# 8032 bytes escaped: fits in 8192 with the heads
		head -c 300000 /dev/zero | tr '\0' a
		printf '\nend\n'
	} >"$T/in"
	status=0
	with_dev "$T/dev" timeout -k 5 20 "${HANDLER_CMD[@]}" -s -m 1048576 <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nerror line too long (max 2008 bytes)\nok 2\nbye 2\n'
	file_is "$T/err" 'msgd-handler: -m 1048576: records to syslog must fit in 8192 bytes, so lines over 2008 bytes are refused\n'
	syslog_drain "$T/dev/log" "$T/syslog"
	diff -u <(printf '%s\n' '<30> local connect' \
		"<30> local #1 receive message: $(printf '\\x01%.0s' $(seq 2008))" \
		'<30> local #- rejected: line too long (300000 bytes)' \
		'<30> local #2 receive message: end' \
		'<30> local disconnect: 2 messages, 2011 bytes, eof') \
		<(syslog_records "$T/syslog")
	# the longest record's datagram is within 8192 bytes
	[ "$(sed -n 3p "$T/syslog" | wc -c)" -le 8193 ]
}

@test "a record file rotated by renaming: an open session goes on in the old file, the next connection makes the new one" {
	mkfifo "$T/in"
	# read-write: opening it waits for no one, and closing it is the EOF
	exec 5<>"$T/in"
	# shellcheck disable=SC2016 # expanded by that sh
	start_server "$T/out" sh -c 'exec "$@" <"$0"' "$T/in" "${HANDLER_CMD[@]}" -l "$T/rec" 5>&-
	printf 'one\n' >&5
	wait_grep "$T/rec" '#1 receive message: one$'
	mv "$T/rec" "$T/rec.1"
	printf 'two\n' >&5
	wait_grep "$T/rec.1" '#2 receive message: two$'
	[ "$(printf 'new\n' | handler -l "$T/rec")" = $'hello\nok 1\nbye 1' ]
	records "$T/rec" | grep -qx 'local #1 receive message: new'
	exec 5>&-
	wait_grep "$T/rec.1" ' disconnect: 2 messages, 6 bytes, eof$'
	[ "$(grep -c 'receive message' "$T/rec")" -eq 1 ]
	[ "$(grep -c 'receive message' "$T/rec.1")" -eq 2 ]
}

# ---- the launcher's lines share the discipline ----

@test "launcher log lines on a plain 2>FILE never overwrite the records of handlers on the same file" {
	local i port
	# a plain >, as make run 2>FILE or systemd's StandardError=file: open it
	"$MSGD_BIN/msgd-launcher" -v -1 127.0.0.1 0 "${HANDLER_CMD[@]}" -l - \
		>"$T/port" 2>"$T/F" 3>&- &
	SERVER_PIDS+=("$!")
	port=$(wait_line "$T/port")
	for ((i = 1; i <= 20; i++)); do
		printf 'm%d\n' "$i" | timeout -k 5 20 "$MSGD_BIN/msgd-client" 127.0.0.1 "$port" \
			>"$T/out"
		file_is "$T/out" 'hello\nok 1\nbye 1\n'
	done
	wait_count "$T/F" ' disconnect: ' 20
	wait_count "$T/F" '^msgd-launcher: end [0-9]+ status 0$' 20
	kill "${SERVER_PIDS[0]}"
	wait "${SERVER_PIDS[0]}" || true
	for ((i = 1; i <= 20; i++)); do
		[ "$(record_count "$T/F" "^${TS_RE}[^ ]+ #1 receive message: m$i\$")" -eq 1 ] ||
			{ echo "m$i: no record"; cat "$T/F"; false; }
	done
	# nothing else than whole records and whole launcher lines
	[ "$(grep -cvE "^(${TS_RE}|msgd-launcher: )" "$T/F")" -eq 0 ]
	grep -q '^msgd-launcher: stopping' "$T/F"
}

@test "a launcher line after a handler was killed mid-record cuts the torn record instead of gluing onto it" {
	local whole='2026-11-26T10:00:00.000Z msgd-handler[7]: local #1 receive message: kept'
	printf '%s\n%s' "$whole" '2026-11-26T10:00:00.001Z msgd-handler[8]: local #1 receive message: \x01\x01\x0' \
		>"$T/F"
	status=0
	timeout -k 5 10 "$MSGD_BIN/msgd-launcher" -Z >>"$T/out" 2>>"$T/F" || status=$?
	[ "$status" -eq 2 ]
	[ "$(sed -n 1p "$T/F")" = "$whole" ]
	[ "$(sed -n 2p "$T/F")" = 'msgd-launcher: unknown option -Z' ]
	[[ $(sed -n 3p "$T/F") == 'usage: msgd-launcher '* ]]
	[[ $(sed -n 4p "$T/F") == '       msgd-launcher -U '* ]]
	[ "$(wc -l <"$T/F")" -eq 4 ]
}

# on_fifo ARGS...: the handler with ARGS in the background, reading the
# FIFO $T/in that fd 5 writes (stdout $T/out, stderr $T/err); its PID in h
on_fifo() {
	mkfifo "$T/in"
	timeout -k 5 20 "${HANDLER_CMD[@]}" "$@" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
	h=$!
	SERVER_PIDS+=("$h")
	exec 5>"$T/in"
}

@test "a connect record waits for the first line at most a moment: a client that says nothing yet is in the file already" {
	local h
	on_fifo -l "$T/F"
	wait_grep "$T/out" '^hello$'
	wait_grep "$T/F" ' local connect$' 5
	[ "$(wc -l <"$T/F")" -eq 1 ]
	printf 'hi\n' >&5
	exec 5>&-
	wait "$h"
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "a line another program leaves unfinished between two batches is ended with an LF before the next records" {
	local h
	on_fifo -l "$T/F"
	printf 'a\n' >&5
	wait_grep "$T/out" '^ok 1$'
	# the handler's last append ended the file; now it ends elsewhere
	printf 'a foreign line, no LF' >>"$T/F"
	printf 'b\n' >&5
	exec 5>&-
	wait "$h"
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	[ "$(sed -n 3p "$T/F")" = 'a foreign line, no LF' ]
	sed 3d "$T/F" >"$T/F2"
	records_are "$T/F2" 'local connect' 'local #1 receive message: a' \
		'local #2 receive message: b' 'local disconnect: 2 messages, 2 bytes, eof'
}

@test "8 handlers that share a reader's read lock on one file append whole records, and never an empty line for a record still being written" {
	need python3
	local i n=8 pids=() failed=0
	: >"$T/F"
	hold_read_lock "$T/F" 60 >"$T/holder" 3>&- &
	SERVER_PIDS+=("$!")
	wait_line "$T/holder"
	# records of 3000 bytes and more: each write grows the file a page at
	# a time, and the others look at its tail meanwhile
	head -c 3000 /dev/zero | tr '\0' 'x' >"$T/line"
	for ((i = 0; i < 200; i++)); do cat "$T/line"; echo; done >"$T/in"
	for ((i = 1; i <= n; i++)); do
		timeout -k 5 60 "${HANDLER_CMD[@]}" -l "$T/F" <"$T/in" >"$T/out$i" 2>"$T/err$i" 3>&- &
		pids+=("$!")
	done
	for ((i = 1; i <= n; i++)); do
		wait "${pids[i - 1]}" || failed=$((failed + 1))
	done
	[ "$failed" -eq 0 ]
	every_line_whole "$T/F"
	[ "$(record_count "$T/F" ' receive message: x{3000}$')" -eq $((n * 200)) ]
	[ "$(wc -l <"$T/F")" -eq $((n * 202)) ]
}
