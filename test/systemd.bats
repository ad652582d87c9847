#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The Debian package under a real systemd as PID 1: each test boots this
# machine's system in a throwaway container (test/nspawn-boot: an overlay
# of / on a tmpfs, its own network), installs the package there and drives
# it with systemctl: start, serve, reload, restart (under load: nobody
# refused), stop, upgrade, remove, purge, the socket units.  The host is
# never written.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)

setup_file() {
	# the package from a clean copy, as test/deb.bats makes it, and a newer
	# version of it (the same files, a higher version) for the upgrades
	local top=$BATS_FILE_TMPDIR/top
	mkdir -p "$top/msgd"
	if command -v git >/dev/null 2>&1 && git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
		command -v dpkg-buildpackage >/dev/null 2>&1 && command -v dh >/dev/null 2>&1; then
		touch "$BATS_FILE_TMPDIR/deb.tried"
		# shellcheck disable=SC2016 # expanded by that sh
		git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
			(cd "$ROOT" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
			tar -C "$ROOT" --null -T - -cf - | tar -C "$top/msgd" -xf -
		{
			timeout -k 5 300 make -C "$top/msgd" deb 3>&- &&
				mv "$top"/msgd/build/msgd_*.deb "$BATS_FILE_TMPDIR/old.deb" &&
				dpkg-deb -R "$BATS_FILE_TMPDIR/old.deb" "$top/new" &&
				sed -i 's/^Version: .*/&+upgrade1/' "$top/new/DEBIAN/control" &&
				dpkg-deb -b "$top/new" "$BATS_FILE_TMPDIR/new.deb"
		} >"$BATS_FILE_TMPDIR/deb.out" 2>&1 || rm -f "$BATS_FILE_TMPDIR/new.deb"
	fi
	# the closed-loop load of bench/
	timeout -k 5 120 make -s -C "$ROOT" build/loadgen >"$BATS_FILE_TMPDIR/loadgen.out" 2>&1 3>&- || true
}

setup() {
	common_setup
	[ "$(id -u)" -eq 0 ] || skip "needs root to boot a container"
	need systemd-nspawn unshare nsenter findmnt pgrep dpkg-deb
	# the package: skip for want of a tool, fail when it was not made
	if [ ! -e "$BATS_FILE_TMPDIR/deb.tried" ]; then
		need git dpkg-buildpackage dh
		skip "not a git checkout: no clean copy to build the package in"
	fi
	[ -f "$BATS_FILE_TMPDIR/new.deb" ] || { cat "$BATS_FILE_TMPDIR/deb.out"; return 1; }
	OLD=$BATS_FILE_TMPDIR/old.deb
	NEW=$BATS_FILE_TMPDIR/new.deb
	boot
	# a msgd of this machine's (test/deb.bats installs one for a while)
	# goes, in the container only
	if ct dpkg-query -W msgd >/dev/null 2>&1; then
		ct dpkg -P msgd >&2
	fi
}

teardown() {
	servers_stop
}

# boot: the container, booted; CT is its PID 1 as this machine sees it.
# Skips, saying why, where it cannot boot.
boot() {
	unshare -m --propagation private true 2>/dev/null || skip "unshare -m is not permitted here"
	start_server "$T/ct" timeout -k 20 900 unshare -m --propagation private \
		"$BATS_TEST_DIRNAME/nspawn-boot" "msgd-test.$$.$BATS_TEST_NUMBER"
	local top=${SERVER_PIDS[-1]} nspawn i c state
	nspawn=$(wait_line "$T/ct") || skip "cannot boot a container: $(tail -n 3 "$T/ct.err")"
	CT=
	for ((i = 0; i < 600; i++)); do
		for c in $(pgrep -P "$nspawn"); do
			# PID 1 of a PID namespace of its own
			grep -qE '^NSpid:\s+[0-9]+\s+1$' "/proc/$c/status" 2>/dev/null && CT=$c
		done
		[ -z "$CT" ] || break
		kill -0 "$nspawn" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$CT" ] || { wait_exit "$top" 30; skip "systemd-nspawn cannot boot here: $(tail -n 3 "$T/ct.err")"; }
	# until its manager answers (offline: not yet), then until it has booted
	for ((i = 0; i < 600; i++)); do
		state=$(timeout -k 5 120 nsenter -t "$CT" -a systemctl is-system-running --wait 2>&1) || true
		case $state in
		running | degraded) return 0 ;;
		offline | *'Failed to connect'*) sleep 0.1 ;;
		*) break ;;
		esac
	done
	skip "systemd in the container did not come up ($state): $(tail -n 3 "$T/ct.err" | tr -d '\033')"
}

