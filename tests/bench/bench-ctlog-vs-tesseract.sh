#!/usr/bin/env bash
# fulcrum ctlog against TesseraCT POSIX (the pinned build the tests use,
# tests/tools/install-tesseract.sh) on the same machine, with the same roots
# and the same precertificate chains, the same batch age (1 s and 250 ms:
# fulcrum ctlog --batch-max-age; TesseraCT --batch_max_age and
# --checkpoint_interval, since it answers once a checkpoint covers the
# entry), the same batch size (1,024) and no EKU filter, under the same
# add-pre-chain load: wrk with bench-ctlog.lua (a different precertificate
# per request) at 50, 200 and 1,000 submitters. The two logs alternate
# (fulcrum first in odd rounds, TesseraCT first in even ones); each run
# starts a fresh log on a fresh directory, warms it up for 3 s, then
# measures for SECONDS:
#   entries/s   tree growth over the run (the log's own checkpoint)
#   p50, p99    SCT latency seen by wrk
#   CPU/entry   utime+stime of the log's processes (/proc/PID/stat; fulcrum
#               ctlog's network process, supervisor and signer) / entries
#   RSS         peak resident size of the log's processes (the sum of VmHWM)
# Then, per batch age and submitters, the median of the rounds and the
# ratios TesseraCT/fulcrum (CPU per entry) and fulcrum/TesseraCT
# (entries/s), against the aims: CPU per entry <= 1/3 of TesseraCT's,
# entries/s >= 3x at 1,000 submitters, p99 <= batch age + 100 ms.
#
# Part 2: fulcrum serve --ca fileca with one log (fulcrum ctlog) against the
# same CA with two logs (fulcrum ctlog then TesseraCT, policy 1 of 2, and 2
# of 2), 250 ms batches: certificates/s and p99 at 50 and 200 clients.
#
#   FULCRUM_BIN=build-rel/cmd/fulcrum FULCRUM_DEPS=... \
#     tests/bench/bench-ctlog-vs-tesseract.sh [SECONDS]
# BENCH_ROUNDS (default 2), BENCH_AGES ("1s 250ms"), BENCH_CONNS ("50 200
# 1000"), BENCH_CA=0 skips part 2, BENCH_CTLOG_ARGS (more flags for fulcrum
# ctlog, e.g. --no-signer-process). Use a release build (meson setup
# build-rel --buildtype=release): sanitizers slow everything several times.
here=$(cd "$(dirname "$0")" && pwd)
: "${FULCRUM_BIN:?FULCRUM_BIN must name the (release) fulcrum binary}"
export FULCRUM_TEST_ISSUER=${FULCRUM_TEST_ISSUER:-$(dirname "$FULCRUM_BIN")/../tests/test-issuer}
source "$here/../integration/lib.sh"
source "$here/../interop/ct-lib.sh"
source "$here/../integration/ctlog-lib.sh" # its ct_make_ca: root, inter, log key
source "$here/bench-lib.sh"

command -v wrk >/dev/null || t_skip "wrk is needed"
ct_have_tesseract || t_skip "TesseraCT not installed at $TESSERACT_BIN"
[ -x "$CT_READER" ] || ct_need_reader
DUR=${1:-10}
ROUNDS=${BENCH_ROUNDS:-2}
read -r -a AGES <<<"${BENCH_AGES:-1s 250ms}"
read -r -a CONNS <<<"${BENCH_CONNS:-50 200 1000}"
HZ=$(getconf CLK_TCK)
[ "$(ulimit -n)" -ge 8192 ] || ulimit -n 8192 2>/dev/null || echo "warning: ulimit -n is $(ulimit -n)"

ca="$T_TMP/ca"
ct_make_ca "$ca"
n=$(((DUR + 4) * 6000))
echo "generating $n distinct precertificate chains..."
"$CT_READER" gen -issuer-cert "$ca/inter.pem" -issuer-key "$ca/inter.key" -root "$ca/root.pem" \
  -n "$n" -precert -out "$T_TMP/bodies.jsonl" || exit 1

ms_of() { # "1s" / "250ms" -> ms
  case $1 in *ms) echo "${1%ms}" ;; *s) echo $((${1%s} * 1000)) ;; esac
}
# wrk's latency ("312.45ms", "1.02s", "850.00us") in ms
wrk_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v / 1000; else if (v ~ /ms$/) print v + 0; else if (v ~ /s$/) print v * 1000; else print v }'; }

# A log is a process and its descendants (fulcrum ctlog: the network
# process, the signer's supervisor and the signer process).
tree_pids() {
  local p
  echo "$1"
  for p in $(ps -o pid= --ppid "$1"); do tree_pids "$p"; done
}
tree_sum() { # PID FILE AWK-PROGRAM
  local p t=0
  for p in $(tree_pids "$1"); do t=$((t + $(awk "$3" "/proc/$p/$2" 2>/dev/null || echo 0))); done
  echo "$t"
}
cpu_ticks() { tree_sum "$1" stat '{print $14 + $15}'; }
hwm_kb() { tree_sum "$1" status '/^VmHWM:/ {print $2}'; }

