# SPDX-License-Identifier: ISC
# Shared by every .bats file: where the programs are, a private temp dir,
# background servers that are always stopped by PID, starting a launcher,
# bounded waits, and checks of replies and records.
# shellcheck shell=bash

MSGD_BIN=${MSGD_BIN:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/bin}
# MSGD_WRAP runs each handler under a tool, e.g. valgrind (make memcheck)
MSGD_WRAP=${MSGD_WRAP:-}
export MSGD_BIN MSGD_WRAP

# msgd-handler ARGS..., under $MSGD_WRAP when set
handler() {
	# shellcheck disable=SC2086 # MSGD_WRAP is a command line
	$MSGD_WRAP "$MSGD_BIN/msgd-handler" "$@"
}

# common_setup: what every test starts with; a .bats file that needs a
# setup() of its own (say, to `need` a command for all its tests) calls it
common_setup() {
	# shellcheck disable=SC2034 # used by the .bats files
	T=$BATS_TEST_TMPDIR
	SERVER_PIDS=()
}

setup() {
	common_setup
}

# servers_stop: stop every server start_server began, by PID; a .bats
# file with a teardown() of its own calls it
servers_stop() {
	local pid
	for pid in "${SERVER_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${SERVER_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}

teardown() {
	servers_stop
}

# start_server OUTFILE CMD...: run CMD in the background with stdout to
# OUTFILE; its PID is remembered and stopped in teardown.  fd 3 is closed so
# that bats does not wait for the server.
start_server() {
	local out=$1
	shift
	"$@" >"$out" 2>"$out.err" 3>&- &
	SERVER_PIDS+=("$!")
}

# the python test client (its steps are listed at its top)
# shellcheck disable=SC2034 # used by the .bats files
CLIENT=("${PYTHON:-python3}" "$BATS_TEST_DIRNAME/client.py")
# commands put before the launcher by launch and daemon (env, a wrapper
# that execs it); a test sets it before it starts one
PRE=()

# launch NAME ARG...: start "msgd-launcher -1 ARG..." ($L, after PRE) with
# its stdout in $T/NAME and its log in $T/NAME.err; set PID and PORT.
# Unless ARG starts with -q, also wait for the "listening" line: by then
# SIGTERM is handled.
# shellcheck disable=SC2034 # PID is for the caller
launch() {
	local name=$1
	shift
	start_server "$T/$name" "${PRE[@]}" "$L" -1 "$@"
	PID=${SERVER_PIDS[-1]}
	PORT=$(wait_line "$T/$name") || return 1
	[[ $PORT =~ ^[0-9]+$ ]] || return 1
	if [ "$1" != -q ]; then
		wait_grep "$T/$name.err" '^msgd-launcher: listening on ' || return 1
	fi
}

# launch_unix ARG...: "$L -U ARG..." (no PRE, no -1) logging to $T/l.err, listening; PID set
# shellcheck disable=SC2034 # PID is for the caller
launch_unix() {
	start_server "$T/l" "$L" -U "$@"
	PID=${SERVER_PIDS[-1]}
	wait_grep "$T/l.err" '^msgd-launcher: listening on '
}

# open_dir NAME: D, a new /tmp/msgd-NAME.* anyone may enter (unlike $T), S a socket path in it
# shellcheck disable=SC2034 # S is for the caller
open_dir() {
	D=$(mktemp -d "/tmp/msgd-$1.XXXXXX")
	chmod 755 "$D"
	S=$D/sock
}

# open_dir_teardown: servers_stop, then remove open_dir's D if there is one
open_dir_teardown() {
	servers_stop
	[ -z "${D:-}" ] || rm -rf "$D"
}

# daemon ARG...: "msgd-launcher -f -1 ARG..." ($L, after PRE) from $T, in
# the foreground; DSTATUS is its status, DPORT the port it printed
# shellcheck disable=SC2034 # DSTATUS and DPORT are for the caller
daemon() {
	DSTATUS=0
	cd "$T" || return 1
	timeout -k 5 10 "${PRE[@]}" "$L" -f -1 "$@" >"$T/d" 2>"$T/d.err" 3>&- ||
		DSTATUS=$?
	DPORT=$(cat "$T/d")
}

# daemon_pid FILE: the pid in the pid file FILE, remembered for teardown,
# in DPID
# shellcheck disable=SC2034 # DPID is for the caller
daemon_pid() {
	local pid
	pid=$(cat "$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	SERVER_PIDS+=("$pid")
	DPID=$pid
}

# client_bg NAME ARG...: run test/client.py ARG... in the background with
# its output in $T/NAME; sets CPID (stopped in teardown)
# shellcheck disable=SC2034 # CPID is for the caller
client_bg() {
	local name=$1
	shift
	start_server "$T/$name" "${CLIENT[@]}" "$@"
	CPID=${SERVER_PIDS[-1]}
}

# free_port: print a TCP port of 127.0.0.1 that was free a moment ago, for
# a program that cannot listen on port 0 and say which port it got
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# has_ipv6: the loopback interface has ::1
has_ipv6() {
	grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null
}

# proc_state PID: the state letter of PID (R, S, Z...), empty when gone
proc_state() {
	sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null || true
}

# cpu_ticks PID: user + system CPU time of PID, in clock ticks
cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# wait_exit PID [SECS]: wait (at most SECS, default 10) until PID has ended;
# EXIT is then its exit status when it is a child of this shell
# shellcheck disable=SC2034 # EXIT is for the caller
wait_exit() {
	local i n=$((${2:-10} * 50))
	for ((i = 0; i < n; i++)); do
		case $(proc_state "$1") in
		'' | Z)
			EXIT=0
			wait "$1" 2>/dev/null || EXIT=$?
			return 0
			;;
		esac
		sleep 0.02
	done
	echo "pid $1 still running after ${2:-10} s" >&2
	return 1
}

# forget PID: teardown is not to signal PID, which has ended
forget() {
	local keep=() p
	for p in "${SERVER_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	SERVER_PIDS=("${keep[@]}")
}

# stop_pid PID [SECS]: SIGTERM PID and wait (at most SECS, default 10)
# until it has ended; EXIT is its status, and teardown forgets it
stop_pid() {
	kill -TERM "$1" || return 1
	wait_exit "$1" "${2:-10}" || return 1
	forget "$1"
}

# need_root WHY: skip unless root, saying why root is needed
need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root: $1"
}

