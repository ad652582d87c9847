# SPDX-License-Identifier: ISC
# shellcheck shell=bash disable=SC2034 # machine, noop, noop_how and machine_err are the sourcing script's
# Sourced by the benchmarks, so that no figure is read without its machine:
# machine_id sets machine ("kernel arch, CPU model"); noop_build DIR builds
# DIR/noop, a program that does nothing, static when it can be (sets noop,
# and noop_how to the compiler used), 1 when none can be built;
# machine_line EXECCOST DIR does both and prints the line that says them.

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

# machine_line EXECCOST DIR: "machine: ..., N CPUs; a no-op (HOW) costs
# cpu_us=N wall_us=N from exec to exit ...", the no-op built in DIR and
# measured by EXECCOST (build/execcost); 1 with machine_err set when it
# cannot be built or run
machine_line() {
	local cost
	machine_id
	if ! noop_build "$2"; then
		machine_err="cannot build a no-op program with musl-gcc or cc"
		return 1
	fi
	: >"$2/empty"
	if ! cost=$("$1" 500 "$2/empty" "$noop"); then
		machine_err="the no-op program failed"
		return 1
	fi
	printf 'machine: %s, %s CPUs; a no-op (%s) costs %s from exec to exit (build/execcost, medians of 500 runs)\n' \
		"$machine" "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')" "$noop_how" "$cost"
}
