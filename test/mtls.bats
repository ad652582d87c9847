#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# shellcheck disable=SC2153,SC2030,SC2031 # PORT is launch's, SERVER_PIDS
# start_server's (helpers.bash)
# Mutual TLS with the real programs: a test CA and client certificates
# made with openssl (alice, bob, carol of another CA, dave expired), HAProxy
# terminating TLS in front of msgd-launcher -p, stunnel's exec mode in
# front of msgd-handler, clients socat OPENSSL:...,cert=...

load helpers

unset PROTO TCPREMOTEIP TCPREMOTEPORT REMOTE_HOST REMOTE_ADDR REMOTE_PORT
unset SSL_CLIENT_DN PROXYREMOTEIP PROXYREMOTEPORT PROXYSSL PROXYSSLVERIFIED \
	PROXYSSLCN PROXYSSLVERSION PROXYAUTHORITY PROXYUNIQUEID

setup() {
	common_setup
	need openssl socat python3
	L=$MSGD_BIN/msgd-launcher
	export L
	certs
}

# ssl_run CMD...: an openssl command, its chatter shown only on failure
ssl_run() {
	"$@" >"$T/openssl.out" 2>&1 || { cat "$T/openssl.out"; return 1; }
}

# cert NAME CA DAYS: NAME.key and NAME.pem for CN=NAME signed by CA
# (ca or other), valid DAYS days (-1: expired yesterday)
cert() {
	ssl_run openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$1"
	ssl_run openssl x509 -req -in "$T/$1.csr" -CA "$T/$2.pem" \
		-CAkey "$T/$2.key" -days "$3" -out "$T/$1.pem"
}

# certs: the test CA, another CA, the server's certificate (msgd.test)
# and the clients'
certs() {
	local ca
	for ca in ca other; do
		ssl_run openssl req -x509 -newkey ec -pkeyopt \
			ec_paramgen_curve:prime256v1 -nodes -keyout "$T/$ca.key" \
			-out "$T/$ca.pem" -days 2 -subj "/CN=msgd $ca test CA"
	done
	cert msgd.test ca 2
	cat "$T/msgd.test.pem" "$T/msgd.test.key" >"$T/server.pem"
	cert alice ca 2
	cert bob ca 2
	cert carol other 2
	cert dave ca -1
}

# say NAME [CERT]: "hi" and "ho" over TLS to $TPORT (SNI msgd.test) with
# CERT's certificate (none without); what came back in $T/NAME
say() {
	local opts=verify=0,snihost=msgd.test
	[ -z "${2:-}" ] || opts+=",cert=$T/$2.pem,key=$T/$2.key"
	printf 'hi\nho\n' | timeout -k 5 30 socat -t 5 - \
		"OPENSSL:127.0.0.1:$TPORT,$opts" >"$T/$1" 2>"$T/$1.err" || true
}

# listening PORT: wait (at most 10 s) until 127.0.0.1:PORT takes connections
listening() {
	local i
	for ((i = 0; i < 200; i++)); do
		python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" \
			2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on $1" >&2
	return 1
}

# haproxy_tls VERIFY BACKEND_PORT: HAProxy terminating TLS on $TPORT with
# the test CA's client certificates (VERIFY: its bind line's words), the
# client's identity sent to 127.0.0.1:BACKEND_PORT in a PROXY v2 header
haproxy_tls() {
	need haproxy
	TPORT=$(free_port)
	cat >"$T/haproxy.cfg" <<EOF
global
    pidfile $T/haproxy.pid
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend tls
    bind 127.0.0.1:$TPORT ssl crt $T/server.pem ca-file $T/ca.pem $1
    unique-id-format id-%cp
    default_backend msgd
backend msgd
    server msgd 127.0.0.1:$2 send-proxy-v2-ssl-cn proxy-v2-options ssl-cipher,cert-sig,cert-key,authority,unique-id,crc32c
EOF
	haproxy -c -q -f "$T/haproxy.cfg" || return 1
	start_server "$T/haproxy.out" haproxy -db -f "$T/haproxy.cfg"
	listening "$TPORT"
}

