#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# msgd-launcher's front door: who may connect (-x access rules), how
# often (-R), and who they are behind a trusted relay's PROXY header (-p).
# Clients come from chosen loopback addresses: Linux routes all of
# 127.0.0.0/8 to lo, so a client may bind 127.0.0.5 before it connects.
# Every launcher listens on port 0 with -1 and is stopped by PID.

load helpers

# shellcheck disable=SC2034 # read by launch and daemon (helpers.bash)
L=$MSGD_BIN/msgd-launcher
H=$MSGD_BIN/msgd-handler
# the zone a child sees must come from its rule, never from the caller's
# environment
unset ZONE
# a child that says which zone its rule put it in
# shellcheck disable=SC2016 # the child expands it
ZONE_SH='echo "zone=${ZONE-unset}"'

# nearly every test here runs python3 (test/client.py, the inline clients)
setup() {
	common_setup
	need python3
}

# daemon_up ARG...: "msgd-launcher -f -1 -i $T/pid ARG..." from $T, which
# must start; sets PID (stopped in teardown) and PORT
# shellcheck disable=SC2153 # DPID and DPORT are set by daemon and daemon_pid
daemon_up() {
	daemon -i "$T/pid" "$@"
	[ "$DSTATUS" -eq 0 ] || return 1
	daemon_pid "$T/pid" || return 1
	PID=$DPID
	PORT=$DPORT
}

# from SRC STEP...: test/client.py from the address SRC to the launcher
from() {
	local src=$1
	shift
	"${CLIENT[@]}" -s "$src" 127.0.0.1 "$PORT" "$@"
}

# log_count NAME ERE: how many lines of launcher NAME's log match ERE
log_count() {
	grep -cE -- "$2" "$T/$1.err" || true
}

# rss PID: resident memory of PID in kB
rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# hup NAME: SIGHUP to the launcher NAME ($PID), then wait (at most 10 s)
# until its log has one more reload line, "rules reloaded" or "cannot reload"
hup() {
	local before i
	before=$(log_count "$1" 'rules reloaded from|cannot reload')
	kill -HUP "$PID"
	for ((i = 0; i < 500; i++)); do
		[ "$(log_count "$1" 'rules reloaded from|cannot reload')" -gt "$before" ] &&
			return 0
		sleep 0.02
	done
	echo "no reload logged after 10 s" >&2
	return 1
}

# bad_rules MESSAGE TEXT: a rules file holding TEXT (printf %b) is refused
# at start with "FILE:MESSAGE", exit status 2, no usage text
bad_rules() {
	printf '%b' "$2" >"$T/rules"
	launcher_file_error "$T/rules:$1" -x "$T/rules" 127.0.0.1 0 true
}

# burst SRC N: N connections from SRC opened at once, then each read to
# its end; what each got, one line per connection, in order
# shellcheck disable=SC2016 # python code
BURST='import socket, sys
src, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    conns.append(s)
for s in conns:
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    print(data.decode().strip() or "eof")'
burst() {
	"${CLIENT[0]}" -c "$BURST" "$1" "$PORT" "$2"
}

# sources FIRST LAST: one connection from each address 127.0.X.Y for X.Y
# from FIRST to LAST (as "X.Y"), one after another; prints how many got
# exactly "served"
# shellcheck disable=SC2016 # python code
SOURCES='import socket, sys
port = int(sys.argv[1])
a, b = (int(x) for x in sys.argv[2].split("."))
c, d = (int(x) for x in sys.argv[3].split("."))
ok = 0
for x in range(a, c + 1):
    for y in range(1, 251):
        if (x, y) < (a, b) or (x, y) > (c, d):
            continue
        s = socket.socket()
        s.settimeout(10)
        s.bind(("127.0.%d.%d" % (x, y), 0))
        s.connect(("127.0.0.1", port))
        data = b""
        while True:
            r = s.recv(4096)
            if not r:
                break
            data += r
        s.close()
        ok += data == b"served\n"
print(ok)'
sources() {
	"${CLIENT[0]}" -c "$SOURCES" "$PORT" "$1" "$2"
}

# ---- -x: who may connect ----

