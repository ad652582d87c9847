#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# msgd-handler: the protocol, the records and where they go, the limits, the
# peer address, and what ends a connection.  Every test checks the bytes the
# client gets, the exit status and the records.
# each @test runs in a subshell of its own: SERVER_PIDS is per test
# shellcheck disable=SC2030,SC2031

load helpers

# the peer must come from the test, never from the caller's environment
unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT

USAGE='usage: msgd-handler [-chVpsS] [-g TEXT] [-l FILE] [-m BYTES] [-t SECS] [-T SECS]'


# peer_is PEER [NAME=VALUE...]: on a pipe, with only this environment for
# the address, the handler's records name PEER
peer_is() {
	local want=$1
	shift
	: >"$T/empty"
	rm -f "$T/P"
	env "$@" timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/P" <"$T/empty" \
		>"$T/out" 2>"$T/err"
	file_is "$T/out" 'hello\nbye 0\n'
	records_are "$T/P" "$want connect" \
		"$want disconnect: 0 messages, 0 bytes, eof"
}

# n_bytes N CHAR: N times CHAR, no newline
n_bytes() {
	head -c "$1" /dev/zero | tr '\0' "$2"
}

# now_ms: the time in milliseconds
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# ---- the exchange ----

@test "a client that says two lines gets hello, ok 1, ok 2, bye 2 and four records" {
	printf 'hi\nthere\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	file_is "$T/err" ''
	records_are "$T/F" 'local connect' \
		'local #1 receive message: hi' \
		'local #2 receive message: there' \
		'local disconnect: 2 messages, 7 bytes, eof'
}

@test "the record file is created with mode 0640 and later handlers append to it" {
	umask 022
	printf 'first\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$T/F")" = 640 ]
	printf 'second\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$T/F")" = 640 ]
	# two handlers, two pids: compare without the pid check
	diff -u <(records "$T/F") <(printf '%s\n' 'local connect' \
		'local #1 receive message: first' \
		'local disconnect: 1 message, 5 bytes, eof' \
		'local connect' \
		'local #1 receive message: second' \
		'local disconnect: 1 message, 6 bytes, eof')
}

@test "a client that sends nothing gets hello and bye 0" {
	: >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nbye 0\n'
	records_are "$T/F" 'local connect' \
		'local disconnect: 0 messages, 0 bytes, eof'
}

@test "-g changes the greeting" {
	printf 'hi\n' >"$T/in"
	converse "$T/in" -g 'welcome to msgd, 你好' -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'welcome to msgd, 你好\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "a greeting with a CR or an LF in it is a usage error" {
	handler_usage_error '-g: the greeting must be one line' -g $'two\nlines'
	handler_usage_error '-g: the greeting must be one line' -g $'carriage\rreturn'
	handler_usage_error '-g: the greeting must be one line' -g $'hello\n'
}

# ---- framing ----

@test "a CR before the LF is dropped and a CR anywhere else is kept as \\x0d" {
	printf 'a\r\nb\rc\r\nd\r\r\n\r\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nok 4\nbye 4\n'
	records_are "$T/F" 'local connect' \
		'local #1 receive message: a' \
		'local #2 receive message: b\x0dc' \
		'local #3 receive message: d\x0d' \
		'local #4 receive message: ' \
		'local disconnect: 4 messages, 6 bytes, eof'
	[ "$(grep -c $'\r' "$T/F")" -eq 0 ]
}

@test "a last line without LF is a message, and a CR at its end is kept" {
	printf 'one\ntwo' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	records_are "$T/F" 'local connect' \
		'local #1 receive message: one' \
		'local #2 receive message: two' \
		'local disconnect: 2 messages, 6 bytes, eof'

	printf 'a\r' >"$T/in"
	converse "$T/in" -l "$T/G"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/G" 'local connect' \
		'local #1 receive message: a\x0d' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "empty lines are messages" {
	printf '\n\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	records_are "$T/F" 'local connect' \
		'local #1 receive message: ' \
		'local #2 receive message: ' \
		'local disconnect: 2 messages, 0 bytes, eof'
}

# ---- escaping ----

@test "backslashes and control bytes are escaped in the record" {
	{
		printf 'back\\slash\n'
		printf '\\x41 is not A\n'
		printf '\t\001\033\037\177 ~\n'
		printf 'a\000b\n'
		# escapes past the first eight bytes, where words are scanned
		printf 'abcdefgh\\ijklmnop\177qrstuvwx\037yz0123456\n'
	} >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nok 4\nok 5\nbye 5\n'
	records_are "$T/F" 'local connect' \
		'local #1 receive message: back\\slash' \
		'local #2 receive message: \\x41 is not A' \
		'local #3 receive message: \x09\x01\x1b\x1f\x7f ~' \
		'local #4 receive message: a\x00b' \
		'local #5 receive message: abcdefgh\\ijklmnop\x7fqrstuvwx\x1fyz0123456' \
		'local disconnect: 5 messages, 69 bytes, eof'
}

# shellcheck disable=SC1003 # '\\' is a backslash, no quote escaped
@test "a byte to escape is escaped wherever it sits in a long line" {
	# what is sent (printf %b) and what the record must say
	local sent=('\\' '\x00' '\x01' '\x0d' '\x1f' '\x7f' '\xff')
	local said=('\\' '\x00' '\x01' '\x0d' '\x1f' '\x7f' '\xff')
	local want=('local connect') b pos n=0 a=aaaaaaaaaaaaaaaa z=zzzzzzzzzzzzzzzz
	for b in "${!sent[@]}"; do
		for ((pos = 0; pos < 16; pos++)); do
			printf '%s%b%s\n' "${a:0:pos}" "${sent[b]}" "${z:pos}"
			n=$((n + 1))
			want+=("local #$n receive message: ${a:0:pos}${said[b]}${z:pos}")
		done
	done >"$T/in"
	want+=("local disconnect: $n messages, $((n * 17)) bytes, eof")
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	diff -u <(echo hello; seq -f 'ok %g' 1 "$n"; echo "bye $n") "$T/out"
	records_are "$T/F" "${want[@]}"
}

