# SPDX-License-Identifier: ISC
# shellcheck shell=bash disable=SC2034,SC2154 # rounds and secs are for the sourcing script, me is its
# Sourced, with the script's arguments, by bench/launcher.sh and
# bench/cluster.sh: [-r ROUNDS] [-d SECS] (or the variables ROUNDS and SECS;
# defaults 3 and 5), each a positive integer; anything else is bad usage,
# said on stderr with exit 2.  Sets rounds and secs; the caller has set me.

usage() { printf 'usage: %s [-r ROUNDS] [-d SECS]\n' "$0" >&2; exit 2; }

rounds=${ROUNDS:-3} secs=${SECS:-5}
while getopts r:d: opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	d) secs=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
(($# == 0)) || usage
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { printf '%s: ROUNDS must be a positive integer, not "%s"\n' "$me" "$rounds" >&2; exit 2; }
[[ $secs =~ ^[1-9][0-9]*$ ]] || { printf '%s: SECS must be a positive integer, not "%s"\n' "$me" "$secs" >&2; exit 2; }
