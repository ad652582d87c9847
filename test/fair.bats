#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Fair on IPv6: -C and -R count a source by its prefix (an IPv6 /64, an
# IPv4 address, or -N's lengths), rules carry limits of their own, and the
# limits' memory is bounded whatever the number of sources.  Each test has
# a network namespace of its own with 2001:db8::/32 routed to lo, so a
# client (test/fair.py, IPV6_FREEBIND) may take any address of it.

load helpers

# shellcheck disable=SC2034 # read by launch (helpers.bash)
L=$MSGD_BIN/msgd-launcher
H=$MSGD_BIN/msgd-handler
FAIR=("${PYTHON:-python3}" "$BATS_TEST_DIRNAME/fair.py")
# a child that says it is served, then holds its connection until EOF
HOLD=(sh -c 'echo served; exec cat')

# a namespace of the test's own, held by a sleep stopped in teardown; the
# launcher and the clients enter it
setup() {
	common_setup
	need python3 unshare nsenter ip
	[ "$(id -u)" -eq 0 ] || skip "a network namespace needs root"
	unshare -n true 2>/dev/null || skip "unshare -n is not permitted here"
	start_server "$T/ns" unshare -n sleep 600
	NS=${SERVER_PIDS[-1]}
	local i
	for ((i = 0; i < 250; i++)); do
		[ "$(readlink "/proc/$NS/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
		sleep 0.02
	done
	# shellcheck disable=SC2034 # read by launch (helpers.bash)
	PRE=(nsenter -t "$NS" -n)
	in_ns ip link set lo up
	in_ns ip -6 route add local 2001:db8::/32 dev lo
}

teardown() {
	open_dir_teardown
}

in_ns() {
	nsenter -t "$NS" -n "$@"
}

# fair ARG...: test/fair.py in the namespace, bounded (a rotation of 100,000
# takes about 30 s on a loaded 2-core machine)
fair() {
	timeout -k 5 300 nsenter -t "$NS" -n "${FAIR[@]}" "$@"
}

# served / refused: how many lines of $output say so
served() {
	grep -cx served <<<"$output" || true
}
refused() {
	grep -cx 'error too many connections' <<<"$output" || true
}

log_count() {
	grep -cE -- "$2" "$T/$1.err" || true
}

rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# per_source NAME N K PREFIX: of N, K served, the rest refused (NAME logs PREFIX); N+1st served
per_source() {
	local n=$2 k=$3
	[ "$(head -n "$n" <<<"$output" | grep -cx served)" -eq "$k" ] || return 1
	[ "$(refused)" -eq $((n - k)) ] || return 1
	[ "${lines[n]}" = served ] || return 1
	wait_count "$T/$1.err" 'per-source limit$' $((n - k)) || return 1
	[ "$(log_count "$1" "^msgd-launcher: deny $4 per-source limit\$")" -eq $((n - k)) ]
}

# hup NAME: SIGHUP to launcher NAME ($PID); wait for its reload line
hup() {
	local before
	before=$(log_count "$1" 'rules reloaded from')
	kill -HUP "$PID"
	wait_count "$T/$1.err" 'rules reloaded from' $((before + 1))
}

@test "-C counts an IPv6 /64: a rotation through its addresses gets -C sessions at once, another /64 is served meanwhile, the log names the prefix" {
	launch l -C 3 :: 0 "${HOLD[@]}"
	run fair burst "$PORT" 8 '2001:db8:1::{i:x}' 1 '2001:db8:2::1'
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 9 ]
	per_source l 8 3 2001:db8:1::/64
	[ "$(log_count l 'deny 2001:db8:1::[0-9a-f]+ ')" -eq 0 ]
}

@test "-R counts an IPv6 /64: a rotation through its addresses gets -R a second, another /64 is served meanwhile, and it is logged once" {
	launch l -R 3 :: 0 echo served
	run fair burst "$PORT" 10 '2001:db8:1::{i:x}' 1 '2001:db8:2::1'
	echo "$output" >&2
	[ "$status" -eq 0 ]
	# a burst of 3, and a token more if the burst took over a third of a second
	n=$(head -n 10 <<<"$output" | grep -cx served)
	[ "$n" -ge 3 ] && [ "$n" -le 4 ]
	[ "$(refused)" -eq $((10 - n)) ]
	[ "${lines[10]}" = served ]
	wait_grep "$T/l.err" 'rate limit$'
	[ "$(log_count l 'rate limit$')" -eq 1 ]
	[ "$(log_count l '^msgd-launcher: deny 2001:db8:1::/64 rate limit$')" -eq 1 ]
}