@test "a client a rule denies gets EOF at once with no child, and the log says deny IP rule LINE" {
	printf '# who may connect\n127.0.0.5 deny\n127.0.0.0/8 allow\n' >"$T/rules"
	# shellcheck disable=SC2016 # the child expands it
	launch l -v -x "$T/rules" 127.0.0.1 0 /bin/sh -c \
		'echo "$TCPREMOTEIP" >>"$0"; echo served' "$T/ran"
	run from 127.0.0.5 eof
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	run from 127.0.0.6 eof
	[ "$status" -eq 0 ]
	[ "$output" = served ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.5 rule 2$'
	wait_grep "$T/l.err" '^msgd-launcher: pid [0-9]+ from 127\.0\.0\.6 port [0-9]+$'
	[ "$(log_count l '^msgd-launcher: pid ')" -eq 1 ]
	[ "$(log_count l 'from 127\.0\.0\.5 ')" -eq 0 ]
	[ "$(cat "$T/ran")" = 127.0.0.6 ]
}

@test "the first rule that matches decides, prefixes included, and an address no rule matches is allowed" {
	cat >"$T/rules" <<-'EOF'
	127.0.0.4/30 deny
	127.0.0.5 allow ZONE=never
	127.0.0.0/29 allow ZONE=low
	127.0.1.0/24 deny
	127.0.0.0/16 allow ZONE=wide
	EOF
	launch l -x "$T/rules" 127.0.0.1 0 /bin/sh -c "$ZONE_SH"
	[ "$(from 127.0.0.5 eof)" = "" ]
	[ "$(from 127.0.0.7 eof)" = "" ]
	[ "$(from 127.0.0.3 eof)" = zone=low ]
	[ "$(from 127.0.0.8 eof)" = zone=wide ]
	[ "$(from 127.0.1.9 eof)" = "" ]
	[ "$(from 127.0.2.1 eof)" = zone=wide ]
	[ "$(from 127.1.0.1 eof)" = zone=unset ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.1\.9 rule 4$'
	[ "$(log_count l '^msgd-launcher: deny ')" -eq 3 ]
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.5 rule 1$')" -eq 1 ]
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.7 rule 1$')" -eq 1 ]
}

@test "# starts a comment anywhere on a line, blank lines are ignored, and line numbers still count them" {
	printf '# a comment\n\n   \t\n127.0.0.9 deny# right after the verb\n  # indented\n127.0.0.8 allow ZONE=a#b\n127.0.0.0/8 allow # ZONE=no\r\n\n' >"$T/rules"
	launch l -x "$T/rules" 127.0.0.1 0 /bin/sh -c "$ZONE_SH"
	[ "$(from 127.0.0.9 eof)" = "" ]
	[ "$(from 127.0.0.8 eof)" = zone=a ]
	[ "$(from 127.0.0.2 eof)" = zone=unset ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.9 rule 4$'
}

@test "IPv6 rules match IPv6 clients with their prefixes, and on a :: listener IPv4 clients match IPv4 rules only" {
	has_ipv6 || skip "no IPv6 loopback"
	cat >"$T/rules" <<-'EOF'
	::2/127 deny         # ::2 and ::3, not ::1
	::/126 allow ZONE=six
	127.0.0.2 deny
	::/0 deny            # IPv6 only: not the IPv4 clients
	0.0.0.0/1 allow ZONE=four
	EOF
	launch l -x "$T/rules" :: 0 /bin/sh -c "$ZONE_SH"
	[ "$("${CLIENT[@]}" ::1 "$PORT" eof)" = zone=six ]
	[ "$(from 127.0.0.2 eof)" = "" ]
	[ "$(from 127.0.0.3 eof)" = zone=four ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.2 rule 3$'
	# an IPv6 rule for all, and an IPv4 one that denies IPv4 clients
	printf '::1/128 deny\n0.0.0.0/0 deny\n' >"$T/rules2"
	launch m -x "$T/rules2" :: 0 /bin/sh -c "$ZONE_SH"
	[ "$("${CLIENT[@]}" ::1 "$PORT" eof)" = "" ]
	[ "$(from 127.0.0.4 eof)" = "" ]
	wait_grep "$T/m.err" '^msgd-launcher: deny ::1 rule 1$'
	wait_grep "$T/m.err" '^msgd-launcher: deny 127\.0\.0\.4 rule 2$'
}

@test "an allow rule's variables reach its clients' children, after the UCSPI ones and replacing any of the same name" {
	printf '127.0.0.2 allow ZONE=inner TCPREMOTEHOST=trusted.example EMPTY= TCPLOCALIP=192.0.2.1 X=a=b\n127.0.0.0/8 allow\n' >"$T/rules"
	PRE=(env ZONE=outer)
	launch l -x "$T/rules" 127.0.0.1 0 env
	run from 127.0.0.2 eof
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}" >"$T/env2"
	[ "$(grep -c '^ZONE=' "$T/env2")" -eq 1 ]
	grep -qx 'ZONE=inner' "$T/env2"
	grep -qx 'TCPREMOTEHOST=trusted.example' "$T/env2"
	grep -qx 'EMPTY=' "$T/env2"
	grep -qx 'X=a=b' "$T/env2"
	[ "$(grep -c '^TCPLOCALIP=' "$T/env2")" -eq 1 ]
	grep -qx 'TCPLOCALIP=192.0.2.1' "$T/env2"
	grep -qx 'TCPREMOTEIP=127.0.0.2' "$T/env2"
	grep -qx 'PROTO=TCP' "$T/env2"
	# another client, another rule: none of those
	run from 127.0.0.3 eof
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}" >"$T/env3"
	grep -qx 'ZONE=outer' "$T/env3"
	grep -qx 'TCPLOCALIP=127.0.0.1' "$T/env3"
	grep -qx 'TCPREMOTEIP=127.0.0.3' "$T/env3"
	[ "$(grep -cE '^(EMPTY|TCPREMOTEHOST|X)=' "$T/env3")" -eq 0 ]
}

@test "every kind of bad rules file is refused at start with status 2, naming FILE:LINE and what is wrong, without the usage text" {
	bad_rules "1: bad address '10.0.0.256'" '10.0.0.256 allow\n'
	bad_rules "1: bad address 'localhost'" 'localhost allow\n'
	bad_rules "3: bad address 'fe80::1%lo'" '# x\n\nfe80::1%lo allow\n'
	bad_rules "2: bad prefix '/33' (a number from 0 to 32 for IPv4)" '127.0.0.1 allow\n10.0.0.0/33 allow\n'
	bad_rules "1: bad prefix '/129' (a number from 0 to 128 for IPv6)" '2001:db8::/129 deny\n'
	bad_rules "1: bad prefix '/x' (a number from 0 to 32 for IPv4)" '10.0.0.0/x allow\n'
	bad_rules "1: bad prefix '/' (a number from 0 to 32 for IPv4)" '10.0.0.0/ allow\n'
	bad_rules "1: bad prefix '/-1' (a number from 0 to 32 for IPv4)" '10.0.0.0/-1 allow\n'
	bad_rules "1: 10.1.2.3/8 has bits set after the prefix: the network is 10.0.0.0/8" '10.1.2.3/8 allow\n'
	bad_rules "1: 2001:db8::1/32 has bits set after the prefix: the network is 2001:db8::/32" '2001:db8::1/32 deny\n'
	bad_rules "1: ::ffff:10.0.0.0/104 is an IPv4 address: write it as 10.0.0.0/8" '::ffff:10.0.0.0/104 deny\n'
	bad_rules "1: unknown verb 'permit' (allow or deny)" '10.0.0.1 permit\n'
	bad_rules "1: unknown verb 'Allow' (allow or deny)" '10.0.0.1 Allow\n'
	bad_rules "2: allow or deny missing after 10.0.0.1" '\n10.0.0.1 # allow\n'
	bad_rules "1: 'ZONE' is not NAME=VALUE" '10.0.0.1 allow ZONE\n'
	bad_rules "1: bad variable name '' (letters, digits and _, not starting with a digit)" '10.0.0.1 allow =x\n'
	bad_rules "1: bad variable name '1ZONE' (letters, digits and _, not starting with a digit)" '10.0.0.1 allow 1ZONE=x\n'
	bad_rules "1: bad variable name 'A-B' (letters, digits and _, not starting with a digit)" '10.0.0.1 allow A-B=x\n'
	bad_rules "1: deny takes no variables, but has 'ZONE=x'" '10.0.0.1 deny ZONE=x\n'
	bad_rules "1: variable A set twice" '10.0.0.1 allow A=1 B=2 A=3\n'
	bad_rules "1: a NUL byte" '10.0.0.1 allow\0 # x\n'
	# a file that cannot be read, or is not a file
	launcher_file_error "$T/none: No such file or directory" -x "$T/none" 127.0.0.1 0 true
	mkdir "$T/dir"
	launcher_file_error "$T/dir: Is a directory" -x "$T/dir" 127.0.0.1 0 true
	launcher_usage_error "-x needs a value" -x
	launcher_usage_error "-R: bad value '-1' (a number from 0 to 1000000)" -R -1 127.0.0.1 0 true
	launcher_usage_error "-R: bad value 'x' (a number from 0 to 1000000)" -R x 127.0.0.1 0 true
}

@test "SIGHUP re-reads the rules while a connection runs on undisturbed, and a bad file then is logged with FILE:LINE and the old rules stay" {
	printf '127.0.0.3 deny\n' >"$T/rules"
	launch l -x "$T/rules" 127.0.0.1 0 "$H" -l "$T/rec"
	# -w 30: the wait for go spans all that follows, slow on a busy machine
	client_bg a -s 127.0.0.2 -w 30 127.0.0.1 "$PORT" line wait:"$T/go" send:'still here\n' shut eof
	a=$CPID
	wait_grep "$T/a" '^hello$'
	[ "$(from 127.0.0.3 eof)" = "" ]
	printf '# now the other way round\n127.0.0.2 deny\n' >"$T/rules"
	hup l
	wait_grep "$T/l.err" "^msgd-launcher: rules reloaded from $T/rules: 1 rules\$"
	[ "$(from 127.0.0.2 eof)" = "" ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.2 rule 2$'
	[ "$(from 127.0.0.3 send:'hi\n' shut eof)" = $'hello\nok 1\nbye 1' ]
	# a bad file: said with its line, the rules above still hold
	printf '127.0.0.3 deny\n127.0.0.2 dney\n' >"$T/rules"
	hup l
	grep -qx "msgd-launcher: cannot reload $T/rules:2: unknown verb 'dney' (allow or deny); the old rules stay" "$T/l.err"
	[ "$(from 127.0.0.2 eof)" = "" ]
	[ "$(from 127.0.0.3 send:'hi\n' shut eof)" = $'hello\nok 1\nbye 1' ]
	# no file at all: the same
	rm "$T/rules"
	hup l
	grep -qx "msgd-launcher: cannot reload $T/rules: No such file or directory; the old rules stay" "$T/l.err"
	[ "$(from 127.0.0.2 eof)" = "" ]
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.2 rule 2$')" -eq 3 ]
	# the connection from before the first reload was never touched
	touch "$T/go"
	wait_exit "$a"
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	grep -q '127\.0\.0\.2:[0-9]* #1 receive message: still here$' "$T/rec"
	[[ $(proc_state "$PID") == [RS] ]]
}

@test "with -f a relative rules file is re-read on SIGHUP from where the launcher was started" {
	printf '127.0.0.2 deny\n' >"$T/rules"
	daemon_up -x rules 127.0.0.1 0 echo served
	[ "$(from 127.0.0.1 eof)" = served ]
	printf '127.0.0.1 deny\n' >"$T/rules"
	kill -HUP "$PID"
	for ((i = 0; i < 250; i++)); do
		[ "$(from 127.0.0.1 eof)" = "" ] && break
		sleep 0.02
	done
	[ "$(from 127.0.0.1 eof)" = "" ]
	[ "$(from 127.0.0.2 eof)" = served ]
}

@test "a file of 10,000 rules is read at once and a client matched by its last rule is decided at no cost" {
	# 9,000 single addresses, 990 networks of all sizes, 10 of IPv6, then
	# the two rules that matter
	awk 'BEGIN {
		for (i = 0; i < 9000; i++)
			printf "10.%d.%d.%d deny\n", i / 65536 % 256, i / 256 % 256, i % 256
		for (i = 0; i < 990; i++) {
			p = 24 - i % 9
			t = int(i / 9) % 256
			t -= t % (2 ^ (24 - p))
			printf "172.%d.%d.0/%d deny\n", 16 + i % 16, t, p
		}
		for (i = 0; i < 10; i++)
			printf "2001:db8:%x::/48 deny\n", i
		print "127.0.0.2 deny"
		print "127.0.0.0/8 allow ZONE=last"
	}' >"$T/rules"
	[ "$(wc -l <"$T/rules")" -eq 10002 ]
	start=$(date +%s%N)
	launch l -x "$T/rules" 127.0.0.1 0 /bin/sh -c "$ZONE_SH"
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "listening after $ms ms" >&2
	[ "$ms" -lt 5000 ]
	[ "$(from 127.0.0.3 eof)" = zone=last ]
	# 500 clients denied by line 10,001: the launcher's own CPU time
	t0=$(cpu_ticks "$PID")
	run burst 127.0.0.2 500
	[ "$status" -eq 0 ]
	[ "$(grep -cx eof <<<"$output")" -eq 500 ]
	ticks=$(($(cpu_ticks "$PID") - t0))
	echo "500 denials: $ticks ticks" >&2
	[ "$ticks" -lt 100 ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.2 rule 10001$'
	[ "$(from 127.0.0.4 eof)" = zone=last ]
	# and again on SIGHUP
	start=$(date +%s%N)
	hup l
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "reloaded after $ms ms" >&2
	grep -qx "msgd-launcher: rules reloaded from $T/rules: 10002 rules" "$T/l.err"
	[ "$ms" -lt 5000 ]
}

@test "a client kept for want of a process keeps its rule's variables across a reload that needs more room for them" {
	one_slot
	# re-read as U: the file must be where U may read it
	chmod o+x "$BATS_RUN_TMPDIR"
	printf '127.0.0.0/8 allow ZONE=before\n' >"$T/rules"
	setpriv --reuid="$U" --regid="$U" --clear-groups test -r "$T/rules" ||
		skip "uid $U may not read $T/rules"
	launch l -u "$U" -g "$U" -x "$T/rules" 127.0.0.1 0 /bin/sh -c "$ZONE_SH; exec cat"
	client_bg a 127.0.0.1 "$PORT" line wait:"$T/go" shut eof
	a=$CPID
	wait_grep "$T/a" '^zone=before$'
	client_bg b -w 20 127.0.0.1 "$PORT" line shut eof
	b=$CPID
	wait_grep "$T/l.err" '^msgd-launcher: cannot fork \(will retry\): Resource temporarily unavailable$'
	# a hundred variables of a hundred bytes: more room than before
	{
		printf '127.0.0.0/8 allow ZONE=after'
		for ((i = 1; i <= 100; i++)); do
			printf ' V%d=%0100d' "$i" 0
		done
		printf '\n'
	} >"$T/rules"
	hup l
	grep -qx "msgd-launcher: rules reloaded from $T/rules: 1 rules" "$T/l.err"
	touch "$T/go"
	wait_exit "$a"
	wait_exit "$b" 20
	[ "$(cat "$T/a")" = zone=before ]
	[ "$(cat "$T/b")" = zone=before ]
	[ "$(from 127.0.0.1 line shut eof)" = zone=after ]
}

# ---- -R: how often ----

@test "with -R 2 a source gets a burst of 2, then error too many connections, while another source is still served" {
	launch l -R 2 127.0.0.1 0 echo served
	run burst 127.0.0.2 8
	[ "$status" -eq 0 ]
	echo "$output" >&2
	[ "$(grep -cx served <<<"$output")" -eq 2 ]
	[ "$(grep -cx 'error too many connections' <<<"$output")" -eq 6 ]
	[ "$(from 127.0.0.3 eof)" = served ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.2 rate limit$'
	[ "$(log_count l 'rate limit')" -eq 1 ]
	# a second later the source has its tokens again
	sleep 1.1
	[ "$(from 127.0.0.2 eof)" = served ]
}

@test "-R says a source's denials at most once a second, each source for itself" {
	launch l -R 1 127.0.0.1 0 echo served
	run burst 127.0.0.2 5
	[ "$(grep -cx served <<<"$output")" -eq 1 ]
	run burst 127.0.0.3 5
	[ "$(grep -cx served <<<"$output")" -eq 1 ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.3 rate limit$'
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.2 rate limit$')" -eq 1 ]
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.3 rate limit$')" -eq 1 ]
	sleep 1.1
	run burst 127.0.0.2 5
	[ "$(grep -cx served <<<"$output")" -eq 1 ]
	[ "$(grep -cx 'error too many connections' <<<"$output")" -eq 4 ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.2 rate limit$'
	wait_count "$T/l.err" '127\.0\.0\.2 rate limit$' 2
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.2 rate limit$')" -eq 2 ]
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.3 rate limit$')" -eq 1 ]
}

@test "under -R a thousand sources are each served, and the launcher's memory does not grow with them" {
	# ASan's quarantine keeps what each posix_spawn frees (with
	# quarantine_size_mb=0 this passes under ASan too)
	[ -z "${ASAN_OPTIONS:-}" ] || ASAN_OPTIONS+=:quarantine_size_mb=0:thread_local_quarantine_size_kb=0
	launch l -q -c 100 -R 1 127.0.0.1 0 echo served
	# the first connections may take a page or two that are then kept
	[ "$(sources 0.2 0.20)" -eq 19 ]
	before=$(rss "$PID")
	[ "$(sources 1.1 4.250)" -eq 1000 ]
	after=$(rss "$PID")
	echo "VmRSS $before kB, after 1000 sources $after kB" >&2
	[ "$after" -lt $((before + 16)) ]
	[ ! -s "$T/l.err" ]
}

@test "rules come before -R: clients a rule denies take no token" {
	printf '127.0.0.2 deny\n' >"$T/rules"
	launch l -R 2 -x "$T/rules" 127.0.0.1 0 echo served
	run burst 127.0.0.2 6
	[ "$(grep -cx eof <<<"$output")" -eq 6 ]
	wait_count "$T/l.err" 'rule 1$' 6
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.2 rule 1$')" -eq 6 ]
	[ "$(log_count l 'rate limit')" -eq 0 ]
	# let it in: its bucket is still full
	printf '# open\n' >"$T/rules"
	hup l
	run burst 127.0.0.2 2
	[ "$output" = $'served\nserved' ]
}

@test "-R comes before -C: a client over both is refused for its rate, and one refused by -C has taken its token" {
	launch l -R 2 -C 1 127.0.0.1 0 /bin/sh -c 'echo up; exec cat'
	# one held, then two more at once from the same source
	# shellcheck disable=SC2016 # python code
	run "${CLIENT[0]}" -c 'import socket, sys
def conn():
    s = socket.socket()
    s.settimeout(10)
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", int(sys.argv[1])))
    return s
def rest(s):
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            return data.decode()
        data += b
held = conn()
first = held.recv(3)
print(first.decode().strip(), rest(conn()).strip(), rest(conn()).strip(), sep="|")
held.close()' "$PORT"
	[ "$status" -eq 0 ]
	[ "$output" = "up|error too many connections|error too many connections" ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 127\.0\.0\.2 rate limit$'
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.2 per-source limit$')" -eq 1 ]
	[ "$(log_count l '^msgd-launcher: deny ')" -eq 2 ]
	[ "$(grep -n 'deny' "$T/l.err" | head -n 1)" = "2:msgd-launcher: deny 127.0.0.2 per-source limit" ]
}

# ---- -p: trusted relays and their PROXY headers ----

# a child that says the addresses it was given, none when unset
# shellcheck disable=SC2016 # the child expands it
ADDR_SH='echo "R=$TCPREMOTEIP:$TCPREMOTEPORT L=$TCPLOCALIP:$TCPLOCALPORT P=${PROXYREMOTEIP-none}:${PROXYREMOTEPORT-none}"'
# the handler (sh -c "$REC_SH" "$H" "$T/rec"), its records in $T/rec.PORT
# for the client's TCPREMOTEPORT: one file, one connection
# shellcheck disable=SC2016 # the child expands it
REC_SH='exec "$0" -l "$1.$TCPREMOTEPORT"'
V1='PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\n'


# via SRC FILE: a connection from SRC that sends the bytes of FILE,
# half-closes and reads to the end; its own port in RPORT, what it got
# in GOT
via() {
	"${CLIENT[@]}" -s "$1" 127.0.0.1 "$PORT" port file:"$2" shut eof >"$T/via" ||
		{ cat "$T/via"; return 1; }
	RPORT=$(head -n 1 "$T/via")
	GOT=$(tail -n +2 "$T/via")
}

# relays SRC PAUSE FILE...: one connection from SRC for each FILE, all
# opened at once; after PAUSE seconds each sends its FILE, then each is
# read up to a first line or its end, then all half-close and are read to
# the end.  One line each, in order: what it got (newlines as |), or
# "closed" for nothing before an EOF or a reset
# shellcheck disable=SC2016 # python code
RELAYS='import socket, sys, time
src, port, pause, files = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
conns = []
for _ in files:
    s = socket.socket()
    s.settimeout(20)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    conns.append(s)
time.sleep(pause)
for s, f in zip(conns, files):
    with open(f, "rb") as h:
        s.sendall(h.read())
got, done = [b""] * len(conns), [False] * len(conns)
def read(i, whole):
    try:
        while whole or not got[i].endswith(b"\n"):
            b = conns[i].recv(4096)
            if not b:
                done[i] = True
                return
            got[i] += b
    except ConnectionResetError:
        done[i] = True
for i in range(len(conns)):
    read(i, False)
for i in range(len(conns)):
    if not done[i]:
        conns[i].shutdown(socket.SHUT_WR)
        read(i, True)
for g in got:
    print(g.decode("latin-1").strip().replace("\n", "|") or "closed")'
relays() {
	local src=$1
	shift
	"${CLIENT[0]}" -c "$RELAYS" "$src" "$PORT" "$@"
}

# dribble_bg NAME SRC N SECS FILE: in the background (its output in
# $T/NAME, its pid in CPID) from SRC, send FILE's first N bytes one at a
# time over SECS seconds, then the rest in one write; half-close and print
# all that comes back.  On stderr "connected", then how long it took in ms
# shellcheck disable=SC2016 # python code
DRIBBLE='import socket, sys, time
src, port, n, secs, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
with open(path, "rb") as f:
    data = f.read()
s = socket.socket()
s.settimeout(20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.bind((src, 0))
s.connect(("127.0.0.1", port))
sys.stderr.write("connected\n")
sys.stderr.flush()
start = time.monotonic()
for i in range(n):
    s.sendall(data[i:i + 1])
    time.sleep(secs / n)
s.sendall(data[n:])
s.shutdown(socket.SHUT_WR)
while True:
    b = s.recv(4096)
    if not b:
        break
    sys.stdout.buffer.write(b)
sys.stdout.flush()
sys.stderr.write("%d\n" % int((time.monotonic() - start) * 1000))'
dribble_bg() {
	local name=$1
	shift
	start_server "$T/$name" "${CLIENT[0]}" -c "$DRIBBLE" "$1" "$PORT" "${@:2}"
	CPID=${SERVER_PIDS[-1]}
}

# fd_count PID: how many descriptors PID has open
fd_count() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# wait_fds PID N: wait (at most 10 s) until PID has at least N descriptors:
# the launcher has accepted a connection that has no child yet
wait_fds() {
	local i
	for ((i = 0; i < 500; i++)); do
		[ "$(fd_count "$1")" -ge "$2" ] && return 0
		sleep 0.02
	done
	echo "pid $1 has $(fd_count "$1") descriptors, not $2, after 10 s" >&2
	return 1
}

@test "behind a trusted relay a v1 or v2 header's client is the child's TCPREMOTEIP and PORT, what it reached TCPLOCALIP and PORT, and the relay PROXYREMOTEIP and PORT" {
	launch l -p 127.0.0.2 127.0.0.1 0 /bin/sh -c "$ADDR_SH"
	printf %b "$V1" >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = "R=192.0.2.10:40000 L=192.0.2.20:9100 P=127.0.0.2:$RPORT" ]
	printf 'PROXY TCP6 2001:db8::10 2001:db8::20 40001 9101\r\n' >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = "R=2001:db8::10:40001 L=2001:db8::20:9101 P=127.0.0.2:$RPORT" ]
	# TLVs (ALPN "h2", authority "example.com") are read and dropped
	proxy_v2 0x21 0x11 203.0.113.5 198.51.100.1 51000 9100 \
		010002683202000b6578616d706c652e636f6d >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = "R=203.0.113.5:51000 L=198.51.100.1:9100 P=127.0.0.2:$RPORT" ]
	proxy_v2 0x21 0x21 2001:db8::5 2001:db8::1 51001 9101 >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = "R=2001:db8::5:51001 L=2001:db8::1:9101 P=127.0.0.2:$RPORT" ]
	# an IPv4-mapped client is IPv4, as a dual-stack socket's peer is
	printf 'PROXY TCP6 ::ffff:192.0.2.11 ::ffff:192.0.2.21 40002 9102\r\n' >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = "R=192.0.2.11:40002 L=192.0.2.21:9102 P=127.0.0.2:$RPORT" ]
}

@test "a direct client's child has no PROXYREMOTEIP or PROXYREMOTEPORT, even when the launcher was started with them" {
	PRE=(env PROXYREMOTEIP=198.51.100.9 PROXYREMOTEPORT=9)
	launch l -p 127.0.0.2 127.0.0.1 0 env
	run from 127.0.0.3 eof
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}" >"$T/env1"
	grep -qx TCPREMOTEIP=127.0.0.3 "$T/env1"
	grep -qx TCPLOCALIP=127.0.0.1 "$T/env1"
	grep -qx "TCPLOCALPORT=$PORT" "$T/env1"
	[ "$(grep -c '^PROXYREMOTE' "$T/env1")" -eq 0 ]
	# a proxied client's child has the relay's, once
	printf %b "$V1" >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$(grep -c '^PROXYREMOTE' <<<"$GOT")" -eq 2 ]
	grep -qx PROXYREMOTEIP=127.0.0.2 <<<"$GOT"
	grep -qx "PROXYREMOTEPORT=$RPORT" <<<"$GOT"
	grep -qx TCPREMOTEIP=192.0.2.10 <<<"$GOT"
	# and the next direct client's none again
	run from 127.0.0.3 eof
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}" >"$T/env2"
	grep -qx TCPREMOTEIP=127.0.0.3 "$T/env2"
	[ "$(grep -c '^PROXYREMOTE' "$T/env2")" -eq 0 ]
}

@test "a v2 LOCAL header, a v2 UNSPEC one and a v1 UNKNOWN one keep the socket's own addresses" {
	launch l -p 127.0.0.2 127.0.0.1 0 /bin/sh -c "$ADDR_SH"
	proxy_v2 0x20 0x00 >"$T/local"
	# a health check that names addresses all the same: they are ignored
	proxy_v2 0x20 0x11 192.0.2.10 192.0.2.20 40000 9100 >"$T/local-addr"
	proxy_v2 0x21 0x00 >"$T/unspec"
	printf 'PROXY UNKNOWN\r\n' >"$T/unknown"
	printf 'PROXY UNKNOWN 192.0.2.10 192.0.2.20 40000 9100\r\n' >"$T/unknown-addr"
	for h in local local-addr unspec unknown unknown-addr; do
		via 127.0.0.2 "$T/$h"
		echo "$h: $GOT" >&2
		[ "$GOT" = "R=127.0.0.2:$RPORT L=127.0.0.1:$PORT P=127.0.0.2:$RPORT" ]
	done
}

@test "a v2 LOCAL header's child, a relay's health check, gets PROXYLOCAL=1; no other child does, nor from the launcher's environment" {
	PRE=(env PROXYLOCAL=1)
	launch l -p 127.0.0.2 127.0.0.1 0 env
	proxy_v2 0x20 0x00 >"$T/local"
	via 127.0.0.2 "$T/local"
	[ "$(grep -c '^PROXYLOCAL=' <<<"$GOT")" -eq 1 ]
	grep -qx PROXYLOCAL=1 <<<"$GOT"
	grep -qx TCPREMOTEIP=127.0.0.2 <<<"$GOT"
	# v2 UNSPEC and v1 UNKNOWN may relay a client: no check
	proxy_v2 0x21 0x00 >"$T/unspec"
	printf 'PROXY UNKNOWN\r\n' >"$T/unknown"
	printf %b "$V1" >"$T/v1"
	for h in unspec unknown v1; do
		via 127.0.0.2 "$T/$h"
		[ "$(grep -c '^PROXYLOCAL=' <<<"$GOT")" -eq 0 ]
	done
	run from 127.0.0.3 eof
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^PROXYLOCAL=')" -eq 0 ]
}

@test "a relay's health check, a v2 LOCAL header and a reset or a close after the greeting, leaves no record and no line in the log; a client through the relay is recorded" {
	launch l -v -p 127.0.0.2 127.0.0.1 0 "$H" -l "$T/rec"
	proxy_v2 0x20 0x00 >"$T/local"
	run from 127.0.0.2 file:"$T/local" line reset
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	run from 127.0.0.2 file:"$T/local" shut eof
	[ "$status" -eq 0 ]
	[ "$output" = $'hello\nbye 0' ]
	printf %b "$V1" >"$T/v1"
	run from 127.0.0.2 file:"$T/v1" send:'hi\n' shut eof
	[ "$output" = $'hello\nok 1\nbye 1' ]
	wait_count "$T/l.err" '^msgd-launcher: end [0-9]+ ' 3 10
	# every child ended with 0: no "end PID status 1" even without -v
	[ "$(log_count l '^msgd-launcher: end [0-9]+ status 0$')" -eq 3 ]
	[ "$(log_count l 'status [1-9]|signal')" -eq 0 ]
	[ "$(log_count l '^msgd-handler')" -eq 0 ]
	records_are "$T/rec" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: hi' \
		'192.0.2.10:40000 disconnect: 1 message, 2 bytes, eof'
}

@test "the rules see the header's client: a rule denies it although the relay is allowed, and its allow rule's variables reach the child" {
	printf '192.0.2.66 deny\n192.0.2.0/24 allow ZONE=doc\n127.0.0.0/8 allow ZONE=lo\n' >"$T/rules"
	launch l -v -x "$T/rules" -p 127.0.0.2 127.0.0.1 0 /bin/sh -c "$ZONE_SH"
	printf 'PROXY TCP4 192.0.2.66 192.0.2.20 40066 9100\r\n' >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = "" ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 192\.0\.2\.66 rule 1$'
	printf 'PROXY TCP4 192.0.2.7 192.0.2.20 40007 9100\r\n' >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = zone=doc ]
	wait_grep "$T/l.err" '^msgd-launcher: pid [0-9]+ from 192\.0\.2\.7 port 40007$'
	# a health check is the relay's own: its rule
	proxy_v2 0x20 0x00 >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = zone=lo ]
	wait_grep "$T/l.err" "^msgd-launcher: pid [0-9]+ from 127\\.0\\.0\\.2 port $RPORT\$"
	[ "$(log_count l '^msgd-launcher: deny ')" -eq 1 ]
	[ "$(log_count l '^msgd-launcher: pid ')" -eq 2 ]
}