# wait_line FILE: wait (at most 10 s) until FILE has a first line, print it
wait_line() {
	local i
	for ((i = 0; i < 200; i++)); do
		if [ -s "$1" ] && head -n 1 "$1" | grep -q .; then
			head -n 1 "$1"
			return 0
		fi
		sleep 0.05
	done
	echo "no line in $1 after 10 s" >&2
	return 1
}

# record_count FILE PATTERN: how many records in FILE match PATTERN (ERE)
record_count() {
	grep -cE -- "$2" "$1" || true
}

# a record's fixed part: time, ident and pid
TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z msgd-handler\[[0-9]+\]: '
export TS_RE

# the handler as words, for a program that execs it (timeout, strace,
# tcp.py serve-once): "${HANDLER_CMD[@]}" ARGS...
# shellcheck disable=SC2034,SC2206 # used by the .bats files; MSGD_WRAP is a command line
HANDLER_CMD=($MSGD_WRAP "$MSGD_BIN/msgd-handler")
# LeakSanitizer cannot run under ptrace: off for the handlers strace runs
# shellcheck disable=SC2034 # used by the .bats files
LSAN_OFF=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
# the python test peer (see its docstring)
# shellcheck disable=SC2034 # used by the .bats files
TCP_PY=$BATS_TEST_DIRNAME/tcp.py

# converse IN ARGS...: run the handler (at most 20 s) with ARGS, stdin from
# the file IN, stdout to $T/out and stderr to $T/err; its exit status in
# $status
# shellcheck disable=SC2034 # status is for the caller, as with run
converse() {
	local in=$1
	shift
	status=0
	timeout -k 5 20 "${HANDLER_CMD[@]}" "$@" <"$in" >"$T/out" 2>"$T/err" ||
		status=$?
}

