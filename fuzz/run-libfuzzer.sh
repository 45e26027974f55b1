#!/bin/sh
# Coverage-guided fuzzing of every fuzz/*_fuzz.c target with clang's
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   fuzz/run-libfuzzer.sh [-t SECONDS] [-o DIR] [-b] [TARGET...]
#
#   -t SECONDS  fuzzing time per target (default 60; FUZZ_SECONDS also works)
#   -o DIR      build and work directory (default /tmp/fulcrum-libfuzzer)
#   -b          build only, do not fuzz
#   TARGET      a name of fuzz/<name>_fuzz.c (default: every target)
#
# The project is built with meson into DIR/build with clang and
# -Dfuzzing=true: every library instrumented for libFuzzer, each target
# linked with libFuzzer's main instead of the replay driver that the test
# suite uses. clang and its runtime (Debian: clang, libclang-rt-14-dev) are
# installed with apt-get when missing and the script runs as root; otherwise
# it stops and says what to install.
#
# Each target fuzzes DIR/corpus/<target> (new inputs land there, never in the
# repository), seeded read-only with fuzz/corpus/<target> and the unit-test
# fixtures, with fuzz/dict/*.dict where one fits. A crash, leak or timeout
# stops that target and leaves the input in DIR/artifacts/<target>/; replay
# it with `DIR/build/fuzz/<target>_fuzz FILE`, and keep it as a regression
# input by copying it into fuzz/corpus/<target>/ (the suite replays every
# file there). The log of each run is DIR/logs/<target>.log. Exit status: 0
# if no target crashed, 1 if one did, 2 on a usage or build error.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECONDS:-60}
out=/tmp/fulcrum-libfuzzer
build_only=false

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
all_targets=$(cd "$src/fuzz" && ls ./*_fuzz.c | sed 's|^\./||; s|_fuzz\.c$||' | tr '\n' ' ')
targets=${*:-$all_targets}
for t in $targets; do
	[ -f "$src/fuzz/${t}_fuzz.c" ] || { echo "$0: no target $t (have: $all_targets)" >&2; usage; }
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
	jwks | config | principal) echo "$src/fuzz/dict/json.dict" ;;
	*) if [ -f "$src/fuzz/dict/$1.dict" ]; then echo "$src/fuzz/dict/$1.dict"; fi ;;
	esac
}

# clang and libFuzzer's runtime (libclang_rt.fuzzer-x86_64.a).
have_libfuzzer() {
	command -v clang >/dev/null 2>&1 &&
		[ -n "$(find /usr/lib/llvm-*/lib/clang -name 'libclang_rt.fuzzer*.a' 2>/dev/null | head -1)" ]
}
if ! have_libfuzzer; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "== installing clang and libclang-rt-14-dev"
		log="${TMPDIR:-/tmp}/fulcrum-apt-clang.log"
		DEBIAN_FRONTEND=noninteractive apt-get install -y clang libclang-rt-14-dev >"$log" 2>&1 || {
			echo "$0: apt-get install clang libclang-rt-14-dev failed, see $log" >&2
			exit 2
		}
	else
		echo "$0: libFuzzer is missing: apt-get install clang libclang-rt-14-dev" >&2
		exit 2
	fi
fi

echo "== building into $out/build"
mkdir -p "$out/logs"
if [ ! -f "$out/build/build.ninja" ]; then
	CC=clang meson setup "$out/build" "$src" -Dfuzzing=true -Dtestable=true \
		-Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized \
		>"$out/logs/meson-setup.log" 2>&1 || {
		echo "$0: meson setup failed, see $out/logs/meson-setup.log" >&2
		exit 2
	}
fi
exes=""
for t in $targets; do exes="$exes fuzz/${t}_fuzz"; done
# shellcheck disable=SC2086
ninja -C "$out/build" $exes >"$out/logs/build.log" 2>&1 || {
	echo "$0: build failed, see $out/logs/build.log" >&2
	exit 2
}
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
		"$out/build/fuzz/${t}_fuzz" "$@" "$work" "$src/fuzz/corpus/$t" $(fixtures "$t") \
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
