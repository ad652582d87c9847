# SPDX-License-Identifier: ISC
# shellcheck shell=bash disable=SC2034,SC2154 # the paths and tmp are for the sourcing script; here is its
# Sourced by every benchmark, after it has set me, die and here: the
# programs it runs, found, built and checked once, and its temp dir.
#
#   . "$here/bins.sh" [--tmp NAME] [--if-missing] [TARGET...]
#
# Sets repo (this repo), bindir (MSGD_BIN made absolute; default bin/ of
# the repo), the msgd programs in bindir: launcher, handler, client, bench's
# own in build/: loadgen, execcost, floor, refspawn, and tmp: a new
# directory NAME.XXXXXX (default msgd-bench) in TMPDIR.  Without
# --if-missing: a relative MSGD_BIN is taken from the repo, which is the
# current directory from then on; the TARGETs are the build/ programs the
# script needs: runs `make -s all TARGET...` (with MSGD_BIN, only the TARGETs,
# if any), then dies unless msgd-launcher, msgd-handler and every TARGET are
# executable.
# With --if-missing the TARGETs are msgd programs: a relative MSGD_BIN is
# taken from the current directory, which stays; when one is missing they
# are built into bindir (make BIN=), and it dies when one is still missing.

bins_tmp=msgd-bench bins_if_missing=
while [[ ${1:-} == --* ]]; do
	case $1 in
	--tmp) bins_tmp=$2; shift 2 ;;
	--if-missing) bins_if_missing=1; shift ;;
	*) die "bins.sh: no option $1" ;;
	esac
done

repo=$(dirname "$here")
if [[ -z $bins_if_missing ]]; then
	cd "$repo" || die "cannot cd to $repo"
fi
bindir=${MSGD_BIN:-$repo/bin}
[[ $bindir == /* ]] || bindir=$PWD/$bindir
launcher=$bindir/msgd-launcher handler=$bindir/msgd-handler client=$bindir/msgd-client
loadgen=$repo/build/loadgen execcost=$repo/build/execcost
floor=$repo/build/floor refspawn=$repo/build/refspawn

bins_need=()
if [[ -n $bins_if_missing ]]; then
	for bins_f; do bins_need+=("$bindir/$bins_f"); done
	bins_missing=
	for bins_f in "${bins_need[@]}"; do [[ -x $bins_f ]] || bins_missing=1; done
	if [[ -n $bins_missing ]]; then
		printf 'building %s (make -s)\n' "${bins_need[*]}"
		make -s -C "$repo" BIN="$bindir" "${bins_need[@]}" || die "make failed"
		for bins_f in "${bins_need[@]}"; do
			[[ -x $bins_f ]] || die "$bins_f still missing after make"
		done
	fi
else
	if [[ -z ${MSGD_BIN:-} ]]; then
		make -s all "$@" || die "make failed"
	elif (($#)); then
		make -s "$@" || die "make failed"
	fi
	bins_need=("$launcher" "$handler")
	for bins_f; do bins_need+=("$repo/$bins_f"); done
	for bins_f in "${bins_need[@]}"; do
		[[ -x $bins_f ]] || die "$bins_f is missing"
	done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$bins_tmp.XXXXXX") || die "mktemp -d failed"