# talk [-6] IN [CLIENT_OPT...] -- HANDLER_ARG...: serve one TCP connection
# with the handler (serve-once options from the array serve_opts) on
# 127.0.0.1, or ::1 with -6, send the file IN with tcp.py client; what the
# client got is in $T/out, its port in $cport, the handler's status in
# $status and its stderr in $T/port.err
serve_opts=()
# shellcheck disable=SC2034 # cport and status are for the caller
talk() {
	local host=127.0.0.1 six=() in copts=() port
	need python3
	if [ "$1" = -6 ]; then
		host=::1 six=(-6)
		shift
	fi
	in=$1
	shift
	while [ "$1" != -- ]; do
		copts+=("$1")
		shift
	done
	shift
	# a port file of an earlier talk must not be read before it is redone
	rm -f "$T/cport" "$T/port"
	start_server "$T/port" python3 "$TCP_PY" serve-once "${six[@]}" \
		"${serve_opts[@]}" "${HANDLER_CMD[@]}" "$@"
	port=$(wait_line "$T/port")
	timeout -k 5 30 python3 "$TCP_PY" client "$host" "$port" "${copts[@]}" \
		--port-file "$T/cport" <"$in" >"$T/out"
	cport=$(cat "$T/cport")
	status=0
	wait "${SERVER_PIDS[-1]}" || status=$?
}

# fifo_reader FIFO OUT [SECS]: a new FIFO and a reader of it (cat, for at
# most SECS s, default 20) into OUT; its PID in READER, stopped in teardown
# shellcheck disable=SC2034 # READER is for the caller
fifo_reader() {
	mkfifo "$1"
	timeout -k 5 "${3:-20}" cat <"$1" >"$2" 3>&- &
	READER=$!
	SERVER_PIDS+=("$READER")
}

# shared_fifo FIFO OUT [SECS]: fifo_reader, and a writer end on fd 5 that
# the test holds until every writer has its own (2>&5), then closes with
# `exec 5>&-`: else a writer done early could give the reader its EOF
# while another still waits, for ever, to open the FIFO
shared_fifo() {
	fifo_reader "$@"
	exec 5>"$1"
}

# file_is FILE TEXT: FILE holds exactly the bytes of TEXT (printf %b
# escapes: \n, \r, \xHH); if not, show both
file_is() {
	if ! printf '%b' "$2" | cmp -s - "$1"; then
		echo "$1 holds:"
		od -c "$1" | head -n 20
		echo "expected:"
		printf '%b' "$2" | od -c | head -n 20
		return 1
	fi
}

# records FILE: FILE's records without the time and ident (TS_RE), one a
# line; a line without them comes out as "BAD: LINE"
records() {
	sed -E "/^$TS_RE/!s/^/BAD: /; s/^$TS_RE//" "$1"
}

# records_are FILE RECORD...: FILE holds exactly these records, each a
# whole line after TS_RE, all from one pid; if not, show the difference
records_are() {
	local f=$1 pids
	shift
	diff -a -u <(printf '%s\n' "$@") <(records "$f") || return 1
	[ ! -s "$f" ] || [ "$(tail -c 1 "$f" | od -An -tx1)" = " 0a" ] ||
		{ echo "$f: the last record has no newline"; return 1; }
	pids=$(grep -oE '^[^ ]+ msgd-handler\[[0-9]+\]' "$f" | sed 's/.*\[//' |
		sort -u | wc -l)
	[ "$pids" -le 1 ] || { echo "$f: records from $pids pids"; return 1; }
}

# the head of a datagram to /dev/log: <PRI>, syslog(3)'s time, ident[pid]
SYSLOG_RE='^<([0-9]+)>[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} msgd-handler\[[0-9]+\]: '