@test "through HAProxy (verify required) and msgd-launcher -p the records name alice, verified, and never bob; cn: rules refuse bob; other CAs and expired certificates never get in" {
	printf '%s\n' 'cn:bob deny' '127.0.0.1 allow' '0.0.0.0/0 deny' >"$T/rules"
	launch l -p 127.0.0.1 -x "$T/rules" 127.0.0.1 0 \
		"$MSGD_BIN/msgd-handler" -l "$T/F"
	haproxy_tls 'verify required' "$PORT"

	say alice alice
	file_is "$T/alice" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/F" ' disconnect: ' 10
	grep -qE '^[^ ]+ msgd-handler\[[0-9]+\]: 127\.0\.0\.1:[0-9]+ cn=alice\(verified\) connect tls=TLSv1\.3 sni=msgd\.test unique-id=id-[0-9]+$' "$T/F"
	grep -qE ' cn=alice\(verified\) #1 receive message: hi$' "$T/F"
	grep -qE ' cn=alice\(verified\) #2 receive message: ho$' "$T/F"
	grep -qE ' cn=alice\(verified\) disconnect: 2 messages, 4 bytes, eof$' "$T/F"
	[ "$(grep -c 'cn=alice(verified)' "$T/F")" -eq 4 ]
	echo "# $(grep ' #1 ' "$T/F")" >&3

	say bob bob
	file_is "$T/bob" ''
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.1 rule 1$' 10
	for who in carol dave; do
		say "$who" "$who"
		file_is "$T/$who" ''
	done
	say nobody
	file_is "$T/nobody" ''
	# only alice's connection got as far as a record
	[ "$(grep -c ' connect' "$T/F")" -eq 1 ]
	lacks "$T/F" 'bob\|carol\|dave'
}

@test "through HAProxy with verify optional an unverified certificate is recorded as not verified, and cn: rules see only verified ones" {
	printf '%s\n' 'cn:carol allow' 'cn:alice allow' '127.0.0.2 allow' \
		'0.0.0.0/0 deny' >"$T/rules"
	launch l -p 127.0.0.1 127.0.0.1 0 "$MSGD_BIN/msgd-handler" -l "$T/F"
	haproxy_tls 'verify optional crt-ignore-err all ca-ignore-err all' "$PORT"

	say carol carol
	file_is "$T/carol" 'hello\nok 1\nok 2\nbye 2\n'
	say dave dave
	file_is "$T/dave" 'hello\nok 1\nok 2\nbye 2\n'
	say alice alice
	file_is "$T/alice" 'hello\nok 1\nok 2\nbye 2\n'
	say nobody
	file_is "$T/nobody" 'hello\nok 1\nok 2\nbye 2\n'
	wait_count "$T/F" ' disconnect: ' 4 10
	[ "$(grep -c ' cn=carol(unverified) ' "$T/F")" -eq 4 ]
	[ "$(grep -c ' cn=dave(unverified) ' "$T/F")" -eq 4 ]
	[ "$(grep -c ' cn=alice(verified) ' "$T/F")" -eq 4 ]
	lacks "$T/F" 'carol(verified)\|dave(verified)'
	# no certificate: TLS, but no one named
	[ "$(grep -cE ': 127\.0\.0\.1:[0-9]+ connect tls=TLSv1\.3 sni=msgd\.test unique-id=id-[0-9]+$' "$T/F")" -eq 1 ]

	# the same with the rules: carol's unverified CN matches no cn: rule
	servers_stop
	SERVER_PIDS=()
	launch l2 -p 127.0.0.1 -x "$T/rules" 127.0.0.1 0 \
		"$MSGD_BIN/msgd-handler" -l "$T/G"
	haproxy_tls 'verify optional crt-ignore-err all ca-ignore-err all' "$PORT"
	say carol2 carol
	file_is "$T/carol2" ''
	wait_grep "$T/l2.err" '^msgd-launcher: deny 127\.0\.0\.1 rule 4$' 10
	say alice2 alice
	file_is "$T/alice2" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/G" ' disconnect: ' 10
	[ "$(grep -c ' cn=alice(verified) ' "$T/G")" -eq 4 ]
	lacks "$T/G" carol
}