@test "-N 6:56: the /64s of one /56 are one source for -C and -R, another /56 is served meanwhile" {
	launch l -N 6:56 -C 2 :: 0 "${HOLD[@]}"
	run fair burst "$PORT" 6 '2001:db8:1:{i:x}::1' 1 '2001:db8:1:100::1'
	echo "$output" >&2
	per_source l 6 2 2001:db8:1::/56
	kill "$PID"
	launch m -N 6:56 -R 2 :: 0 echo served
	run fair burst "$PORT" 6 '2001:db8:1:{i:x}::1' 1 '2001:db8:1:100::1'
	echo "$output" >&2
	n=$(head -n 6 <<<"$output" | grep -cx served)
	[ "$n" -ge 2 ] && [ "$n" -le 3 ]
	[ "${lines[6]}" = served ]
	wait_grep "$T/m.err" '^msgd-launcher: deny 2001:db8:1::/56 rate limit$'
}

@test "IPv4 counts by address by default, -N 4:24 by /24, and an IPv4 client of a :: listener (IPv4-mapped) is IPv4" {
	launch l -C 1 :: 0 "${HOLD[@]}"
	run fair burst -d 127.0.0.1 "$PORT" 4 '127.0.9.{i}'
	echo "$output" >&2
	[ "$(served)" -eq 4 ]
	kill "$PID"
	launch m -N 6:56,4:24 -C 2 :: 0 "${HOLD[@]}"
	run fair burst -d 127.0.0.1 "$PORT" 5 '127.0.9.{i}' 1 '127.0.10.1'
	echo "$output" >&2
	per_source m 5 2 '127\.0\.9\.0/24'
	# the last -N of a family wins; IPv6 back to single addresses
	kill "$PID"
	launch n -N 6:56 -N 6:128 -C 1 :: 0 "${HOLD[@]}"
	run fair burst "$PORT" 3 '2001:db8:1::{i:x}' 2 '2001:db8:1::9'
	echo "$output" >&2
	[ "$output" = $'served\nserved\nserved\nserved\nerror too many connections' ]
	wait_grep "$T/n.err" '^msgd-launcher: deny 2001:db8:1::9 per-source limit$'
}

@test "-N takes 6:LEN and 4:LEN, comma-separated or repeated; anything else is a usage error naming it" {
	local bad
	for bad in 56 6:0 6:129 4:0 4:33 5:24 6: '6:56,' ,6:56 6:5x '6:56 4:24' 6:-1 6:+56 4:024x; do
		launcher_usage_error "-N: bad prefix '$bad' (6:LEN with LEN from 1 to 128, 4:LEN from 1 to 32, e.g. -N 6:56,4:24)" \
			-N "$bad" 127.0.0.1 0 true
	done
	launcher_usage_error "-N is for TCP, not -U" -U -N 6:56 "$T/s" true
	launcher_usage_error "-N needs a value" -N
}

@test "a rule's -CN and -RN are its clients' limits, the command line's stay everyone else's, and a rule narrower than the prefix makes a source of its own" {
	cat >"$T/rules" <<-'EOF'
	2001:db8:4::5      allow -C3
	2001:db8:1::/48    allow PARTNER=1 -C4
	2001:db8:3::/48    allow -C0
	EOF
	launch l -C 1 -x "$T/rules" :: 0 "${HOLD[@]}"
	run fair burst "$PORT" 6 '2001:db8:1:5::{i:x}' 3 '2001:db8:2::{i:x}' 5 '2001:db8:3::{i:x}' \
		3 '2001:db8:4::5' 2 '2001:db8:4::{i}:1'
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 19 ]
	[ "$(sed -n 1,6p <<<"$output" | grep -cx served)" -eq 4 ]	# its rule's -C4
	[ "$(sed -n 7,9p <<<"$output" | grep -cx served)" -eq 1 ]	# no rule: -C 1
	[ "$(sed -n 10,14p <<<"$output" | grep -cx served)" -eq 5 ]	# -C0: no limit
	[ "$(sed -n 15,17p <<<"$output" | grep -cx served)" -eq 3 ]	# the host's -C3
	# the rest of its /64 is another source, under the command line's -C 1
	[ "$(sed -n 18,19p <<<"$output" | grep -cx served)" -eq 1 ]
	wait_count "$T/l.err" 'per-source limit$' 5
	[ "$(log_count l '^msgd-launcher: deny 2001:db8:1:5::/64 per-source limit$')" -eq 2 ]
	[ "$(log_count l '^msgd-launcher: deny 2001:db8:2::/64 per-source limit$')" -eq 2 ]
	[ "$(log_count l '^msgd-launcher: deny 2001:db8:4::/64 per-source limit$')" -eq 1 ]

	printf '2001:db8:1::/48 allow -R5\n' >"$T/rules"
	launch m -R 1 -x "$T/rules" :: 0 echo served
	run fair burst "$PORT" 8 '2001:db8:1::{i:x}' 4 '2001:db8:2::{i:x}'
	echo "$output" >&2
	n=$(sed -n 1,8p <<<"$output" | grep -cx served)
	[ "$n" -ge 5 ] && [ "$n" -le 6 ]
	n=$(sed -n 9,12p <<<"$output" | grep -cx served)
	[ "$n" -ge 1 ] && [ "$n" -le 2 ]
}