# syslog_records FILE: the datagrams that `tcp.py syslog` printed (its
# lines after the first, but syslog_drain's marker) as "<PRI> TEXT", time
# stamp and ident taken off; any other line as "BAD: LINE"
syslog_records() {
	sed -E "1d; /^--end--$/d; /$SYSLOG_RE/!s/^/BAD: /; s/$SYSLOG_RE/<\\1> /" "$1"
}

# need_mount_ns: skip unless we may make a private mount namespace (root)
need_mount_ns() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private mount namespace"
	need unshare
	unshare -m true 2>/dev/null || skip "unshare -m is not permitted here"
}

# dev_pre DIR: DEV_PRE, the words that run the command after them in a
# private mount namespace where /dev is DIR plus the real /dev/null (a
# /dev/log of the test's making, or none), exec'd all the way: a server
# started as start_server OUT "${DEV_PRE[@]}" CMD... has CMD's own pid, so
# teardown stops CMD itself
dev_pre() {
	: >"$1/null"
	# shellcheck disable=SC2016 # expanded by the inner sh
	DEV_PRE=(unshare -m --propagation private sh -c 'mount --bind /dev/null "$1/null" &&
		mount --rbind "$1" /dev && shift && exec "$@"' sh "$1")
}

# with_dev DIR CMD...: CMD run in the foreground as dev_pre says
with_dev() {
	local DEV_PRE
	dev_pre "$1"
	shift
	"${DEV_PRE[@]}" "$@"
}

# syslog_drain SOCK FILE: after the handler has ended, send a marker
# datagram to SOCK and wait (at most 10 s) until the `tcp.py syslog` writing
# FILE has printed it: then FILE holds every datagram sent before
syslog_drain() {
	local i
	need python3
	python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"--end--", sys.argv[1])' "$1"
	for ((i = 0; i < 200; i++)); do
		[ "$(tail -n 1 "$2")" = "--end--" ] && return 0
		sleep 0.05
	done
	echo "no marker in $2 after 10 s" >&2
	return 1
}

# wait_grep FILE ERE [SECS]: wait (at most SECS, default 10) until a line of
# FILE matches ERE
wait_grep() {
	wait_count "$1" "$2" 1 "${3:-10}"
}

# wait_count FILE ERE N [SECS]: wait (at most SECS, default 10) until FILE
# has N or more lines matching ERE; if it never does, say so and fail
wait_count() {
	local i c n=$((${4:-10} * 50))
	for ((i = 0; i < n; i++)); do
		c=$(grep -cE -- "$2" "$1" 2>/dev/null) || true	# none yet: status 1
		[ "${c:-0}" -ge "$3" ] && return 0
		sleep 0.02
	done
	echo "fewer than $3 lines matching '$2' in $1 after ${4:-10} s:" >&2
	cat "$1" >&2
	return 1
}

# launcher_usage_error MESSAGE ARG...: msgd-launcher ($L) with ARG... exits 2
# with "msgd-launcher: MESSAGE" and the usage (two lines: TCP and -U), and
# nothing else
# shellcheck disable=SC2154 # status, output and lines are set by bats' run
launcher_usage_error() {
	local msg=$1
	shift
	run timeout -k 5 10 "$L" "$@" 3>&-
	echo "args: $* -> status $status: $output" >&2
	[ "$status" -eq 2 ]
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = "msgd-launcher: $msg" ]
	[[ ${lines[1]} == 'usage: msgd-launcher ['*' HOST PORT PROGRAM [ARG...]' ]]
	[[ ${lines[2]} == '       msgd-launcher -U ['*' PATH [HOST PORT] PROGRAM [ARG...]' ]]
}

# launcher_file_error MESSAGE ARGS...: the launcher refuses ARGS with
# "msgd-launcher: MESSAGE", a file named (-x), exit 2 and no usage text
launcher_file_error() {
	local msg=$1
	shift
	run timeout -k 5 10 "$L" "$@" 3>&-
	echo "args: $* -> status $status: $output" >&2
	[ "$status" -eq 2 ]
	[ "$output" = "msgd-launcher: $msg" ]
}

