#!/usr/bin/env bats
# msgd-launcher's front door: who may connect (-x access rules) and how
# often (-R).  Clients come from chosen loopback addresses: Linux routes
# all of 127.0.0.0/8 to lo, so a client may bind 127.0.0.5 before it
# connects.  Every launcher listens on port 0 with -1 and is stopped by PID.

load helpers

L=$MSGD_BIN/msgd-launcher
H=$MSGD_BIN/msgd-handler
CLIENT=("${PYTHON:-python3}" "$BATS_TEST_DIRNAME/client.py")
# commands put before the launcher (env, a wrapper that execs it)
PRE=()
# a child that says which zone its rule put it in
# shellcheck disable=SC2016 # the child expands it
ZONE_SH='echo "zone=${ZONE-unset}"'

# launch NAME ARG...: start "msgd-launcher -1 ARG..." with its stdout in
# $T/NAME and its log in $T/NAME.err, ZONE not in its environment; set PID
# and PORT.  Unless ARG starts with -q, also wait for the "listening" line.
launch() {
	local name=$1
	shift
	start_server "$T/$name" env -u ZONE "${PRE[@]}" "$L" -1 "$@"
	PID=${SERVER_PIDS[-1]}
	PORT=$(wait_line "$T/$name") || return 1
	[[ $PORT =~ ^[0-9]+$ ]] || return 1
	if [ "$1" != -q ]; then
		wait_grep "$T/$name.err" '^msgd-launcher: listening on ' || return 1
	fi
}

# daemon ARG...: "msgd-launcher -f -1 -i $T/pid ARG..." from $T; sets PID
# (stopped in teardown) and PORT
daemon() {
	cd "$T" || return 1
	timeout 10 "$L" -f -1 -i "$T/pid" "$@" >"$T/d" 2>"$T/d.err" 3>&- ||
		return 1
	PORT=$(cat "$T/d")
	PID=$(cat "$T/pid")
	[[ $PID =~ ^[0-9]+$ ]] || return 1
	SERVER_PIDS+=("$PID")
}

# from SRC STEP...: test/client.py from the address SRC to the launcher
from() {
	local src=$1
	shift
	"${CLIENT[@]}" -s "$src" 127.0.0.1 "$PORT" "$@"
}

# client_bg NAME ARG...: test/client.py ARG... in the background, its
# output in $T/NAME; sets CPID (stopped in teardown)
client_bg() {
	local name=$1
	shift
	start_server "$T/$name" "${CLIENT[@]}" "$@"
	CPID=${SERVER_PIDS[-1]}
}

# log_count NAME ERE: how many lines of launcher NAME's log match ERE
log_count() {
	grep -cE -- "$2" "$T/$1.err" || true
}

has_ipv6() {
	grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null
}

# proc_state PID: the state letter of PID (R, S, Z...), empty when gone
proc_state() {
	sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null || true
}

# wait_exit PID [SECS]: wait (at most SECS, default 10) until PID has ended
wait_exit() {
	local i n=$((${2:-10} * 50))
	for ((i = 0; i < n; i++)); do
		case $(proc_state "$1") in
		'' | Z) return 0 ;;
		esac
		sleep 0.02
	done
	echo "pid $1 still running after ${2:-10} s" >&2
	return 1
}

# cpu_ticks PID: user + system CPU time of PID, in clock ticks
cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
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

# usage_error MESSAGE ARG...: the launcher with ARG... exits 2 with
# "msgd-launcher: MESSAGE" and the usage line, and nothing else
usage_error() {
	local msg=$1
	shift
	run timeout 10 "$L" "$@" 3>&-
	echo "args: $* -> status $status: $output" >&2
	[ "$status" -eq 2 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = "msgd-launcher: $msg" ]
	[[ ${lines[1]} == 'usage: msgd-launcher ['*' HOST PORT PROGRAM [ARG...]' ]]
}

# bad_rules MESSAGE TEXT: a rules file holding TEXT (printf %b) is refused
# at start with "FILE:MESSAGE", exit status 2
bad_rules() {
	printf '%b' "$2" >"$T/rules"
	usage_error "$T/rules:$1" -x "$T/rules" 127.0.0.1 0 true
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
	PRE=(ZONE=outer)
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

@test "every kind of bad rules file is a usage error at start naming FILE:LINE and what is wrong" {
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
	usage_error "$T/none: No such file or directory" -x "$T/none" 127.0.0.1 0 true
	mkdir "$T/dir"
	usage_error "$T/dir: Is a directory" -x "$T/dir" 127.0.0.1 0 true
	usage_error "-x needs a value" -x
	usage_error "-R: bad value '-1' (a number from 0 to 1000000)" -R -1 127.0.0.1 0 true
	usage_error "-R: bad value 'x' (a number from 0 to 1000000)" -R x 127.0.0.1 0 true
}

@test "SIGHUP re-reads the rules while a connection runs on undisturbed, and a bad file then is logged with FILE:LINE and the old rules stay" {
	printf '127.0.0.3 deny\n' >"$T/rules"
	launch l -x "$T/rules" 127.0.0.1 0 "$H" -l "$T/rec"
	client_bg a -s 127.0.0.2 127.0.0.1 "$PORT" line wait:"$T/go" send:'still here\n' shut eof
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
	daemon -x rules 127.0.0.1 0 echo served
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

# one_slot (as in launcher.bats): U is a uid of no user and no process,
# that may run $H; PRE=(prlimit --nproc=2) then lets a launcher run as U
# fork one child at a time (RLIMIT_NPROC is not enforced for root, hence -u)
one_slot() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for -u"
	command -v prlimit >/dev/null || skip "needs prlimit (util-linux)"
	command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
	U=61234
	! getent passwd "$U" >/dev/null || skip "uid $U is someone's"
	[ -z "$(ps -u "$U" -o pid=)" ] || skip "uid $U has processes"
	setpriv --reuid="$U" --regid="$U" --clear-groups test -x "$H" ||
		skip "uid $U may not run $H"
	PRE=(prlimit --nproc=2)
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
	for ((i = 0; i < 50; i++)); do
		[ "$(log_count l '127\.0\.0\.2 rate limit$')" -eq 2 ] && break
		sleep 0.02
	done
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.2 rate limit$')" -eq 2 ]
	[ "$(log_count l '^msgd-launcher: deny 127\.0\.0\.3 rate limit$')" -eq 1 ]
}

@test "under -R a thousand sources are each served, and the launcher's memory does not grow with them" {
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
	for ((i = 0; i < 250; i++)); do
		[ "$(log_count l 'rule 1$')" -eq 6 ] && break
		sleep 0.02
	done
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