@test "-R and -C count the header's client, not the relay, and say it in the log" {
	printf 'PROXY TCP4 192.0.2.1 192.0.2.20 40001 9100\r\n' >"$T/a"
	printf 'PROXY TCP4 192.0.2.2 192.0.2.20 40002 9100\r\n' >"$T/b"
	launch l -R 1 -p 127.0.0.2 127.0.0.1 0 echo served
	run relays 127.0.0.2 0 "$T/a" "$T/b" "$T/a"
	[ "$status" -eq 0 ]
	echo "$output" >&2
	[ "$(sort <<<"$output")" = $'error too many connections\nserved\nserved' ]
	[ "${lines[1]}" = served ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 192\.0\.2\.1 rate limit$'
	[ "$(log_count l '^msgd-launcher: deny ')" -eq 1 ]
	# one running child per client address; each says its client
	# shellcheck disable=SC2016 # the child expands it
	launch m -v -C 1 -p 127.0.0.2 127.0.0.1 0 /bin/sh -c 'echo "$TCPREMOTEIP"; exec cat'
	run relays 127.0.0.2 0 "$T/a" "$T/b" "$T/a"
	[ "$status" -eq 0 ]
	echo "$output" >&2
	[ "$(sort <<<"$output")" = $'192.0.2.1\n192.0.2.2\nerror too many connections' ]
	[ "${lines[1]}" = 192.0.2.2 ]
	wait_grep "$T/m.err" '^msgd-launcher: deny 192\.0\.2\.1 per-source limit$'
	[ "$(log_count m '^msgd-launcher: pid [0-9]+ from 192\.0\.2\.1 port 40001$')" -eq 1 ]
	[ "$(log_count m '^msgd-launcher: pid [0-9]+ from 192\.0\.2\.2 port 40002$')" -eq 1 ]
	[ "$(log_count m '^msgd-launcher: (deny|pid) ')" -eq 3 ]
}

@test "headers dribbled a byte at a time over seconds hold up no one: direct and proxied clients are served meanwhile" {
	launch l -p 127.0.0.2 127.0.0.1 0 /bin/sh -c "$REC_SH" "$H" "$T/rec"
	printf %b "${V1}one\n" >"$T/d1"
	# a v2 header whose TLVs come in reads of their own
	{ proxy_v2 0x21 0x21 2001:db8::5 2001:db8::1 51001 9100 0400080000000000000000
		printf 'two\n'; } >"$T/d2"
	dribble_bg r1 127.0.0.2 45 3 "$T/d1"
	r1=$CPID
	dribble_bg r2 127.0.0.2 63 3 "$T/d2"
	r2=$CPID
	wait_grep "$T/r1.err" '^connected$'
	wait_grep "$T/r2.err" '^connected$'
	{ printf 'PROXY TCP4 192.0.2.30 192.0.2.20 40030 9100\r\n'; printf 'three\n'; } >"$T/h"
	start=$(date +%s%N)
	[ "$(from 127.0.0.3 port send:'direct\n' shut eof | tail -n +2)" = $'hello\nok 1\nbye 1' ]
	via 127.0.0.2 "$T/h"
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "two clients served in $ms ms while the headers dribbled" >&2
	[ "$GOT" = $'hello\nok 1\nbye 1' ]
	# served before the dribbled headers were whole
	[ ! -s "$T/r1" ]
	[ ! -s "$T/r2" ]
	[[ $(proc_state "$r1") == [RS] ]]
	[[ $(proc_state "$r2") == [RS] ]]
	wait_exit "$r1" 20
	wait_exit "$r2" 20
	[ "$(cat "$T/r1")" = $'hello\nok 1\nbye 1' ]
	[ "$(cat "$T/r2")" = $'hello\nok 1\nbye 1' ]
	[ "$(tail -n 1 "$T/r1.err")" -ge 3000 ]
	[ "$(tail -n 1 "$T/r2.err")" -ge 3000 ]
	records_are "$T/rec.40000" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: one' \
		'192.0.2.10:40000 disconnect: 1 message, 3 bytes, eof'
	records_are "$T/rec.51001" '[2001:db8::5]:51001 connect' \
		'[2001:db8::5]:51001 #1 receive message: two' \
		'[2001:db8::5]:51001 disconnect: 1 message, 3 bytes, eof'
	records_are "$T/rec.40030" '192.0.2.30:40030 connect' \
		'192.0.2.30:40030 #1 receive message: three' \
		'192.0.2.30:40030 disconnect: 1 message, 5 bytes, eof'
}

@test "a header split across reads, and one sent with the first messages in one write: the handler gets every byte after the header, and none of it" {
	launch l -p 127.0.0.2 127.0.0.1 0 /bin/sh -c "$REC_SH" "$H" "$T/rec"
	run from 127.0.0.2 send:'PROXY TCP4 192.0.2.10 19' quiet:0.2 \
		send:'2.0.2.20 40000 9100\r' quiet:0.2 send:'\nhi\n' shut eof
	[ "$status" -eq 0 ]
	[ "$output" = $'quiet\nquiet\nhello\nok 1\nbye 1' ]
	records_are "$T/rec.40000" '192.0.2.10:40000 connect' \
		'192.0.2.10:40000 #1 receive message: hi' \
		'192.0.2.10:40000 disconnect: 1 message, 2 bytes, eof'
	# cut in its addresses and again in its TLVs, other clients served
	# between the parts
	proxy_v2 0x21 0x11 203.0.113.5 198.51.100.1 51000 9100 04000400000000 >"$T/v2"
	head -c 20 "$T/v2" >"$T/part1"
	{ tail -c +21 "$T/v2" | head -c 10; } >"$T/part2"
	{ tail -c +31 "$T/v2"; printf 'hi\n'; } >"$T/part3"
	client_bg a -s 127.0.0.2 127.0.0.1 "$PORT" file:"$T/part1" \
		wait:"$T/go1" file:"$T/part2" wait:"$T/go2" file:"$T/part3" shut eof
	a=$CPID
	[ "$(from 127.0.0.3 send:'x\n' shut eof)" = $'hello\nok 1\nbye 1' ]
	touch "$T/go1"
	printf 'PROXY TCP4 192.0.2.11 192.0.2.20 40011 9100\r\n' >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = $'hello\nbye 0' ]
	touch "$T/go2"
	wait_exit "$a"
	[ "$(cat "$T/a")" = $'hello\nok 1\nbye 1' ]
	records_are "$T/rec.51000" '203.0.113.5:51000 connect' \
		'203.0.113.5:51000 #1 receive message: hi' \
		'203.0.113.5:51000 disconnect: 1 message, 2 bytes, eof'
	# with the first messages in the same write, a PROXY line among them
	printf 'PROXY TCP4 192.0.2.12 192.0.2.20 40012 9100\r\nPROXY again\r\nsecond' >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = $'hello\nok 1\nok 2\nbye 2' ]
	records_are "$T/rec.40012" '192.0.2.12:40012 connect' \
		'192.0.2.12:40012 #1 receive message: PROXY again' \
		'192.0.2.12:40012 #2 receive message: second' \
		'192.0.2.12:40012 disconnect: 2 messages, 17 bytes, eof'
	# after the TLVs, bytes that look like another header are data
	{ proxy_v2 0x21 0x11 203.0.113.6 198.51.100.1 51002 9100 04000400000000
		printf '\r\n\r\n\0\r\nQUIT\nend\n'; } >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = $'hello\nok 1\nok 2\nok 3\nok 4\nok 5\nbye 5' ]
	records_are "$T/rec.51002" '203.0.113.6:51002 connect' \
		'203.0.113.6:51002 #1 receive message: ' \
		'203.0.113.6:51002 #2 receive message: ' \
		'203.0.113.6:51002 #3 receive message: \x00' \
		'203.0.113.6:51002 #4 receive message: QUIT' \
		'203.0.113.6:51002 #5 receive message: end' \
		'203.0.113.6:51002 disconnect: 5 messages, 8 bytes, eof'
}