# proxy_v2 CMD FAMILY [SRC DST SPORT DPORT [TLV_HEX]]: a PROXY v2 header on
# stdout, as HAProxy's send-proxy-v2 writes it (CMD 0x20 LOCAL, 0x21
# PROXY; FAMILY 0x00 UNSPEC, 0x11 TCP4, 0x21 TCP6)
proxy_v2() {
	need python3
	python3 - "$@" <<'EOF'
import ipaddress, struct, sys
cmd, fam = int(sys.argv[1], 0), int(sys.argv[2], 0)
body = b""
if len(sys.argv) > 3:
    src, dst = ipaddress.ip_address(sys.argv[3]), ipaddress.ip_address(sys.argv[4])
    body = src.packed + dst.packed + struct.pack(">HH", int(sys.argv[5]), int(sys.argv[6]))
if len(sys.argv) > 7:
    body += bytes.fromhex(sys.argv[7])
sys.stdout.buffer.write(b"\r\n\r\n\0\r\nQUIT\n" + bytes([cmd, fam]) +
                        struct.pack(">H", len(body)) + body)
EOF
}

# handler_usage_error WHAT ARGS...: the handler with ARGS is a usage error:
# status 2, nothing for the client, and on stderr the line WHAT and the
# usage line $USAGE (set by the .bats file)
handler_usage_error() {
	local what=$1
	shift
	: >"$T/empty"
	converse "$T/empty" "$@"
	[ "$status" -eq 2 ] || { echo "status $status for: $*"; return 1; }
	file_is "$T/out" ''
	file_is "$T/err" "msgd-handler: $what\n$USAGE\n"
}

# one_slot: U is a uid of no user and no process, that may run $H;
# PRE=(prlimit --nproc=2) then lets a launcher run as U make one child
# at a time: RLIMIT_NPROC counts the tasks of the real uid (the
# launcher, a single thread, and one child) and is not enforced for
# root, hence -u.  A uid of its own, unlike nobody, has no other process
# to count.  H must be set.
one_slot() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for -u"
	need prlimit setpriv ps
	U=61234
	! getent passwd "$U" >/dev/null || skip "uid $U is someone's"
	[ -z "$(ps -u "$U" -o pid=)" ] || skip "uid $U has processes"
	setpriv --reuid="$U" --regid="$U" --clear-groups test -x "$H" ||
		skip "uid $U may not run $H"
	# shellcheck disable=SC2034 # used by the .bats files
	PRE=(prlimit --nproc=2)
}

