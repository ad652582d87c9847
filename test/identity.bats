#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# shellcheck disable=SC2034,SC2154,SC2016 # serve_opts, PRE and SERVER_PIDS
# are read and cport set by helpers.bash; the quoted $ are the child's
# Who sent it: the client's TLS identity from a PROXY v2 header's TLVs
# (handler -p, launcher -p and its PROXYSSL* variables), from stunnel's
# SSL_CLIENT_DN, and cn: rules; header by header, then with HAProxy and
# stunnel terminating TLS for clients with real certificates (tls-ca.bats).

load helpers

# the peer and identity must come from the test, never from the caller's
unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT
unset SSL_CLIENT_DN PROXYREMOTEIP PROXYREMOTEPORT PROXYSSL PROXYSSLVERIFIED \
	PROXYSSLCN PROXYSSLVERSION PROXYAUTHORITY PROXYUNIQUEID

setup() {
	common_setup
	need python3
	L=$MSGD_BIN/msgd-launcher
}

# the TLVs of a client alice whose certificate the relay verified, over
# TLSv1.3, SNI msgd.test, unique id "u-1"
alice_tlvs() {
	ssl_tlv 0x07 0 "$(tlv 0x21 TLSv1.3)" "$(tlv 0x22 alice)" \
		"$(tlv 0x23 TLS_AES_256_GCM_SHA384)" "$(tlv 0x24 ECDSA-SHA256)" \
		"$(tlv 0x25 EC256)"
	tlv 0x02 msgd.test
	tlv 0x05 u-1
}

# said FILE HEAD CONNECT: FILE holds the records of "hi" and "ho" from a
# client whose records start with HEAD, the connect record's words CONNECT
said() {
	records_are "$1" "$2 connect$3" "$2 #1 receive message: hi" \
		"$2 #2 receive message: ho" "$2 disconnect: 2 messages, 4 bytes, eof"
}

# hi_ho FILE HEADER...: what HEADER... prints, then "hi" and "ho", by talk to handler -p -l FILE
hi_ho() {
	local f=$1
	shift
	{ "$@"; printf 'hi\nho\n'; } >"$T/in"
	talk "$T/in" -- -p -l "$f"
}

# bad_tlvs HEX: a TCP4 header with these TLVs is refused by the handler
bad_tlvs() {
	hi_ho "$T/F" proxy_v2 0x21 0x11 192.0.2.10 192.0.2.20 40000 9100 "$1"
	[ "$status" -eq 1 ] || { echo "status $status for $1"; return 1; }
	file_is "$T/out" 'error bad proxy header\n'
	file_is "$T/port.err" "msgd-handler: bad proxy header from 127.0.0.1:$cport\n"
	[ ! -e "$T/F" ]
}

@test "with -p a verified certificate's CN is in every record, and the connect record has TLS version, SNI and unique id" {
	hi_ho "$T/F" proxy_v2_crc 192.0.2.10 192.0.2.20 40000 9100 "$(alice_tlvs | tr -d '\n')"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	said "$T/F" '192.0.2.10:40000 cn=alice(verified)' \
		' tls=TLSv1.3 sni=msgd.test unique-id=u-1'
}

@test "a certificate the relay did not verify is recorded as unverified, and no certificate names no one" {
	hi_ho "$T/F" proxy_v2 0x21 0x11 192.0.2.10 192.0.2.20 40000 9100 \
		"$(ssl_tlv 0x07 20 "$(tlv 0x21 TLSv1.2)" "$(tlv 0x22 mallory)")"
	[ "$status" -eq 0 ]
	said "$T/F" '192.0.2.10:40000 cn=mallory(unverified)' ' tls=TLSv1.2'

	# verify 0 but no certificate flag: HAProxy's word for "none shown"
	hi_ho "$T/G" proxy_v2 0x21 0x11 192.0.2.10 192.0.2.20 40000 9100 \
		"$(ssl_tlv 0x01 0 "$(tlv 0x21 TLSv1.3)" "$(tlv 0x22 alice)")"
	[ "$status" -eq 0 ]
	said "$T/G" '192.0.2.10:40000' ' tls=TLSv1.3'

	# no PP2_CLIENT_SSL: not TLS at all, its sub-TLVs believed in nothing
	hi_ho "$T/H" proxy_v2 0x21 0x11 192.0.2.10 192.0.2.20 40000 9100 \
		"$(ssl_tlv 0x06 0 "$(tlv 0x22 alice)")"
	[ "$status" -eq 0 ]
	said "$T/H" '192.0.2.10:40000'
}