@test "invalid UTF-8 is escaped byte by byte" {
	{
		printf '\377\n'                 # never in UTF-8
		printf '\300\257\n'             # overlong /
		printf '\340\200\257\n'         # overlong, three bytes
		printf '\360\217\277\277\n'     # overlong, four bytes
		printf '\355\240\200\n'         # surrogate U+D800
		printf '\364\220\200\200\n'     # above U+10FFFF
		printf '\365\200\200\200\n'     # lead byte past f4
		printf '\200 alone\n'           # continuation without a lead
		printf '\302A\n'                # lead byte, then ASCII
		printf 'x\344\275y\n'           # cut short inside the line
		printf 'abc\344\275\n'          # cut short at the end of the line
		printf 'end\344'                # cut short at EOF
	} >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" "hello\n$(seq -f 'ok %g\n' 1 12 | tr -d '\n')bye 12\n"
	records_are "$T/F" 'local connect' \
		'local #1 receive message: \xff' \
		'local #2 receive message: \xc0\xaf' \
		'local #3 receive message: \xe0\x80\xaf' \
		'local #4 receive message: \xf0\x8f\xbf\xbf' \
		'local #5 receive message: \xed\xa0\x80' \
		'local #6 receive message: \xf4\x90\x80\x80' \
		'local #7 receive message: \xf5\x80\x80\x80' \
		'local #8 receive message: \x80 alone' \
		'local #9 receive message: \xc2A' \
		'local #10 receive message: x\xe4\xbdy' \
		'local #11 receive message: abc\xe4\xbd' \
		'local #12 receive message: end\xe4' \
		'local disconnect: 12 messages, 43 bytes, eof'
}

@test "valid UTF-8, Chinese and emoji included, passes unchanged" {
	{
		printf '你好 world\n'
		printf '\360\237\230\200 grin\n'
		# the first and last code points of each length and around
		# the surrogates: U+A0 (U+80-9F are C1 controls) U+7FF U+800
		# U+D7FF U+E000 U+FFFF U+10000 U+10FFFF
		printf '\302\240 \337\277 \340\240\200 \355\237\277 \356\200\200 \357\277\277 \360\220\200\200 \364\217\277\277\n'
	} >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nbye 3\n'
	records_are "$T/F" 'local connect' \
		'local #1 receive message: 你好 world' \
		"local #2 receive message: $(printf '\360\237\230\200') grin" \
		"local #3 receive message: $(printf '\302\240 \337\277 \340\240\200 \355\237\277 \356\200\200 \357\277\277 \360\220\200\200 \364\217\277\277')" \
		'local disconnect: 3 messages, 52 bytes, eof'
}

@test "line breaks, C1 controls and direction marks of Unicode are escaped, so no reader sees a forged record" {
	need python3
	# U+0085 U+009B U+2028 U+2029 U+061C U+200E U+200F U+202A U+202E
	# U+2066 U+2069, and around them U+00A0 U+200D U+2030 U+2065 pass
	printf 'a\302\205b\302\233c\342\200\250d\342\200\251e\330\234f\342\200\216\342\200\217\342\200\252\342\200\256\342\201\246\342\201\251|\302\240\342\200\215\342\200\260\342\201\245\n' >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' \
		"local #1 receive message: a\\xc2\\x85b\\xc2\\x9bc\\xe2\\x80\\xa8d\\xe2\\x80\\xa9e\\xd8\\x9cf\\xe2\\x80\\x8e\\xe2\\x80\\x8f\\xe2\\x80\\xaa\\xe2\\x80\\xae\\xe2\\x81\\xa6\\xe2\\x81\\xa9|$(printf '\302\240\342\200\215\342\200\260\342\201\245')" \
		'local disconnect: 1 message, 48 bytes, eof'
	# a Unicode-aware reader sees exactly three lines
	[ "$(python3 -c 'import sys; print(len(open(sys.argv[1], encoding="utf-8").read().splitlines()))' "$T/F")" -eq 3 ]
}