# need COMMAND...: skip unless each COMMAND (or absolute path) is
# installed, naming its Debian package from test/deps
need() {
	local c pkg
	for c; do
		if [[ $c == /* ]]; then
			[[ -e $c ]] && continue
		else
			command -v "$c" >/dev/null 2>&1 && continue
		fi
		pkg=$(awk -v c="$c" '!/^#/ { for (i = 2; i <= NF; i++) if ($i == c) { print $1; exit } }' \
			"$BATS_TEST_DIRNAME/deps")
		skip "needs $c (Debian package ${pkg:-unknown: add it to test/deps})"
	done
}

# help_is_man PROGRAM MANPAGE: PROGRAM -h and --help print the usage lines
# ($USAGE, one or more), then a line for each option MANPAGE lists (`.It Fl X`), no
# other, then "see NAME(SECTION)"; on stdout, nothing on stderr, exit 0
# shellcheck disable=SC2154 # status and lines are set by bats' run
help_is_man() {
	local prog=$1 man=$2 opt name n
	name=${man##*/}
	n=$(printf '%s\n' "$USAGE" | wc -l)
	for opt in -h --help; do
		run "$prog" "$opt" 2>"$T/help.err"
		[ "$status" -eq 0 ] || { echo "$opt: status $status"; return 1; }
		[ ! -s "$T/help.err" ] || { cat "$T/help.err"; return 1; }
		[ "$(printf '%s\n' "${lines[@]:0:n}")" = "$USAGE" ] ||
			{ echo "first lines: ${lines[*]:0:n}"; return 1; }
		[ "${lines[-1]}" = "see ${name%.*}(${name##*.})" ] ||
			{ echo "last line: ${lines[-1]}"; return 1; }
		diff -u <(awk '$1 == ".It" && $2 == "Fl" { print $3 }' "$man" | LC_ALL=C sort) \
			<(printf '%s\n' "${lines[@]:n:${#lines[@]}-n-1}" |
				sed -nE 's/^  -(.)(, -(.))? .*/\1\n\3/p' | sed '/^$/d' | LC_ALL=C sort) ||
			return 1
	done
}

# tlv TYPE TEXT: one PROXY v2 TLV (TYPE as 0x22) of the bytes of TEXT
# (printf %b escapes), in hex for proxy_v2's TLV_HEX
tlv() {
	printf '%b' "$2" | python3 -c 'import sys
v = sys.stdin.buffer.read()
print((bytes([int(sys.argv[1], 0)]) + len(v).to_bytes(2, "big") + v).hex())' "$1"
}

# ssl_tlv CLIENT VERIFY [SUB_HEX...]: a PP2_TYPE_SSL TLV, client flags and
# verify result as numbers, then its sub-TLVs (tlv's output), in hex
ssl_tlv() {
	python3 -c 'import sys
v = bytes([int(sys.argv[1], 0)]) + int(sys.argv[2], 0).to_bytes(4, "big") + \
    bytes.fromhex("".join(sys.argv[3:]))
print((b"\x20" + len(v).to_bytes(2, "big") + v).hex())' "$@"
}

# proxy_v2_crc SRC DST SPORT DPORT TLV_HEX [bad]: a v2 PROXY TCP4 header
# with the TLVs and a CRC32C TLV last, computed as proxy-protocol.txt says
# (over the whole header, its own value zero); "bad" flips one bit of it
proxy_v2_crc() {
	python3 - "$@" <<'PY'
import ipaddress, struct, sys
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
    return c ^ 0xffffffff
a = sys.argv[1:]
body = ipaddress.ip_address(a[0]).packed + ipaddress.ip_address(a[1]).packed + \
    struct.pack(">HH", int(a[2]), int(a[3])) + bytes.fromhex(a[4]) + b"\x03\x00\x04\0\0\0\0"
h = b"\r\n\r\n\0\r\nQUIT\n\x21\x11" + struct.pack(">H", len(body)) + body
c = crc32c(h) ^ (1 if len(a) > 5 and a[5] == "bad" else 0)
sys.stdout.buffer.write(h[:-4] + struct.pack(">I", c))
PY
}

# lacks FILE PATTERN: no line of FILE matches PATTERN (BRE); if one does,
# show it (a bare `! grep` would not fail a bats test)
lacks() {
	if grep -n -- "$2" "$1"; then
		echo "$1 has $2"
		return 1
	fi
}

# hold_lock FILE CMD...: take the lock every msgd writer of FILE takes (an
# open file description write lock on the whole file, waited for), then
# exec CMD, which holds it until it ends
hold_lock() {
	need python3
	python3 -c 'import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, struct.pack("hh4xqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
os.set_inheritable(fd, True)
os.execvp(sys.argv[2], sys.argv[2:])' "$@"
}

# hold_read_lock FILE SECS: a reader's lock on FILE (an open file
# description read lock on the whole file, waited for), held SECS seconds;
# "locked" on stdout once it is held
hold_read_lock() {
	need python3
	python3 -c 'import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, struct.pack("hh4xqqi4x", fcntl.F_RDLCK, 0, 0, 0, 0))
print("locked", flush=True)
time.sleep(float(sys.argv[2]))' "$@"
}

# wait_locked FILE: wait (at most 10 s) until someone holds the writers'
# lock on FILE (as /proc/locks lists it: an OFDLCK on its inode)
wait_locked() {
	local i ino
	ino=$(stat -c %i "$1") || return 1
	for ((i = 0; i < 500; i++)); do
		grep -qE "OFDLCK +ADVISORY +WRITE .*:$ino 0 EOF\$" /proc/locks && return 0
		sleep 0.02
	done
	echo "nobody holds the lock on $1 after 10 s" >&2
	return 1
}