@test "a CN with spaces, parentheses, a backslash, control bytes and invisible characters stays one word that cannot fake the mark" {
	hi_ho "$T/F" proxy_v2 0x21 0x11 192.0.2.10 192.0.2.20 40000 9100 \
		"$(ssl_tlv 0x05 1 "$(tlv 0x22 'eve(verified) #1 a\\b\x01\xc2\xa0张')")"
	[ "$status" -eq 0 ]
	said "$T/F" '192.0.2.10:40000 cn=eve\x28verified\x29\x20#1\x20a\\b\x01\xc2\xa0张(unverified)'
}

@test "a bad CRC32C, a TLV past the header, sub-TLVs that do not fill PP2_TYPE_SSL, a CN twice or with a NUL: a bad header" {
	local ok cut
	ok=$(alice_tlvs | tr -d '\n')
	# the same TLVs with a good CRC32C are taken (the case above); a bad one
	hi_ho "$T/F" proxy_v2_crc 192.0.2.10 192.0.2.20 40000 9100 "$ok" bad
	[ "$status" -eq 1 ]
	file_is "$T/out" 'error bad proxy header\n'
	[ ! -e "$T/F" ]
	# a TLV whose length runs past the header's end
	bad_tlvs "${ok}0200ff61"
	# a TLV cut inside its type and length
	bad_tlvs "${ok}0200"
	# PP2_TYPE_SSL's length 2 bytes short of its sub-TLV's end
	cut=$(ssl_tlv 0x07 0 "$(tlv 0x22 alice)")
	bad_tlvs "2000$(printf '%04x' $((${#cut} / 2 - 5)))${cut:6:$((${#cut} - 10))}0000"
	# a sub-TLV running past PP2_TYPE_SSL
	bad_tlvs "$(ssl_tlv 0x07 0 220010616c696365)"
	# fewer than 5 bytes of PP2_TYPE_SSL
	bad_tlvs 2000040700000000
	bad_tlvs "$(ssl_tlv 0x07 0 "$(tlv 0x22 alice)" "$(tlv 0x22 bob)")"
	bad_tlvs "$(ssl_tlv 0x07 0 "$(tlv 0x22 'alice\0bob')")"
	bad_tlvs "$(tlv 0x02 a)$(tlv 0x02 b)"
	# a unique id over the spec's 128 bytes, a CN over 255
	bad_tlvs "$(tlv 0x05 "$(printf 'u%.0s' $(seq 129))")"
	bad_tlvs "$(ssl_tlv 0x07 0 "$(tlv 0x22 "$(printf 'a%.0s' $(seq 256))")")"
}

@test "a CN of 255 bytes and a unique id of 128 bytes with a NUL in it are taken whole, escaped" {
	local cn uid
	cn=$(printf 'a%.0s' $(seq 255))
	uid="\\0$(printf 'u%.0s' $(seq 127))"
	hi_ho "$T/F" proxy_v2_crc 192.0.2.10 192.0.2.20 40000 9100 \
		"$(ssl_tlv 0x07 0 "$(tlv 0x22 "$cn")")$(tlv 0x05 "$uid")"
	[ "$status" -eq 0 ]
	said "$T/F" "192.0.2.10:40000 cn=$cn(verified)" \
		" unique-id=\\x00${uid:2}"
}

@test "unknown TLVs and sub-TLVs and NOOPs are skipped" {
	hi_ho "$T/F" proxy_v2_crc 192.0.2.10 192.0.2.20 40000 9100 \
		"$(tlv 0xe0 custom)$(tlv 0x04 '\0\0')$(ssl_tlv 0x07 0 "$(tlv 0x2f x)" "$(tlv 0x22 alice)")$(tlv 0x30 netns)"
	[ "$status" -eq 0 ]
	said "$T/F" '192.0.2.10:40000 cn=alice(verified)'
}

@test "a header near the format's 16 + 65535 bytes keeps its TLS fields, in the handler and through the launcher" {
	local big
	big=$(python3 -c 'print("04ea60" + "00" * 60000)')
	proxy_v2_crc 192.0.2.10 127.0.0.1 40000 9100 "$big$(alice_tlvs | tr -d '\n')" >"$T/h"
	hi_ho "$T/F" cat "$T/h"
	[ "$status" -eq 0 ]
	said "$T/F" '192.0.2.10:40000 cn=alice(verified)' \
		' tls=TLSv1.3 sni=msgd.test unique-id=u-1'

	launch l -p 127.0.0.1 127.0.0.1 0 "$MSGD_BIN/msgd-handler" -l "$T/G"
	send_header out "$T/h"
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/G" ' disconnect: ' 10
	said "$T/G" '192.0.2.10:40000 cn=alice(verified)' \
		' tls=TLSv1.3 sni=msgd.test unique-id=u-1'
}

