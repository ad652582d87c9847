#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The Debian package: make deb in a clean copy of the tree, lintian, and (as
# root) the package installed on this machine, its launcher run as its
# msgd.service says, rotated by its logrotate file, removed and purged.
# Under a real systemd, in a container: test/systemd.bats.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
SERVICE=/lib/systemd/system/msgd.service

setup_file() {
	# a copy of the tracked and new files, as git sees them: make deb may
	# then be checked for what it leaves beside the tree
	DEBTOP=$BATS_FILE_TMPDIR/top
	export DEBTOP
	mkdir -p "$DEBTOP/msgd"
	if command -v git >/dev/null 2>&1 && git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# shellcheck disable=SC2016 # expanded by that sh
		git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
			(cd "$ROOT" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
			tar -C "$ROOT" --null -T - -cf - | tar -C "$DEBTOP/msgd" -xf -
	fi
	if [ -f "$DEBTOP/msgd/Makefile" ] && command -v dpkg-buildpackage >/dev/null 2>&1 &&
		command -v dh >/dev/null 2>&1; then
		timeout -k 5 300 make -C "$DEBTOP/msgd" deb >"$BATS_FILE_TMPDIR/deb.out" 2>&1 3>&- &&
			touch "$BATS_FILE_TMPDIR/deb.ok"
	fi
	# this file's own installation, if any, never outlives it
	rm -f "$BATS_FILE_TMPDIR/installed"
}

teardown_file() {
	if [ -e "$BATS_FILE_TMPDIR/installed" ]; then
		dpkg -P msgd >/dev/null 2>&1 || true
	fi
}

# the package make deb left; skip when it could not be made for want of
# a tool, fail when make deb failed
package() {
	need git dpkg-buildpackage dh
	[ -f "$DEBTOP/msgd/Makefile" ] || skip "not a git checkout: no clean copy to build in"
	[ -e "$BATS_FILE_TMPDIR/deb.ok" ] || { cat "$BATS_FILE_TMPDIR/deb.out"; return 1; }
	DEB=$(echo "$DEBTOP"/msgd/build/msgd_*.deb)
	[ -f "$DEB" ]
}

# install_package: dpkg -i as root, else skip; never over a msgd that is
# not this file's
install_package() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to install the package"
	need dpkg setpriv unshare ip nsenter python3
	if dpkg-query -W -f '${Status}' msgd 2>/dev/null | grep -q ' installed$' &&
		[ ! -e "$BATS_FILE_TMPDIR/installed" ]; then
		skip "msgd is installed on this machine already: not touching it"
	fi
	unshare -n true 2>/dev/null || skip "unshare -n is not permitted here"
	touch "$BATS_FILE_TMPDIR/installed"
	run timeout -k 5 120 dpkg -i "$DEB"
	echo "$output" >&2
	[ "$status" -eq 0 ]
}

# unit_value KEY: the value of KEY= in the installed msgd.service
unit_value() {
	sed -n "s/^$1=//p" "$SERVICE"
}

