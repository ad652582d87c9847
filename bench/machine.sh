# SPDX-License-Identifier: ISC
# shellcheck shell=bash disable=SC2034 # machine, noop and noop_how are the sourcing script's
# Sourced by bench/launcher.sh and bench/sweep.sh, so that no figure is read
# without its machine: machine_id sets machine ("kernel arch, CPU model");
# noop_build DIR builds DIR/noop, a program that does nothing, static when it
# can be (sets noop, and noop_how to the compiler used), 1 when none can be built.

machine_id() {
	local model
	model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
	machine="$(uname -srm), ${model:-unknown CPU}"
}

noop_build() {
	local how cc
	printf 'int main(void) { return 0; }\n' >"$1/noop.c"
	noop=$1/noop noop_how=
	for how in 'musl-gcc -static' 'cc -static' cc; do	# the first that works
		read -ra cc <<<"$how"
		"${cc[@]}" -O2 -o "$noop" "$1/noop.c" 2>/dev/null && { noop_how=$how; return 0; }
	done
	return 1
}