# ct CMD...: CMD in the container, as root, bounded
ct() {
	timeout -k 5 120 nsenter -t "$CT" -a "$@"
}

# dpkg_i FILE: dpkg -i FILE in the container; its output in $output
dpkg_i() {
	run ct sh -c 'cat >/var/tmp/msgd.deb && dpkg -i /var/tmp/msgd.deb' <"$1"
	echo "$output" >&2
	[ "$status" -eq 0 ]
}

# active UNIT...: their states, one word each
active() {
	ct systemctl is-active "$@" | tr '\n' ' ' | sed 's/ $//'
}

# main_pid: msgd.service's MainPID
main_pid() {
	ct systemctl show -P MainPID msgd.service
}

# serves [ARG...]: in the container, `msgd-client ARG...` (default
# 127.0.0.1 9100) sends "served N" (N: the test's number) and gets the
# whole conversation
serves() {
	local args=("$@")
	[ $# -gt 0 ] || args=(127.0.0.1 9100)
	# shellcheck disable=SC2016 # expanded by that sh
	run ct sh -c 'm=$1 && shift && echo "$m" | msgd-client "$@"' sh "served $BATS_TEST_NUMBER" "${args[@]}"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ "$output" = $'hello\nok 1\nbye 1' ] || { echo "$output"; return 1; }
}

# journal_has ERE JOURNALCTL-ARG...: wait (at most 10 s) until a line of
# the container's journal (as journalctl -o cat ARG... shows it) matches ERE
journal_has() {
	local ere=$1 i
	shift
	for ((i = 0; i < 100; i++)); do
		ct journalctl -o cat --no-pager "$@" | grep -qE -- "$ere" && return 0
		sleep 0.1
	done
	echo "no line matching '$ere' in journalctl $*:" >&2
	ct journalctl -o cat --no-pager "$@" | tail -n 20 >&2
	return 1
}

# listeners: what listens on port 9100 in the container
listeners() {
	ct ss -Hltn 'sport = :9100'
}

@test "installed, the package starts and enables nothing; msgd.service starts ready, serves, records as msgd:adm 0640, reloads, restarts and stops" {
	dpkg_i "$OLD"
	[ "$(active msgd.service msgd.socket msgd-inetd.socket msgd-local-inetd.socket)" = "inactive inactive inactive inactive" ]
	[ "$(ct systemctl is-enabled msgd.service)" = disabled ]
	[ -z "$(listeners)" ]
	[ "$(ct stat -c '%U:%G %a' /var/log/msgd)" = "msgd:adm 2750" ]
	# Type=notify: start returns once it listens
	ct systemctl start msgd
	[ "$(active msgd.service msgd.socket)" = "active active" ]
	serves
	# the first records.log as logrotate's create makes them
	[ "$(ct stat -c '%U:%G %a' /var/log/msgd/records.log)" = "msgd:adm 640" ]
	ct grep -qE "^$TS_RE"'127\.0\.0\.1:[0-9]+ #1 receive message: served 1$' /var/log/msgd/records.log
	local pid i
	pid=$(main_pid)
	[ "$(ct ps -o user= -p "$pid")" = msgd ]
	# the status line, then reload: the same launcher logs it
	for ((i = 0; i < 100; i++)); do
		[[ $(ct systemctl show -P StatusText msgd.service) == '0/40 running, 1 served, '* ]] && break
		sleep 0.1
	done
	[ "$(ct systemctl show -P StatusText msgd.service)" = "0/40 running, 1 served, 0 denied, 0 bad proxy headers, 0 failed spawns" ]
	# local clients on msgd.socket's other socket, named by the kernel
	[ "$(ct stat -c %a /run/msgd/msgd.sock)" = 666 ]
	run ct setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo local | msgd-client -U /run/msgd/msgd.sock'
	[ "$output" = $'hello\nok 1\nbye 1' ]
	ct grep -qE "^$TS_RE"'uid=65534,gid=65534,pid=[0-9]+ #1 receive message: local$' /var/log/msgd/records.log
	# reload: the launcher executes itself again in place, both sockets
	# and the counters handed over
	ct systemctl reload msgd
	[ "$(main_pid)" = "$pid" ]
	journal_has '^msgd-launcher: re-executed: 2 listening, 0 running adopted$' -u msgd.service
	[ "$(active msgd.service)" = active ]
	serves
	ct systemctl kill -s USR1 msgd.service
	journal_has '^msgd-launcher: status: 0/40 running, 3 served, 0 denied, 0 bad proxy headers, 0 failed spawns$' -u msgd.service
	# restart: a new launcher on the same socket
	ct systemctl restart msgd
	[ "$(active msgd.service msgd.socket)" = "active active" ]
	[ "$(main_pid)" != "$pid" ]
	serves
	# stop: both, then nothing holds the port; the launcher ended with 0
	ct systemctl stop msgd.socket msgd.service
	[ "$(active msgd.service msgd.socket)" = "inactive inactive" ]
	[ -z "$(listeners)" ]
	[ "$(ct systemctl show -P ExecMainStatus msgd.service)" = 0 ]
	journal_has '^Stopped msgd.service' -u msgd.service
}

