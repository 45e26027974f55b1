#!/usr/bin/env bash
# The connection sweep: wrk with 1, 32, 127, 128, 129, 256, 384, 512 and 1000
# keep-alive connections against GET /healthz, with --threads 1 and the
# default. libmicrohttpd's own event loop stalls when exactly a multiple of
# 128 events are ready (docs/http.md); every run here must keep answering:
# at least SWEEP_FLOOR requests a second over the run and SWEEP_SEC_FLOOR
# answers in every whole second of it (a stalled run answers a first burst
# and then nothing: tests/integration/http-sweep.lua counts per second). This runs against the
# suite's (sanitizer) build; tests/bench/bench-sweep.sh prints the figures
# of a release build.
. "$(dirname "$0")/http-lib.sh"
command -v wrk >/dev/null || t_skip "wrk not installed (Debian package wrk)"
[ "$(ulimit -n)" -ge 2200 ] || ulimit -n 4096 2>/dev/null || t_skip "cannot open 2200 files"

FLOOR=${SWEEP_FLOOR:-500}     # requests/s over the run
SEC_FLOOR=${SWEEP_SEC_FLOOR:-100} # answers in each whole second of it
SECS=${SWEEP_SECS:-5}
LUA="$(cd "$(dirname "$0")" && pwd)/http-sweep.lua"
for mode in 1 default; do
  targs=()
  [ "$mode" = default ] || targs=(--threads "$mode")
  # No per-address cap: wrk's 1000 connections all come from 127.0.0.1.
  serve_start "s$mode" --ca ephemeralca --max-connections-per-ip 0 "${targs[@]}" || exit 1
  url_var="s${mode}_URL"
  url=${!url_var}
  for c in 1 32 127 128 129 256 384 512 1000; do
    out=$(wrk -t"$([ "$c" -ge 2 ] && echo 2 || echo 1)" -c"$c" -d"${SECS}s" --timeout 2s -s "$LUA" \
      "$url/healthz" -- "$SECS" 2>&1)
    rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    read -r -a per <<<"$(sed -n 's/^per-second: //p' <<<"$out")"
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    # the whole seconds: all but the first and the last (partial) ones
    low=$(printf '%s\n' "${per[@]:1:$((SECS - 1))}" | sort -n | head -1)
    if [ "${rps:-0}" -ge "$FLOOR" ] && [ "${low:-0}" -ge "$SEC_FLOOR" ] && [ -z "$non2xx" ]; then
      t_ok "--threads $mode, $c connections: $rps requests/s; per second: ${per[*]}"
    else
      t_bad "--threads $mode, $c connections: ${rps:-0} requests/s (floor $FLOOR), per second: ${per[*]} (floor $SEC_FLOOR), non-2xx ${non2xx:-0}: $(tr '\n' ' ' <<<"$out" | tr -s ' ')"
    fi
  done
  pid_var="s${mode}_PID"
  kill -TERM "${!pid_var}"
  wait "${!pid_var}"
  rc=$?
  [ "$rc" = 0 ] && t_ok "--threads $mode: clean exit" || t_bad "--threads $mode: exit $rc"
  sanitizer_clean "$T_TMP/s$mode.serve.log" && t_ok "--threads $mode: no sanitizer report" \
    || t_bad "--threads $mode: sanitizer report"
done
t_done