# ---- the environment: believed only from whoever named the peer ----

@test "the launcher's PROXYSSL* variables are believed only beside PROTO=TCP and its PROXYREMOTEIP and PROXYREMOTEPORT" {
	local tls=(--env PROXYSSL=1 --env PROXYSSLVERIFIED=1 --env PROXYSSLCN=alice
		--env PROXYSSLVERSION=TLSv1.3 --env PROXYAUTHORITY=msgd.test
		--env PROXYUNIQUEID=752d31)
	local ucspi=(--env PROTO=TCP --env TCPREMOTEIP=192.0.2.10 --env TCPREMOTEPORT=40000)
	printf 'hi\nho\n' >"$T/in"
	serve_opts=("${ucspi[@]}" --env PROXYREMOTEIP=127.0.0.1
		--env PROXYREMOTEPORT=5555 "${tls[@]}")
	talk "$T/in" -- -l "$T/F"
	[ "$status" -eq 0 ]
	said "$T/F" '192.0.2.10:40000 cn=alice(verified)' \
		' tls=TLSv1.3 sni=msgd.test unique-id=u-1'

	serve_opts=("${ucspi[@]}" --env PROXYREMOTEIP=127.0.0.1
		--env PROXYREMOTEPORT=5555 "${tls[@]}" --env PROXYSSLVERIFIED=0)
	talk "$T/in" -- -l "$T/G"
	said "$T/G" '192.0.2.10:40000 cn=alice(unverified)' \
		' tls=TLSv1.3 sni=msgd.test unique-id=u-1'

	# no relay named: the launcher did not speak of TLS
	serve_opts=("${ucspi[@]}" "${tls[@]}")
	talk "$T/in" -- -l "$T/H"
	said "$T/H" '192.0.2.10:40000'

	# no launcher's word at all: the socket's own peer, and nothing more
	serve_opts=(--env PROXYREMOTEIP=127.0.0.1 --env PROXYREMOTEPORT=5555 "${tls[@]}")
	talk "$T/in" -- -l "$T/I"
	said "$T/I" "127.0.0.1:$cport"

	# -p: the header's word only, none of the environment's
	serve_opts=("${ucspi[@]}" --env PROXYREMOTEIP=127.0.0.1
		--env PROXYREMOTEPORT=5555 "${tls[@]}")
	{ proxy_v2 0x21 0x11 192.0.2.11 192.0.2.20 40001 9100
		printf 'hi\nho\n'; } >"$T/in2"
	talk "$T/in2" -- -p -l "$T/J"
	said "$T/J" '192.0.2.11:40001'
}

@test "stunnel's SSL_CLIENT_DN names the CN, unverified unless -c says stunnel verifies, and only when stunnel named the peer" {
	local st=(--env REMOTE_HOST=192.0.2.10 --env REMOTE_PORT=40000)
	printf 'hi\nho\n' >"$T/in"
	serve_opts=("${st[@]}" --env 'SSL_CLIENT_DN=C=PL, O=Org, CN=alice')
	talk "$T/in" -- -l "$T/F"
	[ "$status" -eq 0 ]
	said "$T/F" '192.0.2.10:40000 cn=alice(unverified)'
	talk "$T/in" -- -c -l "$T/G"
	said "$T/G" '192.0.2.10:40000 cn=alice(verified)'

	# OpenSSL's one-line form: quoted with , and +, \" and \XX escapes;
	# the first CN, as HAProxy takes it
	serve_opts=("${st[@]}" --env 'SSL_CLIENT_DN=O="Org, Inc.", CN="Smith, J" + UID=7, CN=x')
	talk "$T/in" -- -c -l "$T/H"
	said "$T/H" '192.0.2.10:40000 cn=Smith,\x20J(verified)'
	serve_opts=("${st[@]}" --env 'SSL_CLIENT_DN=CN=q\"x\09y\\z')
	talk "$T/in" -- -c -l "$T/I"
	said "$T/I" '192.0.2.10:40000 cn=q"x\x09y\\z(verified)'
	# no CN, an unterminated quote, a DER dump: no one named
	for dn in 'O=Org' 'CN="alice' 'CN=#0c05616c696365'; do
		serve_opts=("${st[@]}" --env "SSL_CLIENT_DN=$dn")
		rm -f "$T/J"
		talk "$T/in" -- -c -l "$T/J"
		said "$T/J" '192.0.2.10:40000'
	done
	# the launcher named the peer: stunnel's word is not the one believed
	serve_opts=(--env PROTO=TCP --env TCPREMOTEIP=192.0.2.12
		--env TCPREMOTEPORT=40002 --env 'SSL_CLIENT_DN=CN=alice')
	talk "$T/in" -- -c -l "$T/K"
	said "$T/K" '192.0.2.12:40002'
}

