#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# msgd-handler and a client that streams: a batch takes the input already
# waiting, so its records go out in few large appends, and still no ok
# leaves before its record is in the file, nor after a record that failed;
# a client whose input never pauses is still bounded by -T and SIGTERM.

load helpers

unset TCPREMOTEIP TCPREMOTEPORT REMOTE_ADDR REMOTE_PORT

# lines N [LONG]: N numbered lines of 60 bytes, every LONG-th (if given)
# 201 bytes instead, for a -m of 100 to refuse
lines() {
	awk -v n="$1" -v long="${2:-0}" 'BEGIN {
		for (i = 1; i <= n; i++)
			if (long && i % long == 0) printf "%0200d\n", i
			else printf "%07d %051d\n", i, i
	}'
}

# prefix_of GOT WANT: the file GOT is the start of the file WANT
prefix_of() {
	local n
	n=$(wc -c <"$1")
	cmp -n "$n" "$1" "$2" || {
		echo "$1 is not the start of $2"
		diff "$1" <(head -c "$n" "$2") | head -n 10
		return 1
	}
}

@test "a streaming client's batches take the input already waiting: fewer record appends than reads, and each ok goes out after its record is in the file" {
	need strace
	lines 100000 >"$T/in"
	# stdin a file: always readable, so each batch takes what it aims at
	status=0
	ASAN_OPTIONS=$LSAN_OFF timeout -k 5 60 strace -qq -s 0 -o "$T/trace" \
		-e trace=read,write "${HANDLER_CMD[@]}" -l "$T/F" \
		<"$T/in" >"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/err" ''
	diff <(echo hello; seq -f 'ok %g' 1 100000; echo 'bye 100000') "$T/out"
	[ "$(record_count "$T/F" ' receive message: ')" -eq 100000 ]
	# reads of the input and appends of records (fds above 2); a batch
	# of one read would make about as many appends as reads
	read -r reads appends < <(awk '
		/^read\(0, / && $NF > 0 { r++ }
		/^write\([3-9][0-9]*, / { w++ }
		END { print r + 0, w + 0 }' "$T/trace")
	echo "$reads reads of the input, $appends appends of records" >&2
	[ "$reads" -gt 50 ]
	[ $((appends * 3)) -le $((reads * 2)) ]
	# as the trace goes: when an ok leaves, the record of its message
	# ends within the record bytes written before it
	run awk '
		FILENAME == ARGV[1] {
			roff += length($0) + 1
			if ($0 ~ / #[0-9]+ receive message: /) recend[++nrec] = roff
			next
		}
		FILENAME == ARGV[2] {
			ooff += length($0) + 1
			if ($0 ~ /^ok /) okend[++nok] = ooff
			next
		}
		/^write\(/ && $NF > 0 {
			fd = substr($1, 7) + 0
			if (fd > 2)
				recbytes += $NF
			if (fd != 1)
				next
			outbytes += $NF
			while (k < nok && okend[k + 1] <= outbytes)
				k++
			if (k && recend[k] > recbytes) {
				printf "ok %d left with %d record bytes written, its record ends at %d\n", k, recbytes, recend[k]
				bad = 1
				exit
			}
		}
		END { if (!bad) print "checked", k, "oks" }' "$T/F" "$T/out" "$T/trace"
	[ "$output" = 'checked 100000 oks' ]
}

@test "a record file that fills up in a batch of several reads acknowledges exactly the messages whose records are whole, and the refusals before them" {
	local k
	lines 40000 1000 >"$T/in"
	status=0
	(
		ulimit -f 1000	# 1,024,000 bytes: about 7,000 records
		exec timeout -k 5 20 "${HANDLER_CMD[@]}" -m 100 -l "$T/F" \
			<"$T/in" >"$T/out" 2>"$T/err"
	) || status=$?
	[ "$status" -eq 1 ]
	file_is "$T/err" "msgd-handler: cannot write record to $T/F: File too large\n"
	k=$(grep -c '^ok ' "$T/out" || true)
	echo "$k messages acknowledged" >&2
	[ "$k" -gt 4000 ] && [ "$k" -lt 39960 ]
	# the replies: hello, those of the input's first lines, the error
	[ "$(head -n 1 "$T/out")" = hello ]
	[ "$(tail -n 1 "$T/out")" = 'error cannot record message' ]
	awk '{ if (length($0) > 100) print "error line too long (max 100 bytes)"
		else print "ok " ++n }' "$T/in" >"$T/want"
	sed '1d;$d' "$T/out" >"$T/got"
	prefix_of "$T/got" "$T/want"
	# the records: connect, then those of the input's first lines, whole,
	# with exactly the acknowledged messages among them
	[ "$(record_count "$T/F" ' receive message: ')" -eq "$k" ]
	[ "$(tail -c 1 "$T/F" | od -An -tx1)" = " 0a" ]
	awk '{ if (length($0) > 100) print "local #- rejected: line too long (" length($0) " bytes)"
		else print "local #" ++n " receive message: " $0 }' "$T/in" |
		sed '1i local connect' >"$T/want"
	records "$T/F" >"$T/got"
	prefix_of "$T/got" "$T/want"
}

# endless_line_records FILE WHY: the records of a client that sent one endless line
# of NULs and was ended for WHY: connect, the line's refusal, disconnect
endless_line_records() {
	records "$1" | sed -E 's/\(([0-9]+) bytes\)$/(N bytes)/' >"$T/got"
	printf '%s\n' 'local connect' 'local #- rejected: line too long (N bytes)' \
		"local disconnect: 0 messages, 0 bytes, $2" >"$T/want"
	diff -u "$T/want" "$T/got"
}

@test "a client whose input never pauses and makes no record (one endless line) still ends at -T" {
	converse /dev/zero -T 1 -l "$T/F"
	[ "$status" -eq 1 ]
	file_is "$T/out" 'hello\nerror line too long (max 4096 bytes)\nerror session time limit\n'
	file_is "$T/err" ''
	endless_line_records "$T/F" timeout
}

@test "SIGTERM ends a client whose input never pauses: the batch in hand finishes, error server shutting down, exit 0" {
	local pid
	timeout -k 2 10 "${HANDLER_CMD[@]}" -l "$T/F" </dev/zero >"$T/out" 2>"$T/err" 3>&- &
	pid=$!
	# its first batch is written: the connect record is in the file
	wait_grep "$T/F" ' connect$'
	stop_pid "$pid"
	[ "$EXIT" -eq 0 ]
	file_is "$T/out" 'hello\nerror line too long (max 4096 bytes)\nerror server shutting down\n'
	file_is "$T/err" ''
	endless_line_records "$T/F" shutdown
}
