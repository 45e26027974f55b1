#!/usr/bin/env bash
# The cost of TLS on fulcrum serve's listener: the same load over plain HTTP
# and over HTTPS (--tls-cert, a P-256 leaf and its intermediate; wrk
# negotiates TLS 1.3), runs interleaved, driven by wrk on the same machine;
# the CPU time of the service's processes (the network process, the
# supervisor and the signer process) read from /proc/PID/stat around each
# run. SERVE_ARGS adds serve flags (e.g. SERVE_ARGS=--no-signer-process);
# the issuance journal is kept in a temporary directory. Prints,
# per line, the median of RUNS runs and the load average (/proc/loadavg:
# 1, 5 and 15 minutes) as the line's last run ended.
#   sign:     POST /api/v2/signingCert (ephemeralca P-256, no CT), 32
#             keep-alive connections: certificates/s, p99, CPU per certificate
#   healthz:  GET /healthz, 32 keep-alive connections: requests/s, CPU per request
#   connect:  GET /healthz with Connection: close, 32 connections: a new
#             connection (and so, with TLS, a full handshake) per request
#
# Usage: tests/bench/bench-tls.sh [BUILD_DIR] [SECONDS] [RUNS]
#   BUILD_DIR  a release build (meson setup build-rel --buildtype=release
#              -Dtestable=true); default build-rel
#   SECONDS    per run (default 8); RUNS per mode (default 3)
# Not a test: it prints figures (docs/benchmarks.md, "TLS").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/bench/bench-lib.sh"
. "$root/tests/integration/tls-lib.sh"
build=${1:-$root/build-rel}
secs=${2:-8}
runs=${3:-3}
command -v wrk >/dev/null || { echo "bench-tls: wrk is not installed (apt-get install wrk)"; exit 1; }

tmp=$(mktemp -d /tmp/fulcrum-bench-tls.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

"$build/tests/test-issuer" --port-file "$tmp/idp.port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/idp.port" ] && break; sleep 0.05; done
idp="http://127.0.0.1:$(cat "$tmp/idp.port")"
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}' "$idp" "$idp" >"$tmp/config.json"
bench_signing_request "$idp" "$tmp" || { echo "bench-tls: cannot prepare the request"; exit 1; }
tls_make_pki "$tmp/pki" || { echo "bench-tls: cannot make the test PKI"; exit 1; }

# cpu_ticks PID: user + system time of PID and its descendants (the
# supervisor and the signer process), in clock ticks.
cpu_ticks() {
  local p todo=("$1") sum=0
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    # shellcheck disable=SC2207
    todo+=($(cat /proc/"$p"/task/*/children 2>/dev/null))
  done
  echo "$sum"
}
hz=$(getconf CLK_TCK)

# one MODE WORKLOAD: start the server, run wrk once, print "rate p99 cpu_us
# load1 load5 load15" (the load average as the run ends).
one() {
  local mode=$1 what=$2 spid scheme=http tls=() wargs=() out c0 c1 n rate p99
  [ "$mode" = https ] && scheme=https && tls=(--tls-cert "$tmp/pki/a.chain.pem" --tls-key "$tmp/pki/a.key")
  rm -f "$tmp/ca.port"
  # shellcheck disable=SC2086
  "$build/cmd/fulcrum" serve --ca ephemeralca --config-path "$tmp/config.json" --host 127.0.0.1 --port 0 \
    --port-file "$tmp/ca.port" --metrics-port 0 --ct-log-url "" --journal-dir "$tmp/journal" \
    ${SERVE_ARGS:-} "${tls[@]}" >"$tmp/serve.log" 2>&1 &
  spid=$!
  for _ in $(seq 100); do [ -s "$tmp/ca.port" ] && break; sleep 0.05; done
  [ -s "$tmp/ca.port" ] || { echo "bench-tls: fulcrum serve did not start:" >&2; tail -5 "$tmp/serve.log" >&2; exit 1; }
  case $what in
  sign) wargs=(-s "$tmp/post.lua" "$scheme://127.0.0.1:$(cat "$tmp/ca.port")/api/v2/signingCert") ;;
  healthz) wargs=("$scheme://127.0.0.1:$(cat "$tmp/ca.port")/healthz") ;;
  connect) wargs=(-H "Connection: close" "$scheme://127.0.0.1:$(cat "$tmp/ca.port")/healthz") ;;
  esac
  sleep 0.5
  c0=$(cpu_ticks "$spid")
  out=$(wrk -t2 -c32 -d"${secs}s" --timeout 10s --latency "${wargs[@]}" 2>/dev/null)
  c1=$(cpu_ticks "$spid")
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null || true
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  rate=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  if grep -Eq 'Non-2xx|Socket errors' <<<"$out"; then
    echo "bench-tls: $mode $what: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')" >&2
  fi
  echo "${rate:-0} ${p99:--} $(((c1 - c0) * 1000000 / hz / (${n:-0} > 0 ? n : 1))) $(cut -d' ' -f1-3 /proc/loadavg)"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "fulcrum serve ($build) ${SERVE_ARGS:-(signer process, journal)}, ephemeralca P-256, no CT, default threads; wrk -t2 -c32 on the same $(nproc)-core machine; ${secs}s x $runs runs per line, interleaved; medians; p99 of each run"
echo "load before: $(cat /proc/loadavg)"
for what in sign healthz connect; do
  unit=requests
  [ "$what" = sign ] && unit=certificates
  for mode in http https; do : >"$tmp/$what.$mode"; done
  for _ in $(seq "$runs"); do
    for mode in http https; do one "$mode" "$what" >>"$tmp/$what.$mode"; done
  done
  for mode in http https; do
    printf '%-8s %-6s %s/s=%s p99=%s cpu_us_per_%s=%s  loadavg: %s\n' "$what" "$mode" "$unit" \
      "$(cut -d' ' -f1 "$tmp/$what.$mode" | median)" \
      "$(cut -d' ' -f2 "$tmp/$what.$mode" | tr '\n' ',' | sed 's/,$//')" "${unit%s}" \
      "$(cut -d' ' -f3 "$tmp/$what.$mode" | median)" "$(tail -1 "$tmp/$what.$mode" | cut -d' ' -f4-6)"
  done
done
echo "load after: $(cat /proc/loadavg)"