# ---- the launcher: PROXY* variables and cn: rules ----

# send_header NAME FILE: the header in FILE, "hi" and "ho", to the
# launcher on $PORT; what came back in $T/NAME (a client refused may see
# a reset: what it got is what counts)
send_header() {
	{ cat "$2"; printf 'hi\nho\n'; } >"$T/$1.in"
	timeout -k 5 30 python3 "$TCP_PY" client 127.0.0.1 "$PORT" \
		<"$T/$1.in" >"$T/$1" 2>"$T/$1.err" || true
}

@test "the launcher passes a trusted relay's TLVs as PROXY* variables and strips every inherited PROXY* one" {
	proxy_v2_crc 192.0.2.10 127.0.0.1 40000 9100 "$(alice_tlvs | tr -d '\n')" >"$T/h"
	PRE=(env PROXYSSLCN=forged PROXYSSLVERIFIED=1 PROXYOTHER=x)
	launch l -p 127.0.0.1 127.0.0.1 0 sh -c 'cat >/dev/null; env | grep ^PROXY | LC_ALL=C sort'
	send_header out "$T/h"
	file_is "$T/out" 'PROXYAUTHORITY=msgd.test\nPROXYREMOTEIP=127.0.0.1\nPROXYREMOTEPORT='"$(sed -n 's/^PROXYREMOTEPORT=//p' "$T/out")"'\nPROXYSSL=1\nPROXYSSLCIPHER=TLS_AES_256_GCM_SHA384\nPROXYSSLCN=alice\nPROXYSSLKEYALG=EC256\nPROXYSSLSIGALG=ECDSA-SHA256\nPROXYSSLVERIFIED=1\nPROXYSSLVERSION=TLSv1.3\nPROXYUNIQUEID=752d31\n'
	grep -qE '^PROXYREMOTEPORT=[0-9]+$' "$T/out"

	# a client not from a relay: no PROXY* variable at all
	: >"$T/none"
	send_header out2 "$T/none"
	file_is "$T/out2" ''
}

@test "behind the launcher the handler records the relay's verified CN; a bad CRC32C is a bad proxy header, logged" {
	proxy_v2_crc 192.0.2.10 127.0.0.1 40000 9100 "$(alice_tlvs | tr -d '\n')" >"$T/h"
	launch l -p 127.0.0.1 127.0.0.1 0 "$MSGD_BIN/msgd-handler" -l "$T/F"
	send_header out "$T/h"
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/F" ' disconnect: ' 10
	said "$T/F" '192.0.2.10:40000 cn=alice(verified)' \
		' tls=TLSv1.3 sni=msgd.test unique-id=u-1'

	proxy_v2_crc 192.0.2.10 127.0.0.1 40000 9100 "$(alice_tlvs | tr -d '\n')" bad >"$T/bad"
	send_header out2 "$T/bad"
	file_is "$T/out2" ''
	wait_grep "$T/l.err" '^msgd-launcher: bad proxy header from 127\.0\.0\.1: malformed$' 10
	[ "$(grep -c ' connect' "$T/F")" -eq 1 ]
}