@test "SIGHUP with changed per-rule limits: the new ones apply to new clients, the command line's to the rest" {
	printf '2001:db8:1::/48 allow -C3 -R0\n' >"$T/rules"
	launch l -C 2 -R 100 -x "$T/rules" :: 0 "${HOLD[@]}"
	run fair burst "$PORT" 5 '2001:db8:1::{i:x}' 4 '2001:db8:2::{i:x}'
	echo "$output" >&2
	[ "$(sed -n 1,5p <<<"$output" | grep -cx served)" -eq 3 ]
	[ "$(sed -n 6,9p <<<"$output" | grep -cx served)" -eq 2 ]
	# tighter for the partner, and a rate of its own
	printf '2001:db8:1::/48 allow -R1 -C1\n' >"$T/rules"
	hup l
	run fair burst "$PORT" 5 '2001:db8:1::{i:x}' 4 '2001:db8:2::{i:x}'
	echo "$output" >&2
	[ "$(sed -n 1,5p <<<"$output" | grep -cx served)" -eq 1 ]
	[ "$(sed -n 6,9p <<<"$output" | grep -cx served)" -eq 2 ]
	# one a second now: a second one within the second is over the rate
	# (a whole second for it to come, however loaded the machine)
	sleep 1.1
	run fair burst "$PORT" 1 '2001:db8:1::1'
	[ "$output" = served ]
	run fair burst "$PORT" 1 '2001:db8:1::2'
	[ "$output" = 'error too many connections' ]
	wait_grep "$T/l.err" '^msgd-launcher: deny 2001:db8:1::/64 rate limit$'
	# a bad limit at SIGHUP: logged with FILE:LINE, the rules in force stay
	printf '2001:db8:1::/48 allow -C1\n::/0 allow -C-1\n' >"$T/rules"
	kill -HUP "$PID"
	wait_grep "$T/l.err" "cannot reload $T/rules:2: bad limit '-C-1'"
	sleep 1.1
	run fair burst "$PORT" 3 '2001:db8:1::{i:x}'
	[ "$(served)" -eq 1 ]
}

@test "uid: and gid: rules carry limits for local clients; other uids keep the command line's" {
	need setpriv
	# a socket nobody may reach
	open_dir fair
	printf 'uid:0 allow -C3\n' >"$T/rules"
	launch_unix -C 1 -x "$T/rules" "$S" "${HOLD[@]}"
	# shellcheck disable=SC2016 # python code
	local burst='import socket, sys
conns = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    conns.append(s)
for s in conns:
    print(s.recv(100).decode().strip() or "eof")'
	run python3 -c "$burst" "$S" 5
	echo "$output" >&2
	[ "$(served)" -eq 3 ]
	[ "$(refused)" -eq 2 ]
	# the system's python: a python of root's own may be closed to nobody
	[ -x /usr/bin/python3 ] || skip "needs /usr/bin/python3 for nobody"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c "$burst" "$S" 3
	echo "$output" >&2
	[ "$(served)" -eq 1 ]
	wait_grep "$T/l.err" '^msgd-launcher: deny uid=65534,gid=[0-9]+,pid=[0-9]+ per-source limit$'
	printf 'gid:0 allow -C2\n' >"$T/rules"
	hup l
	run python3 -c "$burst" "$S" 4
	[ "$(served)" -eq 2 ]
}