@test "make deb leaves exactly one file, build/msgd_VERSION_ARCH.deb, and nothing beside the tree" {
	package
	local version arch
	version=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
	arch=$(dpkg --print-architecture)
	[ "$(ls -A "$DEBTOP")" = msgd ]
	[ "$(ls -A "$DEBTOP/msgd/build")" = "msgd_${version}_$arch.deb" ]
	[ "$(dpkg-deb -f "$DEB" Package Version Architecture)" = "Package: msgd
Version: $version
Architecture: $arch" ]
}

@test "lintian finds no error and no warning in the package" {
	package
	need lintian
	run timeout -k 5 120 lintian "$DEB"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	run grep -E '^[EW]: ' <<<"$output"
	[ "$status" -eq 1 ]
}

@test "the package puts the programs, man pages, units, xinetd and logrotate files and examples where Debian has them" {
	package
	dpkg-deb -c "$DEB" | awk '{ print $1, $2, $6 }' >"$T/list"
	local f
	for f in '-rwxr-xr-x root/root ./usr/sbin/msgd-launcher' \
		'-rwxr-xr-x root/root ./usr/sbin/msgd-handler' \
		'-rwxr-xr-x root/root ./usr/bin/msgd-client' \
		'-rw-r--r-- root/root ./usr/share/man/man8/msgd-launcher.8.gz' \
		'-rw-r--r-- root/root ./usr/share/man/man8/msgd-handler.8.gz' \
		'-rw-r--r-- root/root ./usr/share/man/man1/msgd-client.1.gz' \
		'-rw-r--r-- root/root ./lib/systemd/system/msgd.service' \
		'-rw-r--r-- root/root ./lib/systemd/system/msgd.socket' \
		'-rw-r--r-- root/root ./lib/systemd/system/msgd-inetd.socket' \
		'-rw-r--r-- root/root ./lib/systemd/system/msgd-inetd@.service' \
		'-rw-r--r-- root/root ./lib/systemd/system/msgd-local-inetd.socket' \
		'-rw-r--r-- root/root ./lib/systemd/system/msgd-local-inetd@.service' \
		'-rw-r--r-- root/root ./etc/xinetd.d/msgd' \
		'-rw-r--r-- root/root ./etc/logrotate.d/msgd' \
		'-rw-r--r-- root/root ./usr/share/doc/msgd/examples/haproxy.cfg' \
		'-rw-r--r-- root/root ./usr/share/doc/msgd/copyright'; do
		grep -qxF -- "$f" "$T/list" || { echo "missing: $f"; return 1; }
	done
	# doc/, which the README links to, beside it (dh_compress gzips the
	# larger files)
	for f in protocol architecture cluster; do
		grep -qxE -- "-rw-r--r-- root/root \./usr/share/doc/msgd/doc/$f\.md(\.gz)?" "$T/list" ||
			{ echo "missing: doc/$f.md"; return 1; }
	done
	# the paths filled in, the xinetd service off, msgd.service's socket and
	# the inetd-mode one on 127.0.0.1:9100
	dpkg-deb -x "$DEB" "$T/x"
	run grep -rl '@SBINDIR@' "$T/x"
	[ "$status" -eq 1 ]
	grep -qx $'\tserver\t\t= /usr/sbin/msgd-handler' "$T/x/etc/xinetd.d/msgd"
	grep -qx $'\tdisable\t\t= yes' "$T/x/etc/xinetd.d/msgd"
	grep -qx 'ListenStream=127.0.0.1:9100' "$T/x/lib/systemd/system/msgd.socket"
	grep -qx 'Accept=no' "$T/x/lib/systemd/system/msgd.socket"
	grep -qx 'ListenStream=127.0.0.1:9100' "$T/x/lib/systemd/system/msgd-inetd.socket"
	grep -qx 'Accept=yes' "$T/x/lib/systemd/system/msgd-inetd.socket"
	grep -qx 'Requires=msgd.socket' "$T/x/lib/systemd/system/msgd.service"
	grep -qx 'ExecStart=/usr/sbin/msgd-launcher .* 127.0.0.1 9100 /usr/sbin/msgd-handler .*-l /var/log/msgd/records.log' \
		"$T/x/lib/systemd/system/msgd.service"
	grep -qx 'Type=notify' "$T/x/lib/systemd/system/msgd.service"
	grep -qx 'User=msgd' "$T/x/lib/systemd/system/msgd.service"
}

@test "installed, the launcher run as msgd.service says is ready, records as msgd, tells its status and is rotated by the shipped logrotate file" {
	package
	need logrotate systemd-analyze
	install_package
	# the user and the record directory the unit relies on
	[ "$(id -un msgd)" = msgd ]
	[ "$(stat -c '%U:%G %a' /var/log/msgd)" = "msgd:adm 2750" ]
	# the unit's own command line, user and umask
	local -a cmd
	read -r -a cmd <<<"$(unit_value ExecStart)"
	[ "${cmd[0]}" = /usr/sbin/msgd-launcher ]
	[ "$(unit_value Type)" = notify ]
	local user group umask
	user=$(unit_value User)
	group=$(unit_value Group)
	umask=$(unit_value UMask)
	[ "$user" = msgd ]
	# the service manager's socket, in a directory msgd may reach
	N=$(mktemp -d /tmp/msgd-deb.XXXXXX)
	echo "$N" >"$T/ndir"
	chmod 755 "$N"
	start_server "$T/n" python3 "$BATS_TEST_DIRNAME/client.py" syslog "$N/notify"
	wait_line "$T/n" >/dev/null
	chmod 777 "$N/notify"
	# on 127.0.0.1:9100 as shipped, in a network namespace of its own
	# shellcheck disable=SC2016 # expanded by that sh
	start_server "$T/l" unshare -n sh -c 'cd / && ip link set lo up && umask "$1" && shift && exec "$@"' \
		sh "${umask:-0022}" setpriv --reuid="$user" --regid="${group:-$user}" --init-groups \
		env NOTIFY_SOCKET="$N/notify" "${cmd[@]}"
	PID=${SERVER_PIDS[-1]}
	wait_grep "$T/n" '^READY=1$'
	[ "$(ps -o user= -p "$PID")" = msgd ]
	run timeout -k 5 20 nsenter -t "$PID" -n /usr/bin/msgd-client 127.0.0.1 9100 <<<'before rotation'
	[ "$status" -eq 0 ]
	[ "$output" = $'hello\nok 1\nbye 1' ]
	log=/var/log/msgd/records.log
	# group adm from the start, as logrotate's create makes it later
	[ "$(stat -c '%U:%G %a' "$log")" = "msgd:adm 640" ]
	grep -qE "^$TS_RE"'127\.0\.0\.1:[0-9]+ #1 receive message: before rotation$' "$log"
	# the child reaped: the status says so, then SIGUSR1 logs the same
	wait_grep "$T/n" '^STATUS=0/40 running, 1 served, 0 denied, 0 bad proxy headers, 0 failed spawns$'
	kill -USR1 "$PID"
	wait_grep "$T/l.err" '^msgd-launcher: status: 0/40 running, 1 served, 0 denied, 0 bad proxy headers, 0 failed spawns$'
	# rotated: the old records in records.log.1, a new empty file for the next
	run logrotate -f -s "$T/logrotate.state" /etc/logrotate.d/msgd
	echo "$output" >&2
	[ "$status" -eq 0 ]
	grep -q '#1 receive message: before rotation$' "$log.1"
	[ "$(stat -c '%U:%G %a %s' "$log")" = "msgd:adm 640 0" ]
	run timeout -k 5 20 nsenter -t "$PID" -n /usr/bin/msgd-client 127.0.0.1 9100 <<<'after rotation'
	[ "$output" = $'hello\nok 1\nbye 1' ]
	grep -q '#1 receive message: after rotation$' "$log"
	[ "$(grep -c 'receive message' "$log")" -eq 1 ]
	[ "$(grep -c 'receive message' "$log.1")" -eq 1 ]
	stop_pid "$PID"
	[ "$EXIT" -eq 0 ]
	wait_grep "$T/n" '^STOPPING=1$'
	# the installed units, by systemd's own checker
	run timeout -k 5 30 systemd-analyze verify --man=no /lib/systemd/system/msgd.service \
		/lib/systemd/system/msgd.socket /lib/systemd/system/msgd-inetd.socket \
		/lib/systemd/system/msgd-inetd@.service /lib/systemd/system/msgd-local-inetd.socket \
		/lib/systemd/system/msgd-local-inetd@.service
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "dpkg -r keeps the conffiles and the records, dpkg -P removes them and /var/log/msgd" {
	package
	install_package
	run dpkg -r msgd
	[ "$status" -eq 0 ]
	[ ! -e /usr/sbin/msgd-launcher ]
	[ ! -e "$SERVICE" ]
	[ -f /etc/logrotate.d/msgd ]
	[ -f /etc/xinetd.d/msgd ]
	[ -d /var/log/msgd ]
	[ "$(dpkg-query -W -f '${db:Status-Abbrev}' msgd)" = "rc " ]
	run dpkg -P msgd
	[ "$status" -eq 0 ]
	rm -f "$BATS_FILE_TMPDIR/installed"
	[ ! -e /etc/logrotate.d/msgd ]
	[ ! -e /etc/xinetd.d/msgd ]
	[ ! -e /var/log/msgd ]
	run dpkg-query -W msgd
	[ "$status" -ne 0 ]
}

teardown() {
	servers_stop
	if [ -f "$T/ndir" ]; then
		rm -rf "$(cat "$T/ndir")"
	fi
}
