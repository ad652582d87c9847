#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The README's two commands, run as a new user would in a clean copy of
# this tree (its tracked files only: no bin/, no build/), so that the README
# cannot drift from the Makefile and test/run again.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)

# PATH as the user had it: bats puts its own libexec first, where a bats
# that is not the wrapper in /usr/bin would be found
user_path() {
	local IFS=: p out=
	for p in $PATH; do
		[[ $p == *bats-core* ]] || out+=${out:+:}$p
	done
	printf '%s\n' "$out"
}

# fresh CMD...: CMD with only what a new user's login would have set, so
# that nothing of this bats run reaches the one inside
fresh() {
	env -i PATH="$(user_path)" HOME="${HOME:-/root}" LANG=C.UTF-8 "$@"
}

setup_file() {
	# one clean copy for the file: the tracked and new files, as git sees them
	SRC=$BATS_FILE_TMPDIR/src
	export SRC
	mkdir "$SRC"
	if command -v git >/dev/null 2>&1 && git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# shellcheck disable=SC2016 # expanded by that sh
		git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
			(cd "$ROOT" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
			tar -C "$ROOT" --null -T - -cf - | tar -C "$SRC" -xf -
	fi
}

# the commands of the README's first code block, comments dropped
readme_commands() {
	awk '/^```/ { if (inside) exit; inside = 1; next }
		inside { sub(/[ \t]*#.*/, ""); if (NF) print }' "$ROOT/README.md"
}

# clean_copy: skip unless setup_file could make the copy
clean_copy() {
	need git
	[ -f "$SRC/Makefile" ] || skip "not a git checkout: no clean copy to try the README in"
	# one copy of the suite is enough: the sanitizer run builds its own
	[ -z "${ASAN_OPTIONS:-}" ] || skip "the clean copy is built and tried by make test already"
}

@test "the README is for the user: at most 400 lines, the internals in doc/, and every doc/ file it links to is there" {
	[ "$(wc -l <"$ROOT/README.md")" -le 400 ]
	local f n=0
	while read -r f; do
		[ -f "$ROOT/$f" ] || { echo "README links to $f, which is not there"; return 1; }
		n=$((n + 1))
	done < <(grep -oE '\]\(doc/[a-z]+\.md\)' "$ROOT/README.md" | sed -E 's/^\]\((.*)\)$/\1/' | sort -u)
	[ "$n" -eq 3 ]
}

@test "the README's first screen shows exactly the two commands, make run and make test" {
	[ "$(readme_commands)" = $'make run\nmake test' ]
	# and within the first screen (24 lines)
	[ "$(grep -n -m1 '^make run' "$ROOT/README.md" | cut -d: -f1)" -le 24 ]
}

@test "make run in a clean copy builds and serves on 127.0.0.1:9100, with the records on its terminal; the README's script line with -a exits 0" {
	clean_copy
	need setsid
	# port 9100 as the README says, in a network namespace of its own when
	# we may make one; else the README's PORT= on a free port
	local ns=() port=9100
	if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null &&
		unshare -n true 2>/dev/null; then
		ns=(unshare -n sh -c 'ip link set lo up && exec "$@"' sh)
	else
		need python3
		port=$(free_port)
	fi
	cat >"$T/try" <<-EOF
	#!/bin/bash
	# make run in its own process group, then one client; Ctrl-C to the group
	cd "$SRC" || exit 1
	setsid make run \$( [ $port = 9100 ] || echo PORT=$port ) >"$T/run.out" 2>&1 </dev/null 3>&- &
	echo \$! >"$T/make.pid"
	i=0
	until grep -q '^msgd-launcher: listening on 127.0.0.1 port $port' "$T/run.out"; do
		i=\$((i + 1)); [ \$i -lt 1200 ] || { kill -INT -- -\$!; exit 1; }
		sleep 0.1
	done
	printf 'hi from the readme\n' | timeout -k 5 10 bin/msgd-client 127.0.0.1 $port >"$T/client.out"
	echo "client \$?" >"$T/client.status"
	timeout -k 5 10 sh -c "\$(cat "$T/script.sh")" >"$T/script.out" 2>&1
	echo "script \$?" >"$T/script.status"
	i=0
	until grep -q '#1 receive message: hi from the readme\$' "$T/run.out"; do
		i=\$((i + 1)); [ \$i -lt 100 ] || break
		sleep 0.1
	done
	# the handler has ended (and is not a zombie left to reap) before Ctrl-C
	i=0
	while ps -o comm= -g \$! | grep -qx msgd-handler; do
		i=\$((i + 1)); [ \$i -lt 100 ] || break
		sleep 0.1
	done
	kill -INT -- -\$!
	wait \$!
	echo "make \$?" >"$T/make.status"
	EOF
	chmod +x "$T/try"
	# and the README's line for a script, with -a
	grep -m1 '^printf .* | bin/msgd-client -a 127.0.0.1 9100 ' "$ROOT/README.md" |
		sed "s/ 9100 / $port /" >"$T/script.sh"
	[ -s "$T/script.sh" ]
	run timeout -k 5 300 "${ns[@]}" "$T/try"
	# whatever happened, nothing of it may outlive the test
	kill -TERM -- -"$(cat "$T/make.pid")" 2>/dev/null || true
	cat "$T/run.out" >&2
	[ "$status" -eq 0 ]
	[ "$(cat "$T/client.status")" = "client 0" ]
	[ "$(cat "$T/client.out")" = $'hello\nok 1\nbye 1' ]
	[ "$(cat "$T/script.status")" = "script 0" ]
	[ "$(cat "$T/script.out")" = $'hello\nok 1\nbye 1' ]
	grep -qE "^$TS_RE""127\\.0\\.0\\.1:[0-9]+ #1 receive message: hi from the readme\$" "$T/run.out"
	grep -qx "msgd-launcher: listening on 127.0.0.1 port $port, at most 40 at once" "$T/run.out"
	[ -x "$SRC/bin/msgd-handler" ]
	# Ctrl-C stops it: make reports the launcher's end, nothing hangs
	[ -s "$T/make.status" ]
	wait_grep "$T/run.out" 'msgd-launcher: stopping' 5
	grep -q 'msgd-launcher: stopping: 0 running' "$T/run.out"
}

# console_block WORDS: the README's console block that holds WORDS
console_block() {
	awk -v w="$1" '/^```console$/ { inside = 1; block = ""; next }
		/^```$/ { if (inside && index(block, w)) { printf "%s", block; exit } inside = 0; next }
		inside { block = block $0 "\n" }' "$ROOT/README.md"
}

# normal: time stamps and pids out, blanks squeezed (ls on a terminal)
normal() {
	sed -E "s/^$TS_RE/TS /" | tr -s ' \t\n' '   '
}

@test "the README's handler example prints what it shows, and makes no file beside the records" {
	local cmd line out=
	console_block 'msgd-handler -l /tmp/x' >"$T/block"
	[ "$(grep -c '^\$ ' "$T/block")" -eq 2 ]
	# each "$ " line run as written, bin/ being the built one and /tmp/x ours
	while IFS= read -r line; do
		if [[ $line == '$ '* ]]; then
			cmd=${line#\$ }
			cmd=${cmd//bin\/msgd-handler/\"\$MSGD_BIN\"/msgd-handler}
			cmd=${cmd//\/tmp\/x/$T/x}
			out+="$line"$'\n'
			out+=$(cd "$T" && bash -c "$cmd" 2>&1 | sed "s|$T/x|/tmp/x|g")$'\n'
		fi
	done <"$T/block"
	printf '%s' "$out" >"$T/got"
	echo "got:" >&2
	cat "$T/got" >&2
	[ "$(normal <"$T/got")" = "$(normal <"$T/block")" ]
	# the lock is the file's own: no FILE.lock
	[ "$(cd "$T" && echo x*)" = x ]
}

@test "make test in a clean copy, with every package present, passes and installs nothing" {
	clean_copy
	"$SRC/test/run" --install >/dev/null 2>&1 || skip "not every package of test/deps is installed"
	# one small file of the suite: the whole of it runs in the outer make test
	run fresh timeout -k 5 600 make --no-print-directory -C "$SRC" test TESTS=test/client.bats
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[[ $output != *"installing what the tests need"* ]]
	[[ $output != *"not installed:"* ]]
	[[ $(tail -n 1 <<<"$output") =~ ^[1-9][0-9]*\ passed,\ 0\ failed,\ [0-9]+\ skipped$ ]]
}

@test "make test as a user who may not install: the one apt-get line, the skipped test names its package, the rest passes" {
	clean_copy
	need setpriv
	[ "$(id -u)" -eq 0 ] || skip "needs root to become nobody"
	cp -a "$SRC" "$T/src"
	printf 'msgd-test-no-such-package  msgd-no-such-command\n' >>"$T/src/test/deps"
	# (written with printf: a line of this file that starts with @test is bats's)
	# shellcheck disable=SC2016 # expanded by the inner bats
	printf '%s\n' 'load helpers' \
		'@test "needs a missing command" {' '	need msgd-no-such-command' '	false' '}' \
		'@test "runs" {' '	[ "$(echo x | "$MSGD_BIN/msgd-handler" -l "$T/r" | head -n 1)" = hello ]' \
		'}' >"$T/src/test/zz.bats"
	chown -R nobody "$T/src"
	# nobody must reach it: every directory from the run's down to ours
	local d=$T
	while [[ $d == "$BATS_RUN_TMPDIR"* ]]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
	setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups true ||
		skip "cannot become nobody here"
	run timeout -k 5 300 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
		env -i PATH="$(user_path)" HOME=/nonexistent LANG=C.UTF-8 \
		make --no-print-directory -C "$T/src" test TESTS=test/zz.bats
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[[ $output == *"test/run: not installed: msgd-test-no-such-package"* ]]
	[ "$(grep -cx '    apt-get install -y msgd-test-no-such-package' <<<"$output")" -eq 1 ]
	grep -qx 'ok 1 needs a missing command # skip needs msgd-no-such-command (Debian package msgd-test-no-such-package)' <<<"$output"
	grep -qx 'ok 2 runs' <<<"$output"
	[ "$(tail -n 1 <<<"$output")" = "1 passed, 0 failed, 1 skipped" ]
	[[ $output != *"installing what the tests need"* ]]
}

@test "without bats, make test runs the smoke test of the built programs and says why no more" {
	clean_copy
	run fresh timeout -k 5 300 make --no-print-directory -C "$SRC" test BATS=msgd-no-such-bats
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[[ $output == *"test/run: bats is not installed: only a smoke test can run"* ]]
	grep -qx 'ok 1 msgd-handler greets, acknowledges and records a line; the three programs run' <<<"$output"
	[ "$(tail -n 1 <<<"$output")" = "1 passed, 0 failed, 0 skipped" ]
}