@test "a limit word in a rules file is -CN or -RN in range, once each, on allow rules only; anything else is a usage error naming FILE:LINE" {
	local spec msg
	while IFS='|' read -r spec msg; do
		printf '# limits\n%s\n' "$spec" >"$T/rules"
		launcher_file_error "$T/rules:2: $msg" -x "$T/rules" 127.0.0.1 0 true
	done <<-'EOF'
	::/0 allow -C|bad limit '-C' (-C and a number from 0 to 65536, no space)
	::/0 allow -C 5|bad limit '-C' (-C and a number from 0 to 65536, no space)
	::/0 allow -Cx|bad limit '-Cx' (-C and a number from 0 to 65536, no space)
	::/0 allow -C65537|bad limit '-C65537' (-C and a number from 0 to 65536, no space)
	::/0 allow -R1000001|bad limit '-R1000001' (-R and a number from 0 to 1000000, no space)
	::/0 allow -R99999999999999999999|bad limit '-R99999999999999999999' (-R and a number from 0 to 1000000, no space)
	::/0 allow -C=5|bad limit '-C=5' (-C and a number from 0 to 65536, no space)
	::/0 allow -X5|unknown limit '-X5' (-CN or -RN)
	::/0 allow -|unknown limit '-' (-CN or -RN)
	::/0 allow -C1 A=1 -C2|-C set twice
	10.0.0.0/8 deny -C1|deny takes no variables, but has '-C1'
	EOF
	# a limit is no variable: the child sees none of it
	printf '127.0.0.0/8 allow -C5 -R9 ZONE=x\n' >"$T/rules"
	launch l -x "$T/rules" 127.0.0.1 0 sh -c 'env | grep -c -e "^-" -e "=-" -e "^ZONE=x$"'
	run fair burst -d 127.0.0.1 "$PORT" 1 '127.0.0.2'
	[ "$output" = 1 ]
}

@test "a rotation through 100,000 /64s and through 20,000 addresses of one /64: the launcher's memory stays put and a client of another network is served throughout" {
	[ -z "${ASAN_OPTIONS:-}" ] || ASAN_OPTIONS+=:quarantine_size_mb=0:thread_local_quarantine_size_kb=0
	# the open Internet one connection a second; a partner's /48 fifty
	printf '2001:db8:ffff::/48 allow -R50\n' >"$T/rules"
	# the launcher is what is measured: under the sanitizers, where the
	# handler would take minutes to start 100,000 times, a child that greets
	local prog=("$H" -l /dev/null)
	[ -z "${ASAN_OPTIONS:-}" ] || prog=(echo hello)
	launch l -q -c 64 -b 1024 -R 1 -x "$T/rules" :: 0 "${prog[@]}"
	# the first connections may take a page or two that are then kept
	run fair rotate "$PORT" 1000 '2001:db8:{hi:x}:{lo:x}::1' 1
	[ "$output" -eq 1000 ]
	before=$(rss "$PID")
	start_server "$T/steady" nsenter -t "$NS" -n "${FAIR[@]}" steady "$PORT" '2001:db8:ffff::1' 20 0.05
	steady=${SERVER_PIDS[-1]}
	run fair rotate "$PORT" 100000 '2001:db8:{hi:x}:{lo:x}::1' 1001
	[ "$output" -eq 100000 ]
	mid=$(rss "$PID")
	run fair rotate "$PORT" 20000 '2001:db8:1::{i:x}' 1
	[ "$output" -eq 20000 ]
	after=$(rss "$PID")
	wait_exit "$steady" 60
	echo "VmRSS $before kB, after 100,000 /64s $mid kB, after 20,000 addresses of one /64 $after kB" >&2
	cat "$T/steady" >&2
	# bounded by -c, not by the number of sources: besides a few pages,
	# each of the 64 slots may come to hold its child's environment and
	# stack (under 8 kB) only once that many children ran at once, which
	# a loaded machine reaches later than the warm-up; 100,000 sources
	# kept one by one would take megabytes
	[ "$mid" -lt $((before + 256 + 64 * 8)) ]
	[ "$after" -lt $((mid + 64)) ]
	# the partner: every one of its connections served, none slower than 5 s
	read -r _ s _ n _ _ _ _ _ _ _ max _ < "$T/steady"
	[ "$s" -gt 0 ] && [ "$s" = "${n%,}" ]
	awk -v m="$max" 'BEGIN { exit !(m + 0 < 5000) }'
	[ ! -s "$T/l.err" ]
}
