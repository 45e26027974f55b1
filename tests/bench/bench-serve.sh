#!/usr/bin/env bash
# Certificates per second, latency percentiles and server CPU per
# certificate for `fulcrum serve --ca ephemeralca` without CT, driven by wrk
# on the same machine. The CPU is that of every process of the service (the
# network process, the supervisor and the signer process), from
# /proc/PID/stat. SERVE_ARGS adds serve flags (e.g. SERVE_ARGS=--no-signer-process
# for the single-process baseline); the issuance journal is kept in a
# temporary directory on the same file system as /tmp.
# Usage: tests/bench/bench-serve.sh [BUILD_DIR] [SECONDS] [CONNECTIONS...]
# Use a release build (meson setup build --buildtype=release). Prints one
# line per connection count.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/bench/bench-lib.sh"
build=${1:-$root/build}
secs=${2:-10}
shift 2 2>/dev/null || shift $#
conns=("${@:-16 64 256}")
[ ${#conns[@]} -eq 1 ] && read -r -a conns <<<"${conns[0]}"
command -v wrk >/dev/null || { echo "bench-serve: wrk is not installed (apt-get install wrk)"; exit 1; }

tmp=$(mktemp -d /tmp/fulcrum-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

"$build/tests/test-issuer" --port-file "$tmp/idp.port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/idp.port" ] && break; sleep 0.05; done
idp="http://127.0.0.1:$(cat "$tmp/idp.port")"
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}' "$idp" "$idp" >"$tmp/config.json"
# shellcheck disable=SC2086
"$build/cmd/fulcrum" serve --ca ephemeralca --config-path "$tmp/config.json" --host 127.0.0.1 --port 0 \
  --port-file "$tmp/ca.port" --metrics-port 0 --ct-log-url "" --journal-dir "$tmp/journal" \
  ${SERVE_ARGS:-} >"$tmp/serve.log" 2>&1 &
pids+=($!)
serve_pid=$!
for _ in $(seq 100); do [ -s "$tmp/ca.port" ] && break; sleep 0.05; done
ca="http://127.0.0.1:$(cat "$tmp/ca.port")"

# One token and one key for every request (see bench-lib.sh).
bench_signing_request "$idp" "$tmp" || { echo "bench-serve: cannot prepare the request"; exit 1; }
# cpu_ticks: user+system clock ticks of the service's processes so far.
cpu_ticks() {
  local p todo=("$serve_pid") sum=0
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
echo "fulcrum serve ${SERVE_ARGS:-(signer process, journal)}, ephemeralca P-256, no CT, ES256 tokens, P-256 PoP; wrk on the same $(nproc)-core machine, ${secs}s per run; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${conns[@]}"; do
  t0=$(cpu_ticks)
  out=$(wrk -t2 -c"$c" -d"${secs}s" --latency -s "$tmp/post.lua" "$ca/api/v2/signingCert")
  t1=$(cpu_ticks)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ' || true)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu_us=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0)}')
  echo "connections=$c certs_per_s=$rps p50=$p50 p99=$p99 cpu_per_cert_us=$cpu_us ${errs:+errors: $errs}"
done