@test "HAProxy's real header, captured, parses to alice verified; the fuzz seed made from it still does" {
	local seed=$BATS_TEST_DIRNAME/fuzz/proxy/v2_haproxy_ssl_alice
	# a listener that keeps what HAProxy sends it
	start_server "$T/cap.port" python3 -c 'import socket, sys
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
l.settimeout(30)
c, _ = l.accept()
c.settimeout(10)
got = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    got += d
open(sys.argv[1], "wb").write(got)' "$T/captured"
	haproxy_tls 'verify required' "$(wait_line "$T/cap.port")"
	say alice alice
	wait_exit "${SERVER_PIDS[0]}" 20
	# the header's length, and the client's lines after it
	python3 -c 'import sys
b = open(sys.argv[1], "rb").read()
assert b[:12] == b"\r\n\r\n\0\r\nQUIT\n" and b[12:14] == b"\x21\x11", b[:16]
n = 16 + int.from_bytes(b[14:16], "big")
assert b[n:] == b"hi\nho\n", b[n:]' "$T/captured"
	talk "$T/captured" -- -p -l "$T/F"
	[ "$status" -eq 0 ]
	file_is "$T/out" 'hello\nok 1\nok 2\nbye 2\n'
	[ "$(grep -cE ' cn=alice\(verified\) ' "$T/F")" -eq 4 ]
	grep -qE ' cn=alice\(verified\) connect tls=TLSv1\.3 sni=msgd\.test unique-id=id-[0-9]+$' "$T/F"
	if [ -n "${MSGD_SAVE_SEED:-}" ]; then
		{ printf '\x07'; cat "$T/captured"; } >"$seed"
	fi
	# the seed: a byte for the fuzzer's piece size, then such a capture
	tail -c +2 "$seed" >"$T/seed"
	talk "$T/seed" -- -p -l "$T/G"
	[ "$status" -eq 0 ]
	[ "$(grep -cE ' cn=alice\(verified\) ' "$T/G")" -eq 4 ]
}

# stunnel_exec CONF_LINE HANDLER_ARGS: stunnel4 in the foreground on
# $TPORT, exec'ing the handler with HANDLER_ARGS for each TLS client
stunnel_exec() {
	need stunnel4
	TPORT=$(free_port)
	cat >"$T/stunnel.conf" <<EOF
foreground = yes
pid = $T/stunnel.pid
debug = info
[msgd]
accept = 127.0.0.1:$TPORT
cert = $T/msgd.test.pem
key = $T/msgd.test.key
CAfile = $T/ca.pem
$1
exec = $MSGD_BIN/msgd-handler
execArgs = msgd-handler $2
EOF
	start_server "$T/stunnel.out" stunnel4 "$T/stunnel.conf"
	listening "$TPORT"
}

@test "under stunnel's exec mode (verifyChain, handler -c) the records name alice and bob, verified; other CAs and expired certificates never get in" {
	stunnel_exec 'verifyChain = yes' "-c -l $T/F"
	say alice alice
	file_is "$T/alice" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/F" ' disconnect: ' 10
	say bob bob
	file_is "$T/bob" 'hello\nok 1\nok 2\nbye 2\n'
	wait_count "$T/F" ' disconnect: ' 2 10
	[ "$(grep -cE ': 127\.0\.0\.1:[0-9]+ cn=alice\(verified\) ' "$T/F")" -eq 4 ]
	[ "$(grep -cE ': 127\.0\.0\.1:[0-9]+ cn=bob\(verified\) ' "$T/F")" -eq 4 ]
	grep -qE ' cn=alice\(verified\) #1 receive message: hi$' "$T/F"
	grep -qE ' cn=bob\(verified\) #1 receive message: hi$' "$T/F"
	echo "# $(grep 'alice.* #1 ' "$T/F")" >&3
	for who in carol dave; do
		say "$who" "$who"
		file_is "$T/$who" ''
	done
	say nobody
	file_is "$T/nobody" ''
	[ "$(grep -c ' connect' "$T/F")" -eq 2 ]
}

@test "under stunnel that asks for a certificate but does not verify it, the handler without -c records it as not verified" {
	stunnel_exec 'requireCert = yes' "-l $T/F"
	say carol carol
	file_is "$T/carol" 'hello\nok 1\nok 2\nbye 2\n'
	wait_grep "$T/F" ' disconnect: ' 10
	[ "$(grep -cE ': 127\.0\.0\.1:[0-9]+ cn=carol\(unverified\) ' "$T/F")" -eq 4 ]
}