@test "every byte value but LF can be recovered from the record" {
	need python3
	python3 - "$T/in" <<'EOF'
import random, sys
every = bytes(b for b in range(256) if b != 0x0a)
rng = random.Random(7)
lines = [every, every[::-1], "你好 😀 \\x41 \\".encode() + every]
for _ in range(5):
    mixed = list(every) + list("你好😀é".encode())
    rng.shuffle(mixed)
    lines.append(bytes(mixed) + b".")  # never a CR right before the LF
open(sys.argv[1], "wb").write(b"".join(l + b"\n" for l in lines))
EOF
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nok 4\nok 5\nok 6\nok 7\nok 8\nbye 8\n'
	run python3 - "$T/in" "$T/F" <<'EOF'
import re, sys
want = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
recs = open(sys.argv[2], "rb").read().split(b"\n")
assert recs[-1] == b"", "no newline at the end"
recs = recs[1:-2]  # the messages, without connect and disconnect
assert len(recs) == len(want), "%d records" % len(recs)
for n, (rec, orig) in enumerate(zip(recs, want), 1):
    text = rec.split(b" #%d receive message: " % n, 1)[1]
    text.decode("utf-8")  # a record is valid UTF-8 ...
    assert not re.search(rb"[\x00-\x1f\x7f]", text), "control byte"
    assert len(text.decode("utf-8").splitlines()) == 1, "a Unicode line break"
    out, i = bytearray(), 0
    while i < len(text):  # ... and decodes back to the bytes sent
        if text[i:i + 2] == b"\\\\":
            out.append(0x5c)
            i += 2
        elif re.match(rb"\\x[0-9a-f]{2}", text[i:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            assert text[i] != 0x5c, "a lone backslash at %d" % i
            out.append(text[i])
            i += 1
    assert bytes(out) == orig, "line %d differs" % n
print("%d lines recovered" % len(recs))
EOF
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$output" = "8 lines recovered" ]
}

# ---- the line limit ----

@test "a 4096-byte line is accepted with LF or CRLF and recorded whole" {
	{
		n_bytes 4096 a
		printf '\n'
		n_bytes 4096 b
		printf '\r\n'
	} >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	records_are "$T/F" 'local connect' \
		"local #1 receive message: $(n_bytes 4096 a)" \
		"local #2 receive message: $(n_bytes 4096 b)" \
		'local disconnect: 2 messages, 8192 bytes, eof'
}

@test "a line over the limit gets an error and the connection goes on" {
	{
		n_bytes 4097 a
		printf '\n'
		n_bytes 4097 b	# 4097 bytes and a CR
		printf '\r\n'
		printf 'next\n'
		n_bytes 5000 c	# too long, and EOF before its LF
	} >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nerror line too long (max 4096 bytes)\nerror line too long (max 4096 bytes)\nok 1\nerror line too long (max 4096 bytes)\nbye 1\n'
	records_are "$T/F" 'local connect' \
		'local #- rejected: line too long (4097 bytes)' \
		'local #- rejected: line too long (4097 bytes)' \
		'local #1 receive message: next' \
		'local #- rejected: line too long (5000 bytes)' \
		'local disconnect: 1 message, 4 bytes, eof'
}

@test "with -m 1048576 a 1 MiB line is recorded whole and one byte more is refused" {
	local mib
	mib=$(yes 0123456789abcdef | head -n 65536 | tr -d '\n')
	[ "${#mib}" -eq 1048576 ]
	printf '%s\n%sX\nend\n' "$mib" "$mib" >"$T/in"
	converse "$T/in" -m 1048576 -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nerror line too long (max 1048576 bytes)\nok 2\nbye 2\n'
	[ "$(wc -l <"$T/F")" -eq 5 ]
	[ "$(sed -n 2p "$T/F" | cut -d ' ' -f 3-6)" = 'local #1 receive message:' ]
	[ "$(sed -n 2p "$T/F" | cut -d ' ' -f 7-)" = "$mib" ]
	sed 2d "$T/F" >"$T/F2"
	records_are "$T/F2" 'local connect' \
		'local #- rejected: line too long (1048577 bytes)' \
		'local #2 receive message: end' \
		'local disconnect: 2 messages, 1048579 bytes, eof'
}

@test "a 1 MiB line with the default limit gets one error and the connection goes on" {
	{
		n_bytes 1048576 x
		printf '\nafter\n'
	} >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nerror line too long (max 4096 bytes)\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' \
		'local #- rejected: line too long (1048576 bytes)' \
		'local #1 receive message: after' \
		'local disconnect: 1 message, 5 bytes, eof'
}

@test "a line at the limit is judged whole when it arrives in pieces" {
	status=0
	timeout -k 5 20 "${HANDLER_CMD[@]}" -m 4 -l "$T/F" < <(
		printf 'abcd\r'	# at the limit, and its CR: may still end well
		sleep 0.2
		printf '\nabcd'
		sleep 0.2
		printf 'e\nabcde'	# one byte over, in two pieces
		sleep 0.2
		printf '\r\nok\n'
	) >"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nerror line too long (max 4 bytes)\nerror line too long (max 4 bytes)\nok 2\nbye 2\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: abcd' \
		'local #- rejected: line too long (5 bytes)' \
		'local #- rejected: line too long (5 bytes)' \
		'local #2 receive message: ok' \
		'local disconnect: 2 messages, 6 bytes, eof'
}

@test "-m 1 accepts one-byte lines and refuses longer ones" {
	printf 'a\nbb\n\nc\r\n' >"$T/in"
	converse "$T/in" -m 1 -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nerror line too long (max 1 bytes)\nok 2\nok 3\nbye 3\n'
	records_are "$T/F" 'local connect' \
		'local #1 receive message: a' \
		'local #- rejected: line too long (2 bytes)' \
		'local #2 receive message: ' \
		'local #3 receive message: c' \
		'local disconnect: 3 messages, 2 bytes, eof'
}

@test "-m takes a number from 1 to 1048576 and names a bad value" {
	local v
	for v in 0 1048577 -1 abc '' 1.5 ' 1' +1 99999999999999999999; do
		handler_usage_error "-m: bad value '$v' (a number from 1 to 1048576)" \
			-m "$v" -l "$T/F"
	done
	[ ! -e "$T/F" ]
}

# ---- the idle timeout ----

@test "with -t 1 a silent client gets error idle timeout after a second" {
	local start ms limit=4000
	[ -z "$MSGD_WRAP" ] || limit=8000
	start=$(now_ms)
	status=0
	timeout -k 5 20 "${HANDLER_CMD[@]}" -t 1 -l "$T/F" \
		< <(exec sleep 5 3>&-) >"$T/out" 2>"$T/err" || status=$?
	ms=$(($(now_ms) - start))
	kill "$!" 2>/dev/null || true
	[ "$status" -eq 1 ]
	[ "$ms" -ge 900 ] && [ "$ms" -lt "$limit" ] || { echo "$ms ms"; false; }
	file_is "$T/out" 'hello\nerror idle timeout\n'
	file_is "$T/err" ''
	records_are "$T/F" 'local connect' \
		'local disconnect: 0 messages, 0 bytes, timeout'
}

@test "the idle timeout counts from the last input, and -t 0 never times out" {
	status=0
	timeout -k 5 20 "${HANDLER_CMD[@]}" -t 1 -l "$T/F" \
		< <(printf 'a\n'; sleep 0.6; printf 'b\n'; sleep 0.6; printf 'c\n') \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nbye 3\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: a' \
		'local #2 receive message: b' 'local #3 receive message: c' \
		'local disconnect: 3 messages, 3 bytes, eof'

	status=0
	timeout -k 5 20 "${HANDLER_CMD[@]}" -t 0 -l "$T/G" \
		< <(sleep 1.3; printf 'late\n') >"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/G" 'local connect' 'local #1 receive message: late' \
		'local disconnect: 1 message, 4 bytes, eof'
}

@test "on a pipe nobody reads, as in ssh or a pipeline, the replies are bounded by -t and SIGTERM ends the wait" {
	local pid
	# 30000 oks are far more than the 64 KiB a pipe holds
	seq 1 30000 >"$T/in"
	mkfifo "$T/pipe"
	# a reader that holds the pipe open and reads nothing
	# shellcheck disable=SC2016 # sh's $1
	start_server "$T/nobody" sh -c 'exec sleep 60 <"$1"' sh "$T/pipe"
	SECONDS=0
	status=0
	timeout -k 5 15 "${HANDLER_CMD[@]}" -t 2 -l "$T/F" <"$T/in" \
		>"$T/pipe" 2>"$T/err" || status=$?
	[ "$status" -eq 1 ] || { echo "status $status after $SECONDS s"; false; }
	[ "$SECONDS" -lt 8 ] || { echo "$SECONDS s"; false; }
	[ "$(record_count "$T/F" ', timeout$')" -eq 1 ]

	# -t 0: a reader that takes nothing gets 300 s, but SIGTERM ends that
	status=0
	timeout -k 5 15 "${HANDLER_CMD[@]}" -t 0 -l "$T/G" <"$T/in" \
		>"$T/pipe" 2>"$T/err" 3>&- &
	pid=$!
	sleep 1
	SECONDS=0
	kill -TERM "$pid"
	wait "$pid" || status=$?
	[ "$status" -eq 0 ] || { echo "status $status after $SECONDS s"; false; }
	[ "$SECONDS" -lt 5 ] || { echo "$SECONDS s"; false; }
	[ "$(record_count "$T/G" ', shutdown$')" -eq 1 ]
}

@test "-t takes a number from 0 to 2000000 and names a bad value" {
	local v
	for v in -1 abc '' 2000001 1.5 ' 1' 1s; do
		handler_usage_error "-t: bad value '$v' (a number from 0 to 2000000)" \
			-t "$v"
	done
}

# ---- usage ----

@test "an unknown option is a usage error" {
	handler_usage_error 'unknown option -x' -x
	handler_usage_error 'unknown option -?' -l "$T/F" '-?'
	[ ! -e "$T/F" ]
}

@test "an option without its value is a usage error" {
	local o
	for o in g l m t; do
		handler_usage_error "-$o needs a value" "-$o"
	done
}

@test "an extra argument is a usage error and touches no record file" {
	handler_usage_error "unexpected argument 'extra'" -l "$T/F" extra
	[ ! -e "$T/F" ]
}

@test "-l and -s together are a usage error" {
	handler_usage_error '-l and -s both say where records go: pick one' \
		-l "$T/F" -s
	handler_usage_error '-l and -s both say where records go: pick one' \
		-s -l "$T/F"
	[ ! -e "$T/F" ]
}

# ---- input in pieces and in bulk ----

@test "a message trickled a byte at a time through a pipe is one message" {
	local LC_ALL=C msg=$'slow \xe4\xbd\xa0\xe5\xa5\xbd\\ line\n' i
	status=0
	timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/F" < <(
		for ((i = 0; i < ${#msg}; i++)); do
			printf '%s' "${msg:i:1}"
			sleep 0.02
		done
	) >"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' \
		'local #1 receive message: slow 你好\\ line' \
		'local disconnect: 1 message, 17 bytes, eof'
}

@test "10,000 messages in one write get ok 1 to ok 10000 in order and 10,002 records" {
	local want=()
	seq -f 'm%g' 1 10000 >"$T/in"
	converse "$T/in" -l "$T/F"
	[ "$status" -eq 0 ]
	diff -u <(echo hello; seq -f 'ok %g' 1 10000; echo 'bye 10000') "$T/out"
	mapfile -t want < <(echo 'local connect'
		seq 1 10000 | sed 's/.*/local #& receive message: m&/'
		echo 'local disconnect: 10000 messages, 48894 bytes, eof')
	[ "${#want[@]}" -eq 10002 ]
	records_are "$T/F" "${want[@]}"
}

# ---- records that cannot be written ----

@test "a record sink on a full disk gets the client error cannot record message and exit 1" {
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l /dev/full
	[ "$status" -eq 1 ]
	file_is "$T/out" 'error cannot record message\n'
	file_is "$T/err" 'msgd-handler: cannot write record to /dev/full: No space left on device\n'
}

@test "a record file that cannot be opened gets the client error cannot record message and exit 1" {
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l "$T/missing/F"
	[ "$status" -eq 1 ]
	file_is "$T/out" 'error cannot record message\n'
	file_is "$T/err" "msgd-handler: cannot open record file $T/missing/F: No such file or directory\n"

	: >"$T/file"	# a path under a regular file: ENOTDIR, even for root
	converse "$T/in" -l "$T/file/F"
	[ "$status" -eq 1 ]
	file_is "$T/out" 'error cannot record message\n'
	file_is "$T/err" "msgd-handler: cannot open record file $T/file/F: Not a directory\n"
	[ ! -s "$T/file" ]
}

@test "a record file that fills up mid-stream acknowledges exactly the messages it recorded" {
	local k want=()
	seq -f 'message %03g, padded to make the record file fill up' 1 300 \
		>"$T/in"
	status=0
	(
		ulimit -f 4	# 4 KiB
		exec timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/F" <"$T/in" \
			>"$T/out" 2>"$T/err"
	) || status=$?
	[ "$status" -eq 1 ]
	# hello, ok 1 .. ok K, the error and nothing after it
	k=$(($(wc -l <"$T/out") - 2))
	[ "$k" -gt 0 ] && [ "$k" -lt 300 ]
	diff -u <(echo hello; seq -f 'ok %g' 1 "$k"
		echo 'error cannot record message') "$T/out"
	# every acknowledged message has its record, and no other does
	mapfile -t want < <(echo 'local connect'
		head -n "$k" "$T/in" | awk '{ print "local #" NR " receive message: " $0 }')
	records_are "$T/F" "${want[@]}"
	file_is "$T/err" "msgd-handler: cannot write record to $T/F: File too large\n"
}

@test "a record file that fills up in a later batch acknowledges none of that batch's messages" {
	status=0
	(
		ulimit -f 1	# 1 KiB: the first batch fits, the second does not
		{ printf 'a\nb\nc\n'; sleep 0.3; printf '%0900d\nd\ne\n' 0; } |
			timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/F" >"$T/out" 2>"$T/err"
	) || status=$?
	[ "$status" -eq 1 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nok 3\nerror cannot record message\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: a' \
		'local #2 receive message: b' 'local #3 receive message: c'
}

@test "on a terminal the handler talks on stderr, not syslog, though fds 0 and 2 are the same tty" {
	need python3
	# a pty on fds 0 and 2, as in an interactive shell; fd 1 a pipe
	run timeout -k 5 20 python3 -c '
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.run(sys.argv[1:], stdin=slave, stderr=slave, stdout=subprocess.PIPE)
os.close(slave)
out = b""
while True:
    try:
        d = os.read(master, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
sys.stdout.write("status=%d stdout=%r\n" % (p.returncode, p.stdout))
sys.stdout.write(out.decode().replace("\r\n", "\n"))
' "$MSGD_BIN/msgd-handler" -m abc
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "status=2 stdout=b''" ]
	[ "${lines[1]}" = "msgd-handler: -m: bad value 'abc' (a number from 1 to 1048576)" ]
	[ "${lines[2]}" = "$USAGE" ]
}

@test "with -S a failed fsync acknowledges nothing" {
	need strace
	printf 'hi\n' >"$T/in"
	status=0
	# the first fsync is the connect record's, the second the message's
	ASAN_OPTIONS=$LSAN_OFF timeout -k 5 20 strace -f -qq -o /dev/null -e trace=fsync \
		-e inject=fsync:error=EIO:when=2 \
		"${HANDLER_CMD[@]}" -S -l "$T/F" <"$T/in" >"$T/out" 2>"$T/err" ||
		status=$?
	[ "$status" -eq 1 ]
	file_is "$T/out" 'hello\nerror cannot record message\n'
	# glibc and musl word EIO differently
	file_is "$T/err" "msgd-handler: cannot write record to $T/F: Input/output error\n" ||
		file_is "$T/err" "msgd-handler: cannot write record to $T/F: I/O error\n"
}

# ---- where records go ----

@test "-l - writes the records on stderr" {
	printf 'hi\n' >"$T/in"
	converse "$T/in" -l -
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/err" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
	[ ! -e ./- ] && [ ! -e "$T/-" ]
}

@test "with no -l and an ordinary stderr the records go to stderr" {
	printf 'hi\n' >"$T/in"
	converse "$T/in"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/err" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
}

@test "with -S the record is fsynced after it is written and before ok is sent" {
	need strace
	local fd order
	printf 'hi\n' >"$T/in"
	status=0
	ASAN_OPTIONS=$LSAN_OFF timeout -k 5 20 strace -f -qq -s 256 -o "$T/trace" \
		-e trace=open,openat,write,fsync,fdatasync \
		"${HANDLER_CMD[@]}" -S -l "$T/F" <"$T/in" >"$T/out" 2>"$T/err" ||
		status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" 'local connect' 'local #1 receive message: hi' \
		'local disconnect: 1 message, 2 bytes, eof'
	# the descriptor the record went to: the record file's own (reopened
	# through /proc/self/fd, the first open of the path only creates it)
	fd=$(grep -oE '^[0-9]+ +write\([0-9]+, "[^"]* #1 receive message: hi' "$T/trace" |
		sed -E 's/^[0-9]+ +write\(([0-9]+),.*/\1/')
	[ -n "$fd" ] && [ "$fd" -gt 2 ]
	# the line numbers of the record's write, the next fsync, the ok
	order=$(awk -v fd="$fd" '
		!rec && index($0, "write(" fd ", \"") &&
		    index($0, " #1 receive message: hi\\n\"") { rec = NR }
		rec && !sync && (index($0, "fsync(" fd ")") ||
		    index($0, "fdatasync(" fd ")")) { sync = NR }
		!ok && index($0, "write(1, \"ok 1\\n\"") { ok = NR }
		END { print (rec && sync && ok && rec < sync && sync < ok) }
		' "$T/trace")
	[ "$order" = 1 ] || { cat "$T/trace"; false; }

	# and without -S there is no fsync at all
	ASAN_OPTIONS=$LSAN_OFF timeout -k 5 20 strace -f -qq -o "$T/trace2" -e trace=fsync,fdatasync \
		"${HANDLER_CMD[@]}" -l "$T/G" <"$T/in" >"$T/out" 2>"$T/err"
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	[ "$(grep -cE 'f(data)?sync\(' "$T/trace2")" -eq 0 ]
}

# ---- the peer ----

@test "on a pipe with no address in the environment the peer is local" {
	peer_is local
}

@test "the peer comes from TCPREMOTEIP and TCPREMOTEPORT when PROTO=TCP says a UCSPI launcher set them" {
	peer_is 192.0.2.7:4321 PROTO=TCP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=4321
	peer_is '[2001:db8::1]:4321' PROTO=TCP TCPREMOTEIP=2001:db8::1 TCPREMOTEPORT=4321
	# without PROTO=TCP they are not a launcher's word
	peer_is local TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=4321
	peer_is local PROTO=UDP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=4321
}

@test "REMOTE_HOST and REMOTE_PORT (stunnel's exec mode) give the peer, before REMOTE_ADDR" {
	peer_is 203.0.113.5:5555 REMOTE_HOST=203.0.113.5 REMOTE_PORT=5555
	peer_is 203.0.113.5:5555 REMOTE_ADDR=198.51.100.9 REMOTE_HOST=203.0.113.5 \
		REMOTE_PORT=5555
	# stunnel may put a name there; only an address is taken
	peer_is 198.51.100.9:80 REMOTE_HOST=client.example REMOTE_ADDR=198.51.100.9 \
		REMOTE_PORT=80
}

@test "REMOTE_ADDR and REMOTE_PORT (systemd) give the peer when the UCSPI variables are absent" {
	peer_is 198.51.100.9:80 REMOTE_ADDR=198.51.100.9 REMOTE_PORT=80
	peer_is '[2001:db8::2]:8080' REMOTE_ADDR=2001:db8::2 REMOTE_PORT=8080
}

@test "TCPREMOTEIP wins over REMOTE_HOST and REMOTE_ADDR when all are set" {
	peer_is 192.0.2.7:4321 REMOTE_ADDR=198.51.100.9 REMOTE_PORT=80 \
		REMOTE_HOST=203.0.113.5 PROTO=TCP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=4321
}

@test "an address or port in the environment that is not valid is ignored" {
	peer_is local PROTO=TCP TCPREMOTEIP=not-an-ip TCPREMOTEPORT=4321
	peer_is local PROTO=TCP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=70000
	peer_is local PROTO=TCP TCPREMOTEIP=$'192.0.2.7\n' TCPREMOTEPORT=4321
	peer_is local PROTO=TCP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=$'4321\n'
	peer_is local PROTO=TCP TCPREMOTEIP='192.0.2.7 x' TCPREMOTEPORT=4321
	peer_is local PROTO=TCP TCPREMOTEIP='[2001:db8::1]' TCPREMOTEPORT=4321
	peer_is local PROTO=TCP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=
	peer_is local PROTO=TCP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=-1
	peer_is local PROTO=TCP TCPREMOTEIP=192.0.2.7
	peer_is local REMOTE_ADDR=$'10.0.0.1\r' REMOTE_PORT=80
	# a bad UCSPI address falls through to the systemd one
	peer_is 198.51.100.9:80 PROTO=TCP TCPREMOTEIP=999.1.1.1 TCPREMOTEPORT=4321 \
		REMOTE_ADDR=198.51.100.9 REMOTE_PORT=80
	peer_is 198.51.100.9:80 PROTO=TCP TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=70000 \
		REMOTE_ADDR=198.51.100.9 REMOTE_PORT=80
}

@test "over TCP the client gets the whole exchange and the records name its address and port" {
	printf 'hi\nthere\n' >"$T/in"
	# TCPREMOTEIP without PROTO=TCP is no launcher's word: the socket's peer
	# shellcheck disable=SC2034 # read by talk (helpers.bash)
	serve_opts=(--env TCPREMOTEIP=192.0.2.7 --env TCPREMOTEPORT=4321)
	talk "$T/in" -- -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	file_is "$T/port.err" ''
	records_are "$T/F" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: hi" \
		"127.0.0.1:$cport #2 receive message: there" \
		"127.0.0.1:$cport disconnect: 2 messages, 7 bytes, eof"
}

@test "over TCP behind a relay the environment's client wins over the socket's peer" {
	printf 'hi\n' >"$T/in"
	# shellcheck disable=SC2034 # read by talk (helpers.bash)
	serve_opts=(--env REMOTE_HOST=203.0.113.5 --env REMOTE_PORT=5555)
	talk "$T/in" -- -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" "203.0.113.5:5555 connect" \
		"203.0.113.5:5555 #1 receive message: hi" \
		"203.0.113.5:5555 disconnect: 1 message, 2 bytes, eof"
}

@test "over TCP on ::1 the records name the client as [::1]:PORT" {
	need python3
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
		2>/dev/null || skip "no IPv6 loopback"
	printf 'hi\n' >"$T/in"
	# shellcheck disable=SC2034 # read by talk (helpers.bash)
	serve_opts=(--env TCPREMOTEIP=192.0.2.7 --env TCPREMOTEPORT=4321)
	talk -6 "$T/in" -- -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" "[::1]:$cport connect" \
		"[::1]:$cport #1 receive message: hi" \
		"[::1]:$cport disconnect: 1 message, 2 bytes, eof"
}

@test "a message trickled a byte at a time over TCP is one message" {
	printf 'one slow message\n' >"$T/in"
	talk "$T/in" --trickle -- -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: one slow message" \
		"127.0.0.1:$cport disconnect: 1 message, 16 bytes, eof"
}

# ---- clients that go away ----

@test "a client that resets after its answers ends the handler quietly with a reset record" {
	printf 'one\ntwo\n' >"$T/in"
	# no FIN: the handler can only see the RST
	talk "$T/in" --reset-after-send --wait-lines 3 -- -l "$T/F"
	[ "$status" -eq 1 ]
	file_is "$T/out" 'hello\nok 1\nok 2\n'
	file_is "$T/port.err" ''
	records_are "$T/F" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: one" \
		"127.0.0.1:$cport #2 receive message: two" \
		"127.0.0.1:$cport disconnect: 2 messages, 6 bytes, reset"
}

@test "a client that resets without reading ends the handler with status 1 and a reset record" {
	local k want=()
	seq -f 'line %g' 1 2000 >"$T/in"
	# all 2000 lines, then only the greeting read (so the handler is up
	# and knows its peer), then an RST with the acks unread
	talk "$T/in" --reset-after-send --wait-lines 1 -- -l "$T/F"
	# 1, not 141: SIGPIPE (restored to its default by tcp.py) did not kill it
	[ "$status" -eq 1 ]
	file_is "$T/port.err" ''
	[ "$(head -n 1 "$T/out")" = hello ]
	# however far it got, the records are whole and say reset
	k=$(($(wc -l <"$T/F") - 2))
	mapfile -t want < <(echo "127.0.0.1:$cport connect"
		head -n "$k" "$T/in" | awk -v p="127.0.0.1:$cport" \
			'{ print p " #" NR " receive message: " $0 }')
	sed '$d' "$T/F" >"$T/F2"
	records_are "$T/F2" "${want[@]}"
	tail -n 1 "$T/F" | grep -qE "^${TS_RE}127\.0\.0\.1:[0-9]+ disconnect: $k messages?, [0-9]+ bytes, reset$"
}

@test "a record file that fills up over TCP still delivers every ok and the error: unread input is drained, not reset" {
	need python3 prlimit
	local port k
	# 40,000 lines: most are still unread when the record file is full
	seq -f 'message %05g, padded to make the record file fill up' 1 40000 >"$T/in"
	start_server "$T/port" python3 "$TCP_PY" serve-once prlimit --fsize=4096 \
		"${HANDLER_CMD[@]}" -l "$T/F"
	port=$(wait_line "$T/port")
	status=0
	timeout -k 5 20 python3 "$TCP_PY" client 127.0.0.1 "$port" --port-file "$T/cport" \
		<"$T/in" >"$T/out" 2>"$T/cerr" || status=$?
	[ "$status" -eq 0 ] || { cat "$T/cerr"; false; }
	k=$(($(wc -l <"$T/out") - 2))
	[ "$k" -gt 0 ] && [ "$k" -lt 40000 ]
	diff -u <(echo hello; seq -f 'ok %g' 1 "$k"
		echo 'error cannot record message') "$T/out"
	[ "$(record_count "$T/F" ' receive message: ')" -eq "$k" ]
	status=0
	wait "${SERVER_PIDS[-1]}" || status=$?
	[ "$status" -eq 1 ]
}

# flood_unread PORT: in the background for at most 30 s, a client that
# sends lines to 127.0.0.1:PORT and never reads a reply (its PID remembered)
flood_unread() {
	python3 - "$1" <<'EOF' 3>&- &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
chunk = b"x\n" * 65536
end = time.time() + 30
s.settimeout(1)
while time.time() < end:
    try:
        s.send(chunk)
    except socket.timeout:
        pass
    except OSError:
        break
EOF
	SERVER_PIDS+=("$!")
}

@test "with -t 0 a client that never reads is still bounded: the handler waits in ppoll with a 300 s limit" {
	need strace python3
	# under valgrind the handler reads too slowly to fill the buffers in time
	[ -z "$MSGD_WRAP" ] || skip "the replies cannot outrun a client under $MSGD_WRAP"
	local port spid
	start_server "$T/port" python3 "$TCP_PY" serve-once env "ASAN_OPTIONS=$LSAN_OFF" \
		strace -f -o "$T/trace" -e trace=poll,ppoll "${HANDLER_CMD[@]}" -t 0 -l /dev/null
	spid=${SERVER_PIDS[-1]}
	port=$(wait_line "$T/port")
	# send lines and never read: the replies fill the socket buffers
	flood_unread "$port"
	wait_grep "$T/trace" 'ppoll\(\[\{fd=1, events=POLLOUT\}\], 1, \{tv_sec=(300|299), ' 15
	kill "${SERVER_PIDS[-1]}" "$spid" 2>/dev/null || true
}

@test "a non-blocking connection inherited from another super-server is served like a blocking one" {
	need python3
	# -t 0: no poll before a read, the read itself meets EAGAIN
	PID_FILE=$T/pid python3 - "${HANDLER_CMD[@]}" -t 0 -l "$T/F" >"$T/out" 2>"$T/err" <<'EOF'
import os, socket, subprocess, sys, time
open(os.environ["PID_FILE"], "w").write(str(os.getpid()))
a, b = socket.socketpair()
a.setblocking(False)  # the caller's O_NONBLOCK, on the handler's fds 0 and 1
p = subprocess.Popen(sys.argv[1:], stdin=a, stdout=a)
a.close()
b.settimeout(10)
got = b""
for line in (b"one\n", b"two\n"):
    time.sleep(0.3)   # the handler is in read() before this arrives
    b.sendall(line)
time.sleep(0.3)
b.shutdown(socket.SHUT_WR)
while True:
    chunk = b.recv(4096)
    if not chunk:
        break
    got += chunk
sys.stdout.write(got.decode())
sys.exit(p.wait(10))
EOF
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	file_is "$T/err" ''
	# a socket pair is a UNIX-domain socket: its peer is who made it
	local peer
	peer="uid=$(id -u),gid=$(id -g),pid=$(cat "$T/pid")"
	records_are "$T/F" "$peer connect" "$peer #1 receive message: one" \
		"$peer #2 receive message: two" "$peer disconnect: 2 messages, 6 bytes, eof"
}

@test "-h and --help print the usage, a line for each option of the man page and its name, on stdout, and exit 0" {
	help_is_man "$MSGD_BIN/msgd-handler" "$BATS_TEST_DIRNAME/../man/msgd-handler.8"
}

@test "a reader that has gone away ends the handler with status 1, not SIGPIPE" {
	local rw w
	printf 'hi\n' >"$T/in"
	mkfifo "$T/pipe"
	# a pipe whose only reader is closed: every write gets SIGPIPE/EPIPE
	exec {rw}<>"$T/pipe"
	exec {w}>"$T/pipe"
	exec {rw}<&-
	status=0
	(trap - PIPE && exec timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/F" \
		<"$T/in" 1>&"$w" 2>"$T/err") || status=$?
	exec {w}>&-
	[ "$status" -eq 1 ]
	file_is "$T/err" ''
	records_are "$T/F" 'local connect' \
		'local disconnect: 0 messages, 0 bytes, reset'
}

# ---- syslog, and the connection on fd 2 (xinetd) ----

@test "with -s the records go to /dev/log as daemon.info datagrams" {
	need_mount_ns
	need python3
	mkdir "$T/dev"
	start_server "$T/syslog" python3 "$TCP_PY" syslog "$T/dev/log"
	wait_line "$T/syslog"
	printf 'hi\nthere\n' >"$T/in"
	status=0
	with_dev "$T/dev" timeout -k 5 20 "${HANDLER_CMD[@]}" -s <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	file_is "$T/err" ''
	syslog_drain "$T/dev/log" "$T/syslog"
	# no ISO time stamp: syslog has its own
	diff -u <(printf '%s\n' '<30> local connect' \
		'<30> local #1 receive message: hi' \
		'<30> local #2 receive message: there' \
		'<30> local disconnect: 2 messages, 7 bytes, eof') \
		<(syslog_records "$T/syslog")
	[ "$(grep -oE 'msgd-handler\[[0-9]+\]' "$T/syslog" | sort -u | wc -l)" -eq 1 ]
}

@test "with -s and a stream /dev/log (syslog-ng unix-stream) the records go over a stream connection, each ended by a NUL as syslog(3) does" {
	need_mount_ns
	need python3
	mkdir "$T/dev"
	# one connection's bytes as they came, then --end-- when it closes
	start_server "$T/syslog" python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
print(sys.argv[1], flush=True)
c, _ = s.accept()
while True:
    b = c.recv(65536)
    if not b:
        break
    sys.stdout.buffer.write(b)
    sys.stdout.flush()
print("--end--", flush=True)' "$T/dev/log"
	wait_line "$T/syslog"
	printf 'hi\nthere\n' >"$T/in"
	status=0
	with_dev "$T/dev" timeout -k 5 20 "${HANDLER_CMD[@]}" -s <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	file_is "$T/err" ''
	wait_grep "$T/syslog" '^--end--$'
	# four records, each followed by its NUL and nothing else
	[ "$(tr -cd '\0' <"$T/syslog" | wc -c)" -eq 4 ]
	[ "$(wc -l <"$T/syslog")" -eq 2 ]
	tr '\0' '\n' <"$T/syslog" >"$T/frames"
	diff -u <(printf '%s\n' '<30> local connect' \
		'<30> local #1 receive message: hi' \
		'<30> local #2 receive message: there' \
		'<30> local disconnect: 2 messages, 7 bytes, eof') \
		<(syslog_records "$T/frames")
}

@test "with -s and a syslog daemon that has stalled the client gets error cannot record message within seconds" {
	need_mount_ns
	need python3
	mkdir "$T/dev"
	# a /dev/log that is bound but never read: its queue fills up
	start_server "$T/stalled" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(sys.argv[1], flush=True)
time.sleep(60)' "$T/dev/log"
	wait_line "$T/stalled"
	seq 1 200 >"$T/in"
	status=0
	SECONDS=0
	with_dev "$T/dev" timeout -k 5 30 "${HANDLER_CMD[@]}" -s <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 1 ]
	[ "$SECONDS" -lt 20 ]
	# whatever was acknowledged, in order, then the error and nothing more
	k=$(grep -c '^ok ' "$T/out" || true)
	[ "$k" -lt 200 ]
	diff -u <(echo hello; [ "$k" -eq 0 ] || seq -f 'ok %g' 1 "$k"
		echo 'error cannot record message') "$T/out"
}

@test "with the connection on fds 0, 1 and 2 and no -l the client hears only the protocol and the records go to syslog" {
	need_mount_ns
	need python3
	local port cport
	mkdir "$T/dev"
	start_server "$T/syslog" python3 "$TCP_PY" syslog "$T/dev/log"
	wait_line "$T/syslog"
	dev_pre "$T/dev"
	start_server "$T/port" "${DEV_PRE[@]}" python3 "$TCP_PY" \
		serve-once --fd2 "${HANDLER_CMD[@]}"
	port=$(wait_line "$T/port")
	printf 'hi\nthere\n' | timeout -k 5 20 python3 "$TCP_PY" client 127.0.0.1 \
		"$port" --port-file "$T/cport" >"$T/out"
	cport=$(cat "$T/cport")
	status=0
	wait "${SERVER_PIDS[1]}" || status=$?
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	file_is "$T/port.err" ''
	syslog_drain "$T/dev/log" "$T/syslog"
	diff -u <(printf '%s\n' "<30> 127.0.0.1:$cport connect" \
		"<30> 127.0.0.1:$cport #1 receive message: hi" \
		"<30> 127.0.0.1:$cport #2 receive message: there" \
		"<30> 127.0.0.1:$cport disconnect: 2 messages, 7 bytes, eof") \
		<(syslog_records "$T/syslog")
}

@test "with the connection on fd 2 a usage error goes to syslog, not to the client" {
	need_mount_ns
	need python3
	local port
	mkdir "$T/dev"
	start_server "$T/syslog" python3 "$TCP_PY" syslog "$T/dev/log"
	wait_line "$T/syslog"
	dev_pre "$T/dev"
	start_server "$T/port" "${DEV_PRE[@]}" python3 "$TCP_PY" \
		serve-once --fd2 "${HANDLER_CMD[@]}" -x
	port=$(wait_line "$T/port")
	timeout -k 5 20 python3 "$TCP_PY" client 127.0.0.1 "$port" \
		--port-file "$T/cport" </dev/null >"$T/out"
	status=0
	wait "${SERVER_PIDS[1]}" || status=$?
	[ "$status" -eq 2 ]
	file_is "$T/out" ''
	syslog_drain "$T/dev/log" "$T/syslog"
	# daemon.err
	diff -u <(printf '%s\n' '<27> unknown option -x' "<27> $USAGE") \
		<(syslog_records "$T/syslog")
}

@test "with -s and no /dev/log the client gets error cannot record message and exit 1" {
	need_mount_ns
	mkdir "$T/dev"
	printf 'hi\n' >"$T/in"
	status=0
	with_dev "$T/dev" timeout -k 5 20 "${HANDLER_CMD[@]}" -s <"$T/in" \
		>"$T/out" 2>"$T/err" || status=$?
	[ "$status" -eq 1 ]
	file_is "$T/out" 'error cannot record message\n'
	file_is "$T/err" 'msgd-handler: cannot write record to syslog at /dev/log: No such file or directory\n'
}

@test "with -s and no /dev/log under msgd-launcher, the launcher's log names /dev/log and the child's exit 1" {
	need_mount_ns
	local port
	mkdir "$T/dev"
	dev_pre "$T/dev"
	start_server "$T/port" "${DEV_PRE[@]}" "$MSGD_BIN/msgd-launcher" -v -1 \
		127.0.0.1 0 "${HANDLER_CMD[@]}" -s
	port=$(wait_line "$T/port")
	[ "$(printf 'hi\n' | timeout -k 5 10 "$MSGD_BIN/msgd-client" 127.0.0.1 "$port")" = 'error cannot record message' ]
	wait_grep "$T/port.err" '^msgd-launcher: end [0-9]+ status 1$'
	grep -qx 'msgd-handler: cannot write record to syslog at /dev/log: No such file or directory' "$T/port.err"
}

@test "with the connection on fds 0, 1 and 2 and no /dev/log the client gets only error cannot record message" {
	need_mount_ns
	need python3
	local port
	mkdir "$T/dev"
	dev_pre "$T/dev"
	start_server "$T/port" "${DEV_PRE[@]}" python3 "$TCP_PY" \
		serve-once --fd2 "${HANDLER_CMD[@]}"
	port=$(wait_line "$T/port")
	# nothing sent: input left unread would turn the close into an RST
	timeout -k 5 20 python3 "$TCP_PY" client 127.0.0.1 "$port" \
		--port-file "$T/cport" </dev/null >"$T/out"
	status=0
	wait "${SERVER_PIDS[0]}" || status=$?
	[ "$status" -eq 1 ]
	file_is "$T/out" 'error cannot record message\n'
	file_is "$T/port.err" ''
}

# ---- many handlers, one file ----

# all_in_order FILE N COUNT: FILE holds the records of N handlers that got
# COUNT lines "handler I line K" each: every line a whole record, and for
# each pid connect, its own lines 1..COUNT in order, disconnect
all_in_order() {
	local check
	[ "$(wc -l <"$1")" -eq $(($2 * ($3 + 2))) ]
	[ "$(grep -cvE "^${TS_RE}local (connect|#[0-9]+ receive message: handler [0-9]+ line [0-9]+|disconnect: $3 messages?, [0-9]+ bytes, eof)$" "$1")" -eq 0 ]
	check=$(awk -v count="$3" '
		function bad(why) { print "line " NR ": " why; exit 1 }
		$4 == "connect" {
			if ($2 in seen) bad("second connect")
			seen[$2] = 0
			next
		}
		$4 == "disconnect:" {
			if (seen[$2] != count) bad("early disconnect")
			done++
			next
		}
		{
			num = substr($4, 2)
			if (!($2 in seen) || seen[$2] != num - 1 || $10 != num)
				bad("out of order")
			if (num == 1) {
				if ($8 in who) bad("two pids for handler " $8)
				who[$8] = $2
				mine[$2] = $8
				inputs++
			} else if ($8 != mine[$2])
				bad("another handler'\''s line")
			seen[$2] = num
		}
		END { print done " handlers, " inputs " inputs" }
		' "$1")
	[ "$check" = "$2 handlers, $2 inputs" ] || { echo "$check"; false; }
}

@test "20 handlers appending to one file at once never interleave their records" {
	local n=20 count=5000 i pids=() failed=0
	# under valgrind twenty handlers take too long: fewer, shorter
	if [ -n "$MSGD_WRAP" ]; then
		n=4 count=1000
	fi
	for ((i = 1; i <= n; i++)); do
		seq -f "handler $i line %g" 1 "$count" >"$T/in$i"
	done
	{ echo hello; seq -f 'ok %g' 1 "$count"; echo "bye $count"; } >"$T/want"
	for ((i = 1; i <= n; i++)); do
		timeout -k 5 20 "${HANDLER_CMD[@]}" -l "$T/shared" <"$T/in$i" \
			>"$T/out$i" 2>"$T/err$i" 3>&- &
		pids+=("$!")
	done
	for ((i = 1; i <= n; i++)); do
		wait "${pids[i - 1]}" || failed=$((failed + 1))
		cmp "$T/want" "$T/out$i"
		file_is "$T/err$i" ''
	done
	[ "$failed" -eq 0 ]
	# every line a whole record
	all_in_order "$T/shared" "$n" "$count"
}

@test "handlers sharing one pipe for their records never interleave them" {
	local n=8 count=3000 i pids=() failed=0
	if [ -n "$MSGD_WRAP" ]; then
		n=3 count=1000
	fi
	for ((i = 1; i <= n; i++)); do
		seq -f "handler $i line %g" 1 "$count" >"$T/in$i"
	done
	shared_fifo "$T/pipe" "$T/shared"
	# one writer end for all: the reader sees EOF when the last one ends
	for ((i = 1; i <= n; i++)); do
		timeout -k 5 20 "${HANDLER_CMD[@]}" -l - <"$T/in$i" >"$T/out$i" \
			2>&5 3>&- &
		pids+=("$!")
	done
	exec 5>&-
	for ((i = 1; i <= n; i++)); do
		wait "${pids[i - 1]}" || failed=$((failed + 1))
		[ "$(tail -n 1 "$T/out$i")" = "bye $count" ]
	done
	wait "$READER"
	[ "$failed" -eq 0 ]
	all_in_order "$T/shared" "$n" "$count"
}

@test "SIGTERM while a client that never reads holds the replies ends the handler within seconds, not after -t" {
	need python3 pgrep
	local port spid
	[ -z "$MSGD_WRAP" ] || skip "the replies cannot outrun a client under $MSGD_WRAP"
	start_server "$T/port" python3 "$TCP_PY" serve-once "${HANDLER_CMD[@]}" -t 60 -l /dev/null
	spid=${SERVER_PIDS[-1]}
	port=$(wait_line "$T/port")
	flood_unread "$port"
	# the handler is stuck sending: its replies fill both buffers
	sleep 3
	kill -TERM "$(pgrep -P "$spid")"
	SECONDS=0
	status=0
	wait "$spid" || status=$?
	[ "$SECONDS" -lt 15 ] || { echo "took $SECONDS s"; false; }
	[ "$status" -eq 0 ]
}
