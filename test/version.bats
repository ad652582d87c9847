#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The version and the options no program has: -V and --version say one
# version, debian/changelog's, as the installed man pages do; a long option
# that does not exist is named as given.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
PROGS=(msgd-handler msgd-launcher msgd-client)

# changelog_version: the upstream version of debian/changelog's first entry
# (epoch and Debian revision off), read as dpkg-parsechangelog would
changelog_version() {
	sed -n '1s/^msgd (\([^)]*\)).*/\1/p' "$ROOT/debian/changelog" |
		sed -e 's/^[0-9]*://' -e 's/-[^-]*$//'
}

@test "-V and --version print PROG VERSION, debian/changelog's version, on stdout, and exit 0" {
	local v p opt
	v=$(changelog_version)
	[[ $v =~ ^[0-9][0-9.~+a-z]*$ ]]
	for p in "${PROGS[@]}"; do
		for opt in -V --version; do
			run timeout -k 5 10 "$MSGD_BIN/$p" "$opt" 2>"$T/err" 3>&-
			echo "$p $opt -> $status: $output" >&2
			[ "$status" -eq 0 ]
			[ "$output" = "$p $v" ]
			[ ! -s "$T/err" ]
		done
	done
	# with dpkg's own reading of the changelog, where it is installed
	if command -v dpkg-parsechangelog >/dev/null; then
		[ "$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version | sed 's/-[^-]*$//')" = "$v" ]
	fi
}

@test "--version after other options does its job too" {
	local v
	v=$(changelog_version)
	run timeout -k 5 10 "$MSGD_BIN/msgd-handler" -l "$T/F" --version 3>&-
	[ "$status" -eq 0 ] && [ "$output" = "msgd-handler $v" ]
	run timeout -k 5 10 "$MSGD_BIN/msgd-launcher" -v --version 127.0.0.1 0 true 3>&-
	[ "$status" -eq 0 ] && [ "$output" = "msgd-launcher $v" ]
	run timeout -k 5 10 "$MSGD_BIN/msgd-client" -n --version 127.0.0.1 9 3>&-
	[ "$status" -eq 0 ] && [ "$output" = "msgd-client $v" ]
	[ ! -e "$T/F" ]
}

@test "an unknown long option is named as given, first or after others, then the usage; status 2, or 1 for the client" {
	local p want first
	for p in "${PROGS[@]}"; do
		want=2 first=-v
		[ "$p" != msgd-client ] || want=1
		[ "$p" != msgd-handler ] || first=-S
		run timeout -k 5 10 "$MSGD_BIN/$p" --verbose 3>&-
		echo "$p --verbose -> $status: $output" >&2
		[ "$status" -eq "$want" ]
		[ "${lines[0]}" = "$p: unknown option --verbose" ]
		[[ ${lines[1]} == "usage: $p "* ]]
		run timeout -k 5 10 "$MSGD_BIN/$p" "$first" --no-such=1 127.0.0.1 0 true 3>&-
		[ "$status" -eq "$want" ]
		[ "${lines[0]}" = "$p: unknown option --no-such=1" ]
	done
}

@test "make install writes the programs' version into each man page's footer" {
	need mandoc
	local v m
	v=$(changelog_version)
	run make -s -C "$ROOT" install PREFIX=/usr DESTDIR="$T/d"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$("$T/d/usr/bin/msgd-client" -V)" = "msgd-client $v" ]
	for m in man1/msgd-client.1 man8/msgd-handler.8 man8/msgd-launcher.8; do
		grep -qx ".Os msgd $v" "$T/d/usr/share/man/$m"
		mandoc -T utf8 "$T/d/usr/share/man/$m" | tail -n 1 | grep -q "^msgd $v "
		# and nothing else of the page changed
		diff <(grep -v '^\.Os' "$ROOT/man/${m#*/}") <(grep -v '^\.Os' "$T/d/usr/share/man/$m")
	done
}