@test "a relay's bad header is closed with no child and logged bad proxy header from IP: malformed, or cut short when the connection ends inside it" {
	# shellcheck disable=SC2016 # the child expands it
	launch l -p 127.0.0.2 127.0.0.1 0 /bin/sh -c 'echo ran >>"$0"; echo served' "$T/ran"
	sig='\r\n\r\n\0\r\nQUIT\n'
	n=0
	bad() {
		n=$((n + 1))
		printf '%b' "$1" >"$T/bad$n"
	}
	bad 'PROXY TCP4 192.0.2.10 192.0.2.20 65536 9100\r\nhi\n'	# port
	bad 'PROXY TCP4 192.0.2.10 192.0.2.20 040000 9100\r\nhi\n'	# a leading 0
	bad 'PROXY TCP4 2001:db8::1 192.0.2.20 40000 9100\r\nhi\n'	# family
	bad 'PROXY TCP5 192.0.2.10 192.0.2.20 40000 9100\r\nhi\n'
	bad 'PROXY TCP4 192.0.2 192.0.2.20 40000 9100\r\nhi\n'	# address
	bad 'PROXY TCP4 192.0.2.10 192.0.2.20 40000\r\nhi\n'	# a field short
	bad 'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100 x\r\nhi\n'
	bad 'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\nhi\n'	# no CR
	bad "PROXY UNKNOWN $(printf '%0101d' 0)\r\nhi\n"	# CRLF after 107
	bad 'proxy TCP4 192.0.2.10 192.0.2.20 40000 9100\r\nhi\n'
	bad "$sig"'\x11\x11\x00\x0c\xc0\x00\x02\x0a\xc0\x00\x02\x14\x9c\x40\x23\x8chi\n'	# version 1
	bad "$sig"'\x22\x11\x00\x0c\xc0\x00\x02\x0a\xc0\x00\x02\x14\x9c\x40\x23\x8chi\n'	# command 2
	bad "$sig"'\x21\x12\x00\x0c\xc0\x00\x02\x0a\xc0\x00\x02\x14\x9c\x40\x23\x8chi\n'	# UDP
	bad "$sig"'\x21\x31\x00\x00hi\n'	# a unix socket
	bad "$sig"'\x21\x11\x00\x08\xc0\x00\x02\x0a\xc0\x00\x02\x14hi\n'	# a length short of TCP4's 12
	bad "$sig"'\x21\x21\x00\x23'"$(printf '\\x%02x' {1..35})hi\n"	# and of TCP6's 36
	bad 'GET / HTTP/1.0\r\n\r\n'
	run relays 127.0.0.2 0 "$T"/bad{1..17}
	[ "$status" -eq 0 ]
	echo "$output" >&2
	[ "${#lines[@]}" -eq 17 ]
	[ "$(grep -cx closed <<<"$output")" -eq 17 ]
	wait_count "$T/l.err" 'bad proxy header' 17
	[ "$(log_count l '^msgd-launcher: bad proxy header from 127\.0\.0\.2: malformed$')" -eq 17 ]
	# ended inside the header: in v1's line, v2's addresses, v2's TLVs
	printf 'PROXY TCP4 192.0.2.10 192.0.2.20 4' >"$T/cut1"
	printf '%b' "$sig"'\x21\x11\x00\x0c\xc0\x00\x02\x0a\xc0\x00' >"$T/cut2"
	printf '%b' "$sig"'\x21\x11\x00\x14\xc0\x00\x02\x0a\xc0\x00\x02\x14\x9c\x40\x23\x8c\x04\x00' >"$T/cut3"
	for f in cut1 cut2 cut3; do
		run from 127.0.0.2 file:"$T/$f" shut eof
		[ "$status" -eq 0 ]
		[ "$output" = "" ]
	done
	wait_grep "$T/l.err" 'cut short'
	wait_count "$T/l.err" 'cut short' 3
	[ "$(log_count l '^msgd-launcher: bad proxy header from 127\.0\.0\.2: cut short$')" -eq 3 ]
	[ "$(log_count l 'bad proxy header')" -eq 20 ]
	[ ! -e "$T/ran" ]
	# and a good one is served as ever
	printf %b "$V1" >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = served ]
}