# start_log KIND AGE NAME: sets LOG_URL, LOG_PID, LOG_SIZE_CMD.
start_log() {
  local kind=$1 age=$2 name=$3
  if [ "$kind" = fulcrum ]; then
    ct_start "$name" "$T_TMP/$name.store" "$ca/root.pem" "$ca/log.key" --batch-max-age "$age" \
      --batch-max-size 1024 ${BENCH_CTLOG_ARGS:-} >/dev/null || return 1
  else
    CT_ORIGIN='' tesseract_start "$name" "$ca/root.pem" "$age" --batch_max_age="$age" \
      --batch_max_size=1024 --ext_key_usages=Any >/dev/null || return 1
  fi
  local u="${name}_URL" p="${name}_PID"
  LOG_URL=${!u}
  LOG_PID=${!p}
}
log_size() { # KIND NAME
  if [ "$1" = fulcrum ]; then ct_tree_size "$LOG_URL"; else sed -n 2p "$T_TMP/$2/storage/checkpoint"; fi
}

# run KIND AGE CONNS ROUND: one measured run; appends a result line.
run() {
  local kind=$1 age=$2 c=$3 round=$4 name warm cpu0 cpu1 size out rps p50 p99 non2xx hwm
  name="${kind:0:1}$round${age}c$c"
  start_log "$kind" "$age" "$name" || { echo "$kind did not start"; return 1; }
  wrk -t2 -c "$c" -d 3s --timeout 15s -s "$here/bench-ctlog.lua" "$LOG_URL" -- \
    "$T_TMP/bodies.jsonl" 2 0 >/dev/null 2>&1
  sleep "$(awk -v a="$(ms_of "$age")" 'BEGIN { print a * 2 / 1000 + 0.5 }')"
  warm=$(log_size "$kind" "$name")
  cpu0=$(cpu_ticks "$LOG_PID")
  out=$(wrk -t2 -c "$c" -d "${DUR}s" --timeout 15s --latency -s "$here/bench-ctlog.lua" "$LOG_URL" -- \
    "$T_TMP/bodies.jsonl" 2 "$((warm + 1000))" 2>&1)
  sleep "$(awk -v a="$(ms_of "$age")" 'BEGIN { print a * 2 / 1000 + 0.5 }')" # the last batch published
  cpu1=$(cpu_ticks "$LOG_PID")
  hwm=$(hwm_kb "$LOG_PID")
  size=$(($(log_size "$kind" "$name") - warm))
  ct_stop "$LOG_PID"
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(wrk_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(wrk_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%s %s %s %s %s %s %s %s %s %s\n' "$kind" "$age" "$c" "$round" "$((size / DUR))" \
    "$p50" "$p99" "$(( (cpu1 - cpu0) * 1000000 / HZ / (size > 0 ? size : 1) ))" "$((hwm / 1024))" \
    "${non2xx:-0}" >>"$T_TMP/results"
  printf '%-8s %-6s %5s %3s %10s %9.0f %9.0f %9s %7s %6s\n' "$kind" "$age" "$c" "$round" \
    "$((size / DUR))" "$p50" "$p99" "$(( (cpu1 - cpu0) * 1000000 / HZ / (size > 0 ? size : 1) ))" \
    "$((hwm / 1024))" "${non2xx:-0}"
  rm -rf "$T_TMP/$name.store" "$T_TMP/$name"
}

echo "machine: $(nproc) CPUs, $(uname -sr); load: $(uptime | sed 's/.*load/load/'); ${DUR}s per run, $ROUNDS rounds"
echo "TesseraCT: $(cat "$CT_DEPS/bin/tesseract-posix.version" 2>/dev/null); fulcrum: $FULCRUM_BIN"
printf '%-8s %-6s %5s %3s %10s %9s %9s %9s %7s %6s\n' log age conns rnd entries/s p50_ms p99_ms cpu_us/e rss_MB non2xx
: >"$T_TMP/results"
for age in "${AGES[@]}"; do
  for c in "${CONNS[@]}"; do
    for round in $(seq "$ROUNDS"); do
      if [ $((round % 2)) = 1 ]; then order="fulcrum tesseract"; else order="tesseract fulcrum"; fi
      for kind in $order; do run "$kind" "$age" "$c" "$round"; done
    done
  done
done

echo
echo "medians of the rounds; ratios and aims (load now: $(uptime | sed 's/.*load/load/'))"
printf '%-6s %5s | %10s %8s %8s %8s %6s | %10s %8s %8s %8s %6s | %7s %7s %s\n' age conns \
  "F e/s" "F p50" "F p99" "F cpu" "F MB" "T e/s" "T p50" "T p99" "T cpu" "T MB" "e/s x" "cpu /" "aims"
for age in "${AGES[@]}"; do
  for c in "${CONNS[@]}"; do
    med() { # KIND COLUMN
      awk -v k="$1" -v a="$age" -v c="$c" -v col="$2" '$1 == k && $2 == a && $3 == c {print $col}' \
        "$T_TMP/results" | sort -n |
        awk '{v[NR] = $1} END {if (!NR) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
    }
    fe=$(med fulcrum 5) fp50=$(med fulcrum 6) fp99=$(med fulcrum 7) fc=$(med fulcrum 8) fm=$(med fulcrum 9)
    te=$(med tesseract 5) tp50=$(med tesseract 6) tp99=$(med tesseract 7) tc=$(med tesseract 8) tm=$(med tesseract 9)
    ex=$(awk -v f="$fe" -v t="$te" 'BEGIN { printf "%.2f", (t > 0 ? f / t : 0) }')
    cx=$(awk -v f="$fc" -v t="$tc" 'BEGIN { printf "%.2f", (f > 0 ? t / f : 0) }')
    aims="cpu<=1/3:$(awk -v x="$cx" 'BEGIN { print (x >= 3 ? "yes" : "NO") }')"
    aims+=" p99<=age+100:$(awk -v p="$fp99" -v a="$(ms_of "$age")" 'BEGIN { print (p <= a + 100 ? "yes" : "NO") }')"
    [ "$c" = 1000 ] && aims+=" e/s>=3x:$(awk -v x="$ex" 'BEGIN { print (x >= 3 ? "yes" : "NO") }')"
    printf '%-6s %5s | %10.0f %8.0f %8.0f %8.0f %6.0f | %10.0f %8.0f %8.0f %8.0f %6.0f | %7s %7s %s\n' "$age" "$c" \
      "$fe" "$fp50" "$fp99" "$fc" "$fm" "$te" "$tp50" "$tp99" "$tc" "$tm" "$ex" "$cx" "$aims"
  done
done

[ "${BENCH_CA:-1}" = 0 ] && { t_done >/dev/null; exit 0; }
echo
echo "part 2: fulcrum serve --ca fileca, one log against two (250 ms batches on both logs)"
issuer_start idp
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}' "$idp_URL" "$idp_URL" >"$T_TMP/config.json"
# fileca: the intermediate signs (chain = intermediate, root)
cat "$ca/inter.pem" "$ca/root.pem" >"$ca/chain.pem"
bench_signing_request "$idp_URL" "$T_TMP" || exit 1
ct_start caF "$T_TMP/caF.store" "$ca/root.pem" "$ca/log.key" --batch-max-age 250ms >/dev/null || exit 1
CT_ORIGIN='' tesseract_start caT "$ca/root.pem" 250ms --batch_max_age=250ms --ext_key_usages=Any >/dev/null || exit 1
FILECA=(--ca fileca --config-path "$T_TMP/config.json" --fileca-cert "$ca/chain.pem" --fileca-key "$ca/inter.key" --fileca-watch false)
serve_start one "${FILECA[@]}" --ct-log-url "$caF_URL" --ct-log-public-key-path "$ca/log.pub" || exit 1
serve_start two "${FILECA[@]}" --ct-log-url "$caF_URL" --ct-log-public-key-path "$ca/log.pub" \
  --ct-log-url "$caT_URL" --ct-log-public-key-path "$caT_PUB" || exit 1
serve_start both "${FILECA[@]}" --ct-log-min-scts 2 --ct-log-url "$caF_URL" --ct-log-public-key-path "$ca/log.pub" \
  --ct-log-url "$caT_URL" --ct-log-public-key-path "$caT_PUB" || exit 1
printf '%-28s %5s %3s %9s %9s %9s %7s\n' CA clients rnd certs/s p50_ms p99_ms errors
for c in 50 200; do
  for round in $(seq "$ROUNDS"); do
    for name in one two both; do
      u="${name}_URL"
      curl -fsS -o /dev/null -X POST --data-binary @"$T_TMP/body.json" "${!u}/api/v2/signingCert" || echo "warm-up failed"
      out=$(wrk -t2 -c"$c" -d"${DUR}s" --timeout 30s --latency -s "$T_TMP/post.lua" "${!u}/api/v2/signingCert" 2>/dev/null)
      case $name in one) label="1 log (fulcrum ctlog)" ;; two) label="2 logs, 1 of 2" ;; both) label="2 logs, 2 of 2" ;; esac
      printf '%-28s %5s %3s %9s %9.0f %9.0f %7s\n' "$label" "$c" "$round" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
        "$(wrk_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")" "$(wrk_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")" \
        "$(awk '/Non-2xx/ {print $5}' <<<"$out")"
    done
  done
done
echo "load after: $(uptime | sed 's/.*load/load/')"
t_done >/dev/null
