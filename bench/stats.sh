# SPDX-License-Identifier: ISC
# shellcheck shell=bash disable=SC2154 # results is the sourcing script's
# Sourced by the benchmarks (launcher.sh, cluster.sh, sweep.sh): the
# statistics they print.

# field KEY "K=V K=V ...": the value of KEY in a loadgen line, or NA
field() {
	local kv
	for kv in $2; do
		[[ ${kv%%=*} == "$1" ]] && { printf '%s\n' "${kv#*=}"; return; }
	done
	echo NA
}

# median [FORMAT]: the median of the numbers on stdin, one a line; NA when
# there are none.  Without FORMAT, of an odd count the middle one as it
# was written, of an even count the mean of the two in the middle with 3
# decimals; with FORMAT (printf's: %.1f) the median so written
# shellcheck disable=SC2120 # sweep.sh passes a FORMAT
median() {
	sort -g | awk -v f="${1:-}" '{ v[NR] = $1 } END {
		if (NR == 0) { print "NA"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		if (f != "") printf f "\n", m
		else if (NR % 2) print m
		else printf "%.3f\n", m
	}'
}

# agg NAME CONC KEY: over the lines "NAME CONC K=V ..." of $results (one a
# round), the median of KEY; of errors, the sum
agg() {
	local want=$1 c=$2 key=$3 name conc rest
	while read -r name conc rest; do
		[[ $name == "$want" && $conc == "$c" ]] && field "$key" "$rest"
	done <"$results" | if [[ $key == errors ]]; then awk '{ n += $1 } END { print n + 0 }'; else median; fi
}