@test "a relay that sends no header, or half of one, is closed after about 5 seconds, logged none in time, while others are served meanwhile" {
	launch l -p 127.0.0.2 127.0.0.1 0 /bin/sh -c "$ADDR_SH"
	n=$(fd_count "$PID")
	start=$(date +%s%N)
	client_bg s1 -s 127.0.0.2 -w 20 127.0.0.1 "$PORT" eof
	s1=$CPID
	client_bg s2 -s 127.0.0.2 -w 20 127.0.0.1 "$PORT" send:'PROXY TCP4 192.0.2.10 ' eof
	s2=$CPID
	wait_fds "$PID" $((n + 2))
	run from 127.0.0.3 port eof
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "R=127.0.0.3:${lines[0]} L=127.0.0.1:$PORT P=none:none" ]
	printf %b "$V1" >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = "R=192.0.2.10:40000 L=192.0.2.20:9100 P=127.0.0.2:$RPORT" ]
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "others served after $ms ms" >&2
	[[ $(proc_state "$s1") == [RS] ]]
	[[ $(proc_state "$s2") == [RS] ]]
	wait_exit "$s1" 20
	wait_exit "$s2" 20
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "closed after $ms ms" >&2
	[ "$ms" -ge 4500 ]
	[ "$ms" -le 12000 ]
	[ ! -s "$T/s1" ]
	[ ! -s "$T/s2" ]
	wait_grep "$T/l.err" 'none in time'
	wait_count "$T/l.err" 'none in time' 2
	[ "$(log_count l '^msgd-launcher: bad proxy header from 127\.0\.0\.2: none in time$')" -eq 2 ]
	[ "$(log_count l 'bad proxy header')" -eq 2 ]
}

