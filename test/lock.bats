#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The writers' lock on a shared record file: it belongs to the file (its
# inode), whatever name, owner or mode; nothing planted beside it can block
# a writer; a tail is cut only when it is a torn record of a writer that is
# gone, and otherwise (or where it cannot be cut) ended with an LF.
# each @test runs in a subshell of its own: SERVER_PIDS is per test
# shellcheck disable=SC2030,SC2031

load helpers

# kept_then_hi FILE LINE...: FILE's first lines are the LINEs, as they
# were, and after them come the three records of one "hi"
kept_then_hi() {
	local f=$1 n=$(($# - 1))
	shift
	[ "$(sed -n "1,${n}p" "$f")" = "$(printf '%s\n' "$@")" ]
	sed "1,${n}d" "$f" >"$T/F2"
	records_are "$T/F2" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

unset TCPREMOTEIP TCPREMOTEPORT REMOTE_ADDR REMOTE_PORT

# two uids of no user, and a group they share
A=61001
B=61002
G=61003

setup() {
	common_setup
	D=
}

teardown() {
	servers_stop
	if [ -n "$D" ]; then
		chattr -a "$D"/* 2>/dev/null || true
		rm -rf "$D"
	fi
}

# shared_dir: D, a log directory of group G that A and B may write (the
# test's own temporary directory is for root alone)
shared_dir() {
	need_root "setpriv to other uids"
	need setpriv
	local u
	for u in "$A" "$B"; do
		! getent passwd "$u" >/dev/null || skip "uid $u is someone's"
	done
	D=$(mktemp -d /tmp/msgd-lock.XXXXXX)
	chown "root:$G" "$D"
	chmod 0775 "$D"
}

# as UID CMD...: run CMD as UID, a member of G
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --groups="$G" "$@"
}

# big_input FILE W K: K lines "wW-N", each after a 1 MiB line of control
# bytes (a 4 MiB record, written in one append that others see grow)
big_input() {
	local j
	for ((j = 1; j <= $3; j++)); do
		head -c 1048576 /dev/zero | tr '\0' '\1'
		printf '\nw%s-%d\n' "$2" "$j"
	done >"$1"
}

# race ROUNDS SPEC...: for each SPEC "UID:PATH" a writer that runs ROUNDS
# sessions of its input (big_input, 4 pairs) with -l PATH, all at once;
# each session must be acknowledged whole.  Counts per writer in $T/acked.W
race() {
	local rounds=$1 w=0 spec pids=() r
	shift
	for spec in "$@"; do
		w=$((w + 1))
		big_input "$T/in$w" "$w" 4
		(
			for ((r = 0; r < rounds; r++)); do
				as "${spec%%:*}" "$MSGD_BIN/msgd-handler" -m 1048576 \
					-l "${spec#*:}" <"$T/in$w" >>"$T/out$w"
			done
		) 3>&- &
		pids+=("$!")
	done
	for ((w = 1; w <= ${#pids[@]}; w++)); do
		wait "${pids[w - 1]}"
		[ "$(grep -c '^bye 8$' "$T/out$w")" -eq "$rounds" ] ||
			{ echo "writer $w:"; sort "$T/out$w" | uniq -c; return 1; }
	done
}

# all_recorded ROUNDS WRITERS FILE...: every acknowledged message of every
# writer is in FILE... once, whole, and nothing else is there
all_recorded() {
	local rounds=$1 n=$2 w bad
	shift 2
	cat "$@" >"$T/all"
	for ((w = 1; w <= n; w++)); do
		[ "$(record_count "$T/all" "^${TS_RE}local #[0-9]+ receive message: w$w-[1-4]\$")" -eq $((4 * rounds)) ] ||
			{ echo "writer $w: $(record_count "$T/all" " receive message: w$w-") of $((4 * rounds)) small records"; return 1; }
	done
	# big records whole: 1048576 times \x01, then a shape check of all
	# shellcheck disable=SC2016 # awk's
	bad=$(LC_ALL=C awk '/ receive message: \\x01/ { m = $0; sub(/.* receive message: /, "", m)
		if (length(m) == 4 * 1048576 && gsub(/\\x01/, "", m) == 1048576) big++; else bad++ }
		END { print bad + 0, big + 0 }' "$T/all")
	[ "$bad" = "0 $((4 * rounds * n))" ] || { echo "bad, whole big records: $bad"; return 1; }
	bad=$(LC_ALL=C sed 's/ receive message: \\x01.*/ receive message: BIG/' "$T/all" |
		grep -cvE "^${TS_RE}local (connect|#[0-9]+ receive message: (w[0-9]+-[0-9]+|BIG)|disconnect: 8 messages, [0-9]+ bytes, eof)\$" || true)
	[ "$bad" -eq 0 ] || { echo "$bad lines that are not whole records"; return 1; }
}

# ---- 4: nothing at FILE.lock can block a writer ----

@test "a FIFO planted at FILE.lock neither blocks nor stops the handler: greeting, records, exit 0" {
	mkfifo "$T/F.lock"
	printf 'hi\n' >"$T/in"
	SECONDS=0
	converse "$T/in" -t 5 -l "$T/F"
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 4 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
	[ -p "$T/F.lock" ]
}

@test "a FIFO planted at FILE.lock of the launcher's 2>> log blocks neither its log nor its loop, and SIGTERM ends it" {
	local L=$MSGD_BIN/msgd-launcher
	: >"$T/F"
	mkfifo "$T/F.lock"
	# timeout -k: a launcher that SIGTERM cannot end fails the test, not
	# the suite
	timeout -k 5 60 "$L" -v -1 127.0.0.1 0 "${HANDLER_CMD[@]}" -l - >"$T/port" 2>>"$T/F" 3>&- &
	SERVER_PIDS+=("$!")
	PORT=$(wait_line "$T/port")
	wait_grep "$T/F" '^msgd-launcher: listening on '
	[ "$(printf 'hi\n' | timeout -k 5 10 "$MSGD_BIN/msgd-client" 127.0.0.1 "$PORT")" = $'hello\nok 1\nbye 1' ]
	wait_grep "$T/F" '^msgd-launcher: end [0-9]+ status 0$'
	stop_pid "${SERVER_PIDS[0]}" 15
	[ "$EXIT" -eq 0 ]
	grep -qE "^${TS_RE}127\.0\.0\.1:[0-9]+ #1 receive message: hi\$" "$T/F"
}

# ---- 5: writers of other uids never disagree on the lock ----

@test "two uids sharing a record file through its group (0660), the second one's lock file refused before: no acknowledged record is cut" {
	shared_dir
	: >"$D/F"
	chown "$A:$G" "$D/F"
	chmod 0660 "$D/F"
	# B writes first: before, its FILE.lock could not be given A's uid
	printf 'first\n' | as "$B" "$MSGD_BIN/msgd-handler" -l "$D/F" >"$T/first"
	file_is "$T/first" 'hello\nok 1\nbye 1\n'
	race 4 "$A:$D/F" "$B:$D/F" "$A:$D/F" "$B:$D/F"
	sed 1,3d "$D/F" >"$T/rest"
	all_recorded 4 4 "$T/rest"
	[ ! -e "$D/F.lock" ] || { ls -l "$D"; false; }
}

@test "a record file made group-writable after its first writer (chmod 0660): the writers still take one lock" {
	shared_dir
	: >"$D/F"
	chown "$A:$G" "$D/F"
	chmod 0600 "$D/F"
	printf 'first\n' | as "$A" "$MSGD_BIN/msgd-handler" -l "$D/F" >"$T/first"
	file_is "$T/first" 'hello\nok 1\nbye 1\n'
	# the administrator lets B append too
	chmod 0660 "$D/F"
	race 4 "$A:$D/F" "$B:$D/F" "$A:$D/F" "$B:$D/F"
	sed 1,3d "$D/F" >"$T/rest"
	all_recorded 4 4 "$T/rest"
}

# ---- 6: where a tail cannot be cut or read, it is ended ----

@test "an append-only record file (chattr +a): a torn record is ended with an LF, never glued onto" {
	need chattr
	local dead torn
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	torn="2026-11-26T10:00:00.001Z msgd-handler[$dead]: local #1 rece"
	printf 'whole\n%s' "$torn" >"$T/F"
	chattr +a "$T/F" 2>"$T/chattr.err" ||
		skip "chattr +a is not supported here: $(cat "$T/chattr.err")"
	D=$T
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	kept_then_hi "$T/F" whole "$torn"
}

@test "a record file the writer may append to but not read (0622): an unfinished line is ended with an LF" {
	shared_dir
	printf 'notes\nno newline at the end' >"$D/F"
	chmod 0622 "$D/F"
	printf 'hi\n' | as "$B" "$MSGD_BIN/msgd-handler" -l "$D/F" >"$T/out"
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	kept_then_hi "$D/F" notes 'no newline at the end'
}

# ---- 7: the lock belongs to the inode; only a gone writer's tail is cut ----

@test "writers of one file through two hard links take one lock: no acknowledged record is cut" {
	shared_dir
	mkdir "$D/other"
	: >"$D/F"
	ln "$D/F" "$D/other/F2"
	race 4 "0:$D/F" "0:$D/other/F2" "0:$D/F" "0:$D/other/F2"
	all_recorded 4 4 "$D/F"
}

@test "a torn record whose writer still runs is never cut: it is ended with an LF" {
	local torn
	sleep 30 3>&- &
	SERVER_PIDS+=("$!")
	torn="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) msgd-handler[${SERVER_PIDS[0]}]: local #1 receive mes"
	printf 'whole\n%s' "$torn" >"$T/F"
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	kept_then_hi "$T/F" whole "$torn"
}

@test "a torn record whose writer is gone is cut, and one whose pid now belongs to a later process too" {
	local dead late
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	printf 'whole\n2026-11-26T10:00:00.001Z msgd-handler[%d]: local #1 rece' "$dead" >"$T/F"
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	kept_then_hi "$T/F" whole
	# a live process that started after the torn record's time did not write it
	sleep 30 3>&- &
	late=$!
	SERVER_PIDS+=("$late")
	printf 'whole\n2026-11-26T10:00:00.001Z msgd-handler[%d]: local #1 rece' "$late" >"$T/F"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	kept_then_hi "$T/F" whole
}

@test "a reader's fcntl read lock on the record file neither delays nor stops recording" {
	need python3
	local holder
	: >"$T/F"
	hold_read_lock "$T/F" 30 >"$T/holder" 3>&- &
	holder=$!
	SERVER_PIDS+=("$holder")
	wait_line "$T/holder"
	printf 'hi\n' >"$T/in"
	SECONDS=0
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 3 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}