@test "systemctl reload and restart msgd under a closed-loop load refuse nobody: every connection is served" {
	[ -x "$ROOT/build/loadgen" ] || { cat "$BATS_FILE_TMPDIR/loadgen.out"; return 1; }
	dpkg_i "$OLD"
	ct systemctl start msgd
	local pids=() i
	pids+=("$(main_pid)")
	# 4 clients: under the unit's -C 10 per source with room for children
	# not reaped yet, so that any error is the restart's
	start_server "$T/load" nsenter -t "$CT" -n "$ROOT/build/loadgen" -c 4 -d 20 -t 60 127.0.0.1 9100
	local load=${SERVER_PIDS[-1]}
	# a reload (the launcher re-executed in place) then a restart (a new
	# launcher on the socket systemd holds), four times
	for i in 1 2 3 4; do
		sleep 1
		ct systemctl reload msgd
		[ "$(main_pid)" = "${pids[-1]}" ]
		sleep 1
		ct systemctl restart msgd
		pids+=("$(main_pid)")
	done
	# every restart within the load's 20 s
	kill -0 "$load"
	wait_exit "$load" 90
	forget "$load"
	cat "$T/load" "$T/load.err" >&2
	echo "# reload and restart under load: $(cat "$T/load") $(cat "$T/load.err")" >&3
	# what the launchers and handlers said of any refusal or failure
	ct journalctl -o cat --no-pager -u msgd | grep -E 'deny|cannot|error|status [1-9]' >&2 || true
	# four restarts, each a new launcher
	[ "$(printf '%s\n' "${pids[@]}" | sort -u | wc -l)" -eq 5 ]
	# served throughout, and not one connection refused or failed
	grep -qE '^conns=[1-9][0-9]* .* errors=0 ' "$T/load"
	[ ! -s "$T/load.err" ]
}

@test "an upgrade reloads a running msgd.service in place on the new programs, leaves the sockets as they were and starts nothing that was stopped" {
	dpkg_i "$OLD"
	# nothing ran: nothing runs after
	dpkg_i "$NEW"
	[ "$(active msgd.service msgd.socket msgd-inetd.socket msgd-local-inetd.socket)" = "inactive inactive inactive inactive" ]
	[ -z "$(listeners)" ]
	# msgd.service ran: it runs again, a new launcher, and serves
	ct systemctl start msgd
	local pid
	pid=$(main_pid)
	dpkg_i "$NEW"
	[ "$(active msgd.service msgd.socket)" = "active active" ]
	# reloaded, not restarted: the same launcher, executed again in place
	[ "$(main_pid)" = "$pid" ]
	journal_has '^msgd-launcher: re-executed: 2 listening, 0 running adopted$' -u msgd.service
	# the program it runs is the one now installed, not the replaced one
	[ "$(ct readlink "/proc/$pid/exe")" = /usr/sbin/msgd-launcher ]
	serves
	[ "$(active msgd-inetd.socket msgd-local-inetd.socket)" = "inactive inactive" ]
	# the sockets only: left listening, msgd.service not started
	ct systemctl stop msgd.service
	[ "$(active msgd.service msgd.socket)" = "inactive active" ]
	dpkg_i "$OLD"
	[ "$(active msgd.service msgd.socket msgd-local-inetd.socket)" = "inactive active inactive" ]
	# shellcheck disable=SC2016 # dpkg-query's format
	[ "$(ct dpkg-query -W -f '${Version}' msgd)" = "$(dpkg-deb -f "$OLD" Version)" ]
	[ "$(listeners | wc -l)" -eq 1 ]
	# the socket still hands over: a client starts msgd.service
	serves
	[ "$(active msgd.service)" = active ]
	serves -U /run/msgd/msgd.sock
}