@test "from a source that is not trusted a PROXY header is not read: it is data, recorded and escaped as any" {
	launch l -p 127.0.0.2 127.0.0.1 0 /bin/sh -c "$REC_SH" "$H" "$T/rec"
	printf %b "${V1}hi\n" >"$T/h"
	via 127.0.0.3 "$T/h"
	[ "$GOT" = $'hello\nok 1\nok 2\nbye 2' ]
	records_are "$T/rec.$RPORT" "127.0.0.3:$RPORT connect" \
		"127.0.0.3:$RPORT #1 receive message: PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100" \
		"127.0.0.3:$RPORT #2 receive message: hi" \
		"127.0.0.3:$RPORT disconnect: 2 messages, 45 bytes, eof"
	{ proxy_v2 0x20 0x00; printf 'hi\n'; } >"$T/h"
	via 127.0.0.3 "$T/h"
	[ "$GOT" = $'hello\nok 1\nok 2\nok 3\nok 4\nok 5\nbye 5' ]
	records_are "$T/rec.$RPORT" "127.0.0.3:$RPORT connect" \
		"127.0.0.3:$RPORT #1 receive message: " \
		"127.0.0.3:$RPORT #2 receive message: " \
		"127.0.0.3:$RPORT #3 receive message: \\x00" \
		"127.0.0.3:$RPORT #4 receive message: QUIT" \
		"127.0.0.3:$RPORT #5 receive message:  \\x00\\x00\\x00hi" \
		"127.0.0.3:$RPORT disconnect: 5 messages, 11 bytes, eof"
	[ "$(log_count l 'bad proxy header')" -eq 0 ]
}

