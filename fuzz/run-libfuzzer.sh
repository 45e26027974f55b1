#!/bin/sh
# Coverage-guided fuzzing of the fuzz/*_fuzz.c targets with clang's libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   fuzz/run-libfuzzer.sh [-t SECONDS] [-o DIR] [-b] [TARGET...]
#
#   -t SECONDS  fuzzing time per target (default 60; FUZZ_SECONDS also works)
#   -o DIR      build and work directory (default /tmp/fulcrum-libfuzzer)
#   -b          build only, do not fuzz
#   TARGET      jws, jwks, config, template, principal, b64, pkcs11_uri
#               (default: all)
#
# The sources of common/, config/, oidc/ and hsm/ are compiled directly (no
# meson option): once with -fsanitize=fuzzer-no-link, then linked with each
# target.
# clang is installed with apt-get if it is missing (needs root).
#
# Each target fuzzes DIR/corpus/<target> (new inputs land there, never in the
# repository), seeded read-only with fuzz/corpus/<target> and the unit-test
# fixtures, with fuzz/dict/*.dict where one fits. A crash, leak or timeout
# stops that target and leaves the input in DIR/artifacts/<target>/; replay
# it with `DIR/bin/<target>_fuzz FILE`, minimise it with
# `DIR/bin/<target>_fuzz -minimize_crash=1 -runs=10000 FILE`. The log of
# each run is DIR/logs/<target>.log. Exit status: 0 if no target crashed,
# 1 if one did, 2 on a usage or build error.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECONDS:-60}
out=/tmp/fulcrum-libfuzzer
build_only=false
all_targets="jws jwks config template principal b64 pkcs11_uri tsq"

usage() {
	echo "usage: $0 [-t SECONDS] [-o DIR] [-b] [TARGET...]" >&2
	exit 2
}

while getopts t:o:b opt; do
	case $opt in
	t) secs=$OPTARG ;;
	o) out=$OPTARG ;;
	b) build_only=true ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
targets=${*:-$all_targets}
for t in $targets; do
	[ -f "$src/fuzz/${t}_fuzz.c" ] || { echo "$0: no target $t" >&2; usage; }
done

# Seeds besides fuzz/corpus/<target>: the unit-test fixtures.
fixtures() {
	case $1 in
	config) echo "$src/tests/data/config" ;;
	principal) echo "$src/tests/data/oidc/principal" ;;
	esac
}

dict() {
	case $1 in
	template) echo "$src/fuzz/dict/template.dict" ;;
	pkcs11_uri) echo "$src/fuzz/dict/pkcs11_uri.dict" ;;
	jwks | config | principal) echo "$src/fuzz/dict/json.dict" ;;
	esac
}

if ! command -v clang >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "== installing clang"
		apt-get install -y clang >"${TMPDIR:-/tmp}/fulcrum-apt-clang.log" 2>&1 || {
			echo "$0: apt-get install clang failed, see ${TMPDIR:-/tmp}/fulcrum-apt-clang.log" >&2
			exit 2
		}
	else
		echo "$0: clang is not installed (apt-get install clang)" >&2
		exit 2
	fi
fi

cflags="-g -O1 -std=c11 -D_GNU_SOURCE -fno-omit-frame-pointer \
 -fno-sanitize-recover=undefined -I$src/common -I$src/config -I$src/oidc -I$src/hsm -I$src/tsa \
 $(pkg-config --cflags p11-kit-1)"
libs="-lcrypto -lssl -ljansson -lcurl -lyaml -lmicrohttpd -lpthread -ldl"

mkdir -p "$out/obj" "$out/bin" "$out/logs"
echo "== building into $out"
objs=""
for f in "$src"/common/*.c "$src"/config/*.c "$src"/oidc/*.c "$src"/hsm/*.c "$src"/tsa/*.c; do
	mod=$(basename "$(dirname "$f")")
	o="$out/obj/${mod}_$(basename "$f" .c).o"
	# shellcheck disable=SC2086
	clang $cflags -fsanitize=fuzzer-no-link,address,undefined -c "$f" -o "$o" || exit 2
	objs="$objs $o"
done
for t in $targets; do
	# shellcheck disable=SC2086
	clang $cflags -fsanitize=fuzzer,address,undefined "$src/fuzz/${t}_fuzz.c" $objs $libs \
		-o "$out/bin/${t}_fuzz" || exit 2
done
$build_only && exit 0

crashed=""
for t in $targets; do
	work="$out/corpus/$t"
	arts="$out/artifacts/$t"
	mkdir -p "$work" "$arts"
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 \
		-print_final_stats=1 -artifact_prefix="$arts/"
	d=$(dict "$t")
	[ -n "$d" ] && set -- "$@" -dict="$d"
	echo "== $t: fuzzing for $secs s (log: $out/logs/$t.log)"
	# shellcheck disable=SC2046
	if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$out/bin/${t}_fuzz" "$@" "$work" "$src/fuzz/corpus/$t" $(fixtures "$t") \
		>"$out/logs/$t.log" 2>&1; then
		grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov: ' "$out/logs/$t.log" |
			tail -3 | sed 's/^/   /'
	else
		crashed="$crashed $t"
		echo "   CRASH: $(grep -m1 -E '^==[0-9]+==ERROR|SUMMARY|invariant violated|deadly signal' \
			"$out/logs/$t.log" || echo 'see log')"
		ls "$arts" | sed "s|^|   artifact: $arts/|"
	fi
done
if [ -n "$crashed" ]; then
	echo "== crashed:$crashed"
	exit 1
fi
echo "== no crash"
