#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The PROXY protocol: its parser (lib/proxy.c) case by case, and the
# handler's -p over real TCP.

load helpers

# the peer must come from the test, never from the caller's environment
unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT

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

# refused WHAT: the handler refused the header: exactly the error line for
# the client, no greeting, status 1, no record, and on stderr the line
# "bad proxy header from PEER" and WHAT after it
# shellcheck disable=SC2154 # cport is set by talk (helpers.bash)
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
		'192.0.2.10:40000 disconnect: 1 message, 2 bytes, eof'
}

@test "with -p a v1 TCP6 header names the client as [IP]:PORT" {
	printf 'PROXY TCP6 2001:db8::10 2001:db8::20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" '[2001:db8::10]:40000 connect' \
		'[2001:db8::10]:40000 #1 receive message: hi' \
		'[2001:db8::10]:40000 disconnect: 1 message, 2 bytes, eof'
}

@test "with -p v2 headers name the client, IPv4 with TLVs and IPv6 alike" {
	# ALPN "h2" (skipped) and authority "example.com" (the SNI, recorded)
	{ proxy_v2 0x21 0x11 203.0.113.5 198.51.100.1 51000 9100 \
		010002683202000b6578616d706c652e636f6d
		printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" '203.0.113.5:51000 connect sni=example.com' \
		'203.0.113.5:51000 #1 receive message: hi' \
		'203.0.113.5:51000 disconnect: 1 message, 2 bytes, eof'

	{ proxy_v2 0x21 0x21 2001:db8::5 2001:db8::1 51001 9100
		printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/G" '[2001:db8::5]:51001 connect' \
		'[2001:db8::5]:51001 #1 receive message: hi' \
		'[2001:db8::5]:51001 disconnect: 1 message, 2 bytes, eof'
}

@test "with -p an IPv4-mapped IPv6 client is recorded as IPv4, as a dual-stack socket's peer is" {
	printf 'PROXY TCP6 ::ffff:192.0.2.10 ::ffff:192.0.2.20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	records_are "$T/F" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: hi' \
		'192.0.2.10:40000 disconnect: 1 message, 2 bytes, eof'
}

@test "a v2 LOCAL header (a health check) and a v1 UNKNOWN one keep the socket's own peer" {
	{ proxy_v2 0x20 0x00; printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/F" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: hi" \
		"127.0.0.1:$cport disconnect: 1 message, 2 bytes, eof"

	printf 'PROXY UNKNOWN 192.0.2.10 192.0.2.20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nbye 1\n'
	records_are "$T/G" "127.0.0.1:$cport connect" \
		"127.0.0.1:$cport #1 receive message: hi" \
		"127.0.0.1:$cport disconnect: 1 message, 2 bytes, eof"
}

@test "a PROXY header's client wins over the launcher's word, and a LOCAL header keeps the launcher's" {
	# shellcheck disable=SC2034 # read by talk (helpers.bash)
	serve_opts=(--env PROTO=TCP --env TCPREMOTEIP=198.51.100.7
		--env TCPREMOTEPORT=7777)
	printf 'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\nhi\n' >"$T/in"
	talk "$T/in" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	records_are "$T/F" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: hi' \
		'192.0.2.10:40000 disconnect: 1 message, 2 bytes, eof'

	{ proxy_v2 0x20 0x00; printf 'hi\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	records_are "$T/G" '198.51.100.7:7777 connect' \
		'198.51.100.7:7777 #1 receive message: hi' \
		'198.51.100.7:7777 disconnect: 1 message, 2 bytes, eof'
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
		'[2001:db8::5]:51001 disconnect: 1 message, 3 bytes, eof'
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
		'10.6.6.6:666 disconnect: 1 message, 10 bytes, eof'
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