@test "-p takes an address or a network, as often as needed, and a bad one is a usage error naming it" {
	launcher_usage_error "-p:1: bad address '10.0.0.256'" -p 10.0.0.256 127.0.0.1 0 true
	launcher_usage_error "-p:2: bad address 'relay.example'" -p 10.0.0.1 -p relay.example 127.0.0.1 0 true
	launcher_usage_error "-p:1: bad prefix '/33' (a number from 0 to 32 for IPv4)" -p 10.0.0.0/33 127.0.0.1 0 true
	launcher_usage_error "-p:1: 10.1.2.3/8 has bits set after the prefix: the network is 10.0.0.0/8" -p 10.1.2.3/8 127.0.0.1 0 true
	launcher_usage_error "-p: bad address '10.0.0.1 deny' (an address or ADDRESS/PREFIX)" -p '10.0.0.1 deny' 127.0.0.1 0 true
	launcher_usage_error "-p: bad address '10.0.0.1#x' (an address or ADDRESS/PREFIX)" -p '10.0.0.1#x' 127.0.0.1 0 true
	launcher_usage_error "-p: bad address '' (an address or ADDRESS/PREFIX)" -p '' 127.0.0.1 0 true
	launcher_usage_error "-p needs a value" -p
	# networks of both families, several times
	launch l -p 10.0.0.0/8 -p 2001:db8::/32 -p 127.0.0.0/30 127.0.0.1 0 /bin/sh -c "$ADDR_SH"
	printf %b "$V1" >"$T/h"
	via 127.0.0.2 "$T/h"
	[ "$GOT" = "R=192.0.2.10:40000 L=192.0.2.20:9100 P=127.0.0.2:$RPORT" ]
	run from 127.0.0.4 port eof
	[ "${lines[1]}" = "R=127.0.0.4:${lines[0]} L=127.0.0.1:$PORT P=none:none" ]
}