@test "a PROXY header with an SSL TLV from a source that is not a trusted relay is data, believed in nothing" {
	proxy_v2_crc 192.0.2.10 127.0.0.1 40000 9100 "$(alice_tlvs | tr -d '\n')" >"$T/h"
	# trusted: 127.0.0.2 only; the client comes from 127.0.0.1
	launch l -p 127.0.0.2 127.0.0.1 0 "$MSGD_BIN/msgd-handler" -l "$T/F"
	send_header out "$T/h"
	wait_grep "$T/F" ' disconnect: ' 10
	lacks "$T/F" 'cn=\|tls=\|192\.0\.2\.10'
	# its signature's CR LFs end lines: messages, as any client's bytes
	grep -qE '^[^ ]+ msgd-handler\[[0-9]+\]: 127\.0\.0\.1:[0-9]+ #3 receive message: \\x00$' "$T/F"
	grep -qE '^[^ ]+ msgd-handler\[[0-9]+\]: 127\.0\.0\.1:[0-9]+ #4 receive message: QUIT$' "$T/F"
	grep -qE '^[^ ]+ msgd-handler\[[0-9]+\]: 127\.0\.0\.1:[0-9]+ connect$' "$T/F"
	# and a cn: rule that would refuse alice does not see the forged CN
	printf 'cn:alice deny\n' >"$T/rules"
	servers_stop
	SERVER_PIDS=()
	launch l2 -p 127.0.0.2 -x "$T/rules" 127.0.0.1 0 "$MSGD_BIN/msgd-handler" -l "$T/G"
	send_header out2 "$T/h"
	wait_grep "$T/G" ' disconnect: ' 10
	lacks "$T/G" 'cn='
}

@test "cn: rules admit alice and refuse bob, first match across the file, verified CNs only" {
	printf '%s\n' '# who may send' 'cn:bob deny' '127.0.0.1 allow WHO=local' \
		'cn:alice allow WHO=alice' 'cn:Smith,\x20J allow' '0.0.0.0/0 deny' >"$T/rules"
	launch l -p 127.0.0.1 -x "$T/rules" 127.0.0.1 0 sh -c 'cat >/dev/null; echo "WHO=$WHO"'
	proxy_v2 0x21 0x11 192.0.2.10 127.0.0.1 40000 9100 \
		"$(ssl_tlv 0x07 0 "$(tlv 0x22 bob)")" >"$T/bob"
	proxy_v2 0x21 0x11 192.0.2.11 127.0.0.1 40001 9100 \
		"$(ssl_tlv 0x07 0 "$(tlv 0x22 alice)")" >"$T/alice"
	proxy_v2 0x21 0x11 192.0.2.12 127.0.0.1 40002 9100 \
		"$(ssl_tlv 0x07 1 "$(tlv 0x22 bob)")" >"$T/bob-unverified"
	proxy_v2 0x21 0x11 192.0.2.13 127.0.0.1 40003 9100 \
		"$(ssl_tlv 0x07 0 "$(tlv 0x22 'Smith, J')")" >"$T/smith"
	proxy_v2 0x21 0x11 127.0.0.1 127.0.0.1 40004 9100 \
		"$(ssl_tlv 0x07 0 "$(tlv 0x22 alice)")" >"$T/local-alice"
	send_header bob "$T/bob"
	file_is "$T/bob" ''
	wait_grep "$T/l.err" '^msgd-launcher: deny 192\.0\.2\.10 rule 2$' 10
	send_header alice "$T/alice"
	file_is "$T/alice" 'WHO=alice\n'
	# bob unverified is no bob: the address rules decide
	send_header bobu "$T/bob-unverified"
	file_is "$T/bobu" ''
	wait_grep "$T/l.err" '^msgd-launcher: deny 192\.0\.2\.12 rule 6$' 10
	send_header smith "$T/smith"
	file_is "$T/smith" 'WHO=\n'
	# line 3 comes before line 4
	send_header la "$T/local-alice"
	file_is "$T/la" 'WHO=local\n'
}

@test "a bad cn: rule is a usage error naming FILE:LINE" {
	local bad
	for bad in 'cn: allow' 'cn:a\y allow' 'cn:a\x0 allow' 'cn:a\x00b allow'; do
		printf '127.0.0.1 allow\n%s\n' "$bad" >"$T/rules"
		run timeout -k 5 10 "$L" -x "$T/rules" 127.0.0.1 0 true
		[ "$status" -eq 2 ] || { echo "status $status for $bad"; return 1; }
		[[ ${lines[0]} == "msgd-launcher: $T/rules:2: "*cn:* ]] ||
			{ echo "${lines[0]}"; return 1; }
	done
	printf 'cn:%s allow\n' "$(printf 'a%.0s' $(seq 256))" >"$T/rules"
	run timeout -k 5 10 "$L" -x "$T/rules" 127.0.0.1 0 true
	[ "$status" -eq 2 ]
	[ "${lines[0]}" = "msgd-launcher: $T/rules:1: cn: longer than 255 bytes (no CN msgd accepts is)" ]
}
