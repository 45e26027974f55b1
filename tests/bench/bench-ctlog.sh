#!/usr/bin/env bash
# Benchmark of fulcrum ctlog: add-pre-chain throughput and SCT latency
# (p50/p99, from wrk) at batch ages of 250 ms and 1 s, for 50, 200 and
# 1,000 concurrent submitters. Every request carries a different
# precertificate (pre-generated chains rotated through by the Lua script),
# so nothing is deduplicated. Each run starts a fresh log on a fresh
# storage directory and warms it up for 3 s (connections opened, issuer
# chain verified and cached) before the measured run, which submits bodies
# the warm-up did not; "entries/s" is what the tree grew by during the
# measured run divided by its duration (sequenced, fsynced and published),
# and "CPU/entry" the log process's CPU time over the same interval.
#
#   FULCRUM_BIN=/path/to/release/fulcrum tests/bench/bench-ctlog.sh [SECONDS]
#
# Use a release build (meson setup -Dbuildtype=release): sanitizers slow
# everything down several times.
here=$(cd "$(dirname "$0")" && pwd)
: "${FULCRUM_BIN:?FULCRUM_BIN must name the fulcrum binary}"
export FULCRUM_TEST_ISSUER=${FULCRUM_TEST_ISSUER:-/bin/true}
source "$here/../integration/lib.sh"
source "$here/../integration/ctlog-lib.sh"

command -v wrk >/dev/null || t_skip "wrk is needed"
ct_need_reader
DUR=${1:-6}
AGES=${CTLOG_BENCH_AGES:-"250ms 1s"}
CONNS=${CTLOG_BENCH_CONNS:-"50 200 1000"}
THREADS=2

ca="$T_TMP/ca"
ct_make_ca "$ca"
n=$(((DUR + 3) * 6000))
echo "generating $n distinct precertificate chains..."
"$CT_READER" gen -issuer-cert "$ca/inter.pem" -issuer-key "$ca/inter.key" -root "$ca/root.pem" \
  -n "$n" -precert -out "$T_TMP/bodies.jsonl" || exit 1

echo "machine: $(nproc) CPUs, $(uname -sr); ${DUR}s per run; storage in $T_TMP ($(df -T "$T_TMP" | awk 'NR==2 {print $2}'))"
printf '%-10s %6s %10s %10s %10s %10s %8s %10s\n' "batch age" conns "req/s" "entries/s" "p50" "p99" "non-2xx" "CPU/entry"
run=0
for age in $AGES; do
  for c in $CONNS; do
    run=$((run + 1))
    ct_start "b$run" "$T_TMP/store$run" "$ca/root.pem" "$ca/log.key" --batch-max-age "$age" \
      >/dev/null || exit 1
    url_var="b${run}_URL"
    pid_var="b${run}_PID"
    wrk -t "$THREADS" -c "$c" -d 3s --timeout 10s -s "$here/bench-ctlog.lua" \
      "${!url_var}" -- "$T_TMP/bodies.jsonl" "$THREADS" 0 >/dev/null 2>&1
    warm=$(ct_tree_size "${!url_var}")
    cpu0=$(awk '{print $14 + $15}' "/proc/${!pid_var}/stat")
    wrk -t "$THREADS" -c "$c" -d "${DUR}s" --timeout 10s --latency -s "$here/bench-ctlog.lua" \
      "${!url_var}" -- "$T_TMP/bodies.jsonl" "$THREADS" "$warm" >"$T_TMP/wrk.$run" 2>&1
    cpu1=$(awk '{print $14 + $15}' "/proc/${!pid_var}/stat")
    size=$(($(ct_tree_size "${!url_var}") - warm))
    ct_stop "${!pid_var}"
    hz=$(getconf CLK_TCK)
    cpu_us=$(( (cpu1 - cpu0) * 1000000 / hz / (size > 0 ? size : 1) ))
    rps=$(awk '/^Requests\/sec/ {print $2}' "$T_TMP/wrk.$run")
    p50=$(awk '/^ +50%/ {print $2}' "$T_TMP/wrk.$run")
    p99=$(awk '/^ +99%/ {print $2}' "$T_TMP/wrk.$run")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$T_TMP/wrk.$run")
    printf '%-10s %6s %10s %10s %10s %10s %8s %8s us\n' "$age" "$c" "$rps" "$((size / DUR))" "$p50" \
      "$p99" "${non2xx:-0}" "$cpu_us"
  done
done
t_done >/dev/null