@test "more relay connections than -c at once: those over the bound wait in the backlog, none is dropped, and all are served once their headers come" {
	# shellcheck disable=SC2016 # the child expands it
	launch l -c 3 -p 127.0.0.2 127.0.0.1 0 /bin/sh -c 'echo "$TCPREMOTEIP:$TCPREMOTEPORT"'
	files=()
	for i in $(seq 1 12); do
		printf 'PROXY TCP4 192.0.2.%d 192.0.2.20 %d 9100\r\n' "$i" $((40000 + i)) >"$T/h$i"
		files+=("$T/h$i")
	done
	start=$(date +%s%N)
	# 12 connect at once, and only a second later send their headers
	run relays 127.0.0.2 1 "${files[@]}"
	ms=$((($(date +%s%N) - start) / 1000000))
	printf '%s\n' "served in $ms ms:" "$output" >&2
	[ "$status" -eq 0 ]
	[ "$output" = "$(for i in $(seq 1 12); do echo "192.0.2.$i:$((40000 + i))"; done)" ]
	[ "$(log_count l 'bad proxy header')" -eq 0 ]
	# none waited for a deadline
	[ "$ms" -lt 4500 ]
}

@test "connections waiting for their header do not count toward -c, and a whole header with every child busy is served under its own address when one ends, without a busy loop meanwhile" {
	# shellcheck disable=SC2016 # the child expands it
	launch l -c 2 -p 127.0.0.2 127.0.0.1 0 /bin/sh -c 'echo "R=$TCPREMOTEIP:$TCPREMOTEPORT"; exec cat'
	n=$(fd_count "$PID")
	client_bg r -s 127.0.0.2 127.0.0.1 "$PORT" wait:"$T/go1" \
		send:'PROXY TCP4 192.0.2.10 192.0.2.20 40000 9100\r\nstill here\n' shut eof
	r=$CPID
	wait_fds "$PID" $((n + 1))
	# both children's places are free for others
	client_bg a -s 127.0.0.3 127.0.0.1 "$PORT" line wait:"$T/go2" shut eof
	a=$CPID
	client_bg b -s 127.0.0.4 127.0.0.1 "$PORT" line wait:"$T/go2" shut eof
	b=$CPID
	wait_grep "$T/a" '^R=127\.0\.0\.3:'
	wait_grep "$T/b" '^R=127\.0\.0\.4:'
	# the relay's header and message come: no place for a child yet
	touch "$T/go1"
	sleep 0.5
	t0=$(cpu_ticks "$PID")
	sleep 1
	ticks=$(($(cpu_ticks "$PID") - t0))
	echo "$ticks ticks in a second with a whole header waiting" >&2
	[ "$ticks" -le 10 ]
	[ ! -s "$T/r" ]
	touch "$T/go2"
	wait_exit "$r"
	[ "$(cat "$T/r")" = $'R=192.0.2.10:40000\nstill here' ]
}

# two relay connections from 127.0.0.2, opened at once, whose headers go
# out back to back: each prints its first line as it comes (at most 15 s),
# then both half-close and are read to the end
# shellcheck disable=SC2016 # python code
TWO_RELAYS='import select, socket, sys
port = int(sys.argv[1])
conns = []
for i in (1, 2):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    conns.append(s)
for i, s in enumerate(conns, 1):
    s.sendall(b"PROXY TCP4 192.0.2.1%d 192.0.2.20 4000%d 9100\r\n" % (i, i))
got = {s: b"" for s in conns}
while any(not g.endswith(b"\n") for g in got.values()):
    ready = select.select([s for s in conns if not got[s].endswith(b"\n")], [], [], 15)[0]
    if not ready:
        sys.exit("a relay connection got no line in 15 s")
    for s in ready:
        b = s.recv(1)
        if not b:
            sys.exit("a relay connection ended with no line")
        got[s] += b
        if b == b"\n":
            print(got[s].decode().strip(), flush=True)
for s in conns:
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    while s.recv(4096):
        pass'

@test "behind a trusted relay, a whole header kept while a failed fork was tried again is served once the retry succeeds, with no other client coming" {
	one_slot
	# U may have 3 tasks: the launcher (one thread), a's child
	# and this sleeper; so the first relayed client's fork fails
	start_server "$T/s" setpriv --reuid="$U" --regid="$U" --clear-groups sleep 60
	sleeper=${SERVER_PIDS[-1]}
	for ((i = 0; i < 100; i++)); do
		[ "$(stat -c %u "/proc/$sleeper")" = "$U" ] && break
		sleep 0.02
	done
	# shellcheck disable=SC2034 # read by launch (helpers.bash)
	PRE=(prlimit --nproc=3)
	# shellcheck disable=SC2016 # the child expands it
	launch l -u "$U" -g "$U" -c 2 -p 127.0.0.2 127.0.0.1 0 /bin/sh -c 'echo "R=$TCPREMOTEIP:$TCPREMOTEPORT"; exec cat'
	client_bg a -s 127.0.0.3 127.0.0.1 "$PORT" line wait:"$T/go" shut eof
	a=$CPID
	wait_grep "$T/a" '^R=127\.0\.0\.3:'
	# one header is taken, its fork fails; the other is whole and kept,
	# -c 2 being reached
	start_server "$T/r" "${CLIENT[0]}" -c "$TWO_RELAYS" "$PORT"
	r=${SERVER_PIDS[-1]}
	wait_grep "$T/l.err" '^msgd-launcher: cannot fork \(will retry\): Resource temporarily unavailable$'
	# while the launcher backs off, a's child ends (its SIGCHLD comes
	# then): the retry succeeds, and nothing else wakes the launcher
	touch "$T/go"
	wait_exit "$a"
	wait_grep "$T/l.err" '^msgd-launcher: accepting again$'
	# room for the kept client's child too, whose fork may have failed
	kill "$sleeper"
	wait_exit "$sleeper"
	wait_exit "$r" 20
	cat "$T/r.err" >&2
	[ "$(sort "$T/r")" = $'R=192.0.2.11:40001\nR=192.0.2.12:40002' ]
}