@test "the inetd-mode sockets serve one handler per connection, and each of msgd-inetd.socket and msgd.service may be started while the other runs" {
	dpkg_i "$OLD"
	ct systemctl start msgd
	serves
	# the other way, on the same port: the launcher and its socket stop first
	run ct systemctl start msgd-inetd.socket
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$(active msgd-inetd.socket msgd.service msgd.socket)" = "active inactive inactive" ]
	serves
	journal_has "^$TS_RE"'127\.0\.0\.1:[0-9]+ #1 receive message: served 4$' -t msgd-handler
	# and back
	run ct systemctl start msgd
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$(active msgd-inetd.socket msgd.service msgd.socket)" = "inactive active active" ]
	serves
	# msgd.socket alone, the same
	ct systemctl stop msgd.service msgd.socket
	ct systemctl start msgd-inetd.socket
	ct systemctl start msgd.socket
	[ "$(active msgd-inetd.socket msgd.socket)" = "inactive active" ]
	serves
	# local clients, named by the kernel, one handler each: on the path
	# msgd.socket also listens on, which is stopped first
	ct systemctl start msgd-local-inetd.socket
	[ "$(active msgd-local-inetd.socket msgd.socket)" = "active inactive" ]
	[ "$(ct stat -c %a /run/msgd/msgd.sock)" = 666 ]
	run ct setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo local | msgd-client -U /run/msgd/msgd.sock'
	[ "$output" = $'hello\nok 1\nbye 1' ]
	journal_has "^$TS_RE"'uid=65534,gid=65534,pid=[0-9]+ #1 receive message: local$' -t msgd-handler
}

@test "removing the package stops every unit: nothing listens on port 9100 or the local socket; purge takes the conffiles, the records and the enabled links" {
	dpkg_i "$OLD"
	ct systemctl enable --now msgd.service
	serves
	serves -U /run/msgd/msgd.sock
	[ "$(ct ls /etc/systemd/system/multi-user.target.wants/msgd.service)" = /etc/systemd/system/multi-user.target.wants/msgd.service ]
	run ct dpkg -r msgd
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$(active msgd.service msgd.socket msgd-inetd.socket msgd-local-inetd.socket)" = "inactive inactive inactive inactive" ]
	[ -z "$(listeners)" ]
	run ct sh -c 'ss -Hlx | grep msgd'
	[ "$status" -eq 1 ]
	run ct pgrep -x msgd-launcher
	[ "$status" -eq 1 ]
	ct test ! -e /usr/sbin/msgd-launcher
	ct test -f /etc/logrotate.d/msgd
	ct test -f /var/log/msgd/records.log
	run ct dpkg -P msgd
	echo "$output" >&2
	[ "$status" -eq 0 ]
	# shellcheck disable=SC2016 # expanded by that sh
	run ct sh -c 'for f; do [ ! -e "$f" ] && [ ! -L "$f" ] || echo "left: $f"; done' sh \
		/etc/logrotate.d/msgd /etc/xinetd.d/msgd /var/log/msgd \
		/etc/systemd/system/multi-user.target.wants/msgd.service \
		/etc/systemd/system/sockets.target.wants/msgd.socket
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "an existing /var/log/msgd of another owner is put right and said at install; one set by dpkg-statoverride is kept" {
	# the README's standalone recipe, for nobody, with its records
	ct sh -c 'install -d -o nobody -g nogroup -m 0755 /var/log/msgd &&
		install -o nobody -g nogroup -m 0644 /dev/null /var/log/msgd/records.log'
	dpkg_i "$OLD"
	[[ $output == *'msgd: /var/log/msgd was nobody:nogroup 755, now msgd:adm 2750'* ]]
	[ "$(ct stat -c '%U:%G %a' /var/log/msgd /var/log/msgd/records.log)" = $'msgd:adm 2750\nmsgd:adm 640' ]
	ct systemctl start msgd
	serves
	ct grep -q '#1 receive message: served 6$' /var/log/msgd/records.log
	ct systemctl stop msgd.socket msgd.service
	run ct dpkg -P msgd
	[ "$status" -eq 0 ]
	# the administrator's word, by dpkg-statoverride: kept, whether the
	# directory is there or made by the package
	ct dpkg-statoverride --add nobody adm 0770 /var/log/msgd
	dpkg_i "$OLD"
	[ "$(ct stat -c '%U:%G %a' /var/log/msgd)" = "nobody:adm 770" ]
	[[ $output != *'msgd: /var/log/msgd'* ]]
	dpkg_i "$NEW"
	[ "$(ct stat -c '%U:%G %a' /var/log/msgd)" = "nobody:adm 770" ]
	[[ $output != *'msgd: /var/log/msgd'* ]]
}
