#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# make install / make uninstall into a temporary DESTDIR.

load helpers

REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)

installed_files() {
	(cd "$1" && find . -type f -printf '%m %p\n' | sort)
}

@test "make install puts every file under PREFIX where it belongs with the paths filled in" {
	run make -s -C "$REPO" install DESTDIR="$T/root" PREFIX=/opt/msgd
	[ "$status" -eq 0 ]
	# nothing outside PREFIX: make install PREFIX=/tmp/x does not write /etc
	[ "$(installed_files "$T/root")" = "644 ./opt/msgd/etc/xinetd.d/msgd
644 ./opt/msgd/lib/systemd/system/msgd-inetd.socket
644 ./opt/msgd/lib/systemd/system/msgd-inetd@.service
644 ./opt/msgd/lib/systemd/system/msgd-local-inetd.socket
644 ./opt/msgd/lib/systemd/system/msgd-local-inetd@.service
644 ./opt/msgd/lib/systemd/system/msgd.service
644 ./opt/msgd/lib/systemd/system/msgd.socket
644 ./opt/msgd/share/doc/msgd/examples/haproxy.cfg
644 ./opt/msgd/share/doc/msgd/examples/rsyslog-central.conf
644 ./opt/msgd/share/doc/msgd/examples/rsyslog-node.conf
644 ./opt/msgd/share/doc/msgd/examples/stunnel-exec.conf
644 ./opt/msgd/share/doc/msgd/examples/stunnel-proxy.conf
644 ./opt/msgd/share/man/man1/msgd-client.1
644 ./opt/msgd/share/man/man8/msgd-handler.8
644 ./opt/msgd/share/man/man8/msgd-launcher.8
755 ./opt/msgd/bin/msgd-client
755 ./opt/msgd/sbin/msgd-handler
755 ./opt/msgd/sbin/msgd-launcher" ]
	# the installed programs are the built ones and run
	cmp "$REPO/bin/msgd-handler" "$T/root/opt/msgd/sbin/msgd-handler"
	[ "$(printf 'x\n' | "$T/root/opt/msgd/sbin/msgd-handler" -l "$T/rec")" = $'hello\nok 1\nbye 1' ]
	# the service files name the installed handler and launcher, nothing else changed
	grep -qx $'\tserver\t\t= /opt/msgd/sbin/msgd-handler' "$T/root/opt/msgd/etc/xinetd.d/msgd"
	diff <(sed 's|@SBINDIR@|/opt/msgd/sbin|g' "$REPO/xinetd.d/msgd") "$T/root/opt/msgd/etc/xinetd.d/msgd"
	# installed, the service is still off until the administrator says
	grep -qx $'\tdisable\t\t= yes' "$T/root/opt/msgd/etc/xinetd.d/msgd"
	grep -qx 'ExecStart=/opt/msgd/sbin/msgd-handler -t 300' "$T/root/opt/msgd/lib/systemd/system/msgd-inetd@.service"
	grep -qx 'ExecStart=/opt/msgd/sbin/msgd-handler -t 300' "$T/root/opt/msgd/lib/systemd/system/msgd-local-inetd@.service"
	grep -qx 'ExecStart=/opt/msgd/sbin/msgd-launcher -c 40 -C 10 -k 10 127.0.0.1 9100 /opt/msgd/sbin/msgd-handler -t 300 -l /var/log/msgd/records.log' \
		"$T/root/opt/msgd/lib/systemd/system/msgd.service"
	# every example, with the programs' paths filled in
	ex=$T/root/opt/msgd/share/doc/msgd/examples
	diff <(ls "$REPO/examples") <(ls "$ex")
	for e in "$REPO"/examples/*; do
		diff <(sed 's|@SBINDIR@|/opt/msgd/sbin|g' "$e") "$ex/${e##*/}"
	done
	grep -qx 'exec = /opt/msgd/sbin/msgd-handler' "$ex/stunnel-exec.conf"
	grep -q '^;   /opt/msgd/sbin/msgd-launcher .* /opt/msgd/sbin/msgd-handler -s$' \
		"$ex/stunnel-proxy.conf"
	grep -q '^#   /opt/msgd/sbin/msgd-launcher -p .* /opt/msgd/sbin/msgd-handler -s$' \
		"$ex/haproxy.cfg"
	run grep -rl '@SBINDIR@' "$T/root"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	# the man pages as written, but for the version in their footer
	diff <(sed 's/^\.Os.*/.Os/' "$REPO/man/msgd-launcher.8") \
		<(sed 's/^\.Os.*/.Os/' "$T/root/opt/msgd/share/man/man8/msgd-launcher.8")
}

@test "make uninstall leaves nothing of what make install put there" {
	make -s -C "$REPO" install DESTDIR="$T/root" PREFIX=/usr/local
	mkdir -p "$T/root/usr/local/bin"
	echo keep >"$T/root/usr/local/bin/other"
	run make -s -C "$REPO" uninstall DESTDIR="$T/root" PREFIX=/usr/local
	[ "$status" -eq 0 ]
	[ "$(installed_files "$T/root")" = "644 ./usr/local/bin/other" ]
	# the directories only msgd's files were in are gone too; those of the
	# hierarchy stay
	[ "$(cd "$T/root" && find . -type d | LC_ALL=C sort)" = ".
./usr
./usr/local
./usr/local/bin
./usr/local/etc
./usr/local/lib
./usr/local/sbin
./usr/local/share
./usr/local/share/doc
./usr/local/share/man" ]
}

@test "make install SYSCONFDIR=/etc puts the xinetd file where a system xinetd reads it, and uninstall takes it away" {
	run make -s -C "$REPO" install DESTDIR="$T/root" SYSCONFDIR=/etc
	[ "$status" -eq 0 ]
	[ "$(installed_files "$T/root/etc")" = "644 ./xinetd.d/msgd" ]
	grep -qx $'\tserver\t\t= /usr/local/sbin/msgd-handler' "$T/root/etc/xinetd.d/msgd"
	[ -f "$T/root/usr/local/sbin/msgd-launcher" ]
	run make -s -C "$REPO" uninstall DESTDIR="$T/root" SYSCONFDIR=/etc
	[ "$status" -eq 0 ]
	[ -z "$(installed_files "$T/root")" ]
}

@test "make uninstall succeeds when nothing was installed, even under a DESTDIR that does not exist" {
	run make -s -C "$REPO" uninstall DESTDIR="$T/nonexist"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ ! -e "$T/nonexist" ]
	mkdir -p "$T/half/usr/local/bin"
	echo keep >"$T/half/usr/local/bin/other"
	run make -s -C "$REPO" uninstall DESTDIR="$T/half"
	[ "$status" -eq 0 ]
	[ "$(installed_files "$T/half")" = "644 ./usr/local/bin/other" ]
}
