#!/usr/bin/env bash
# Requests per second and latency percentiles of `fulcrum serve` over a sweep
# of keep-alive connection counts, with --threads 1 and the default, driven
# by wrk on the same machine. Prints one line per run and the load average.
#
# Usage: tests/bench/bench-sweep.sh [BUILD_DIR] [SECONDS] [ENDPOINT] [CONNECTIONS...]
#   BUILD_DIR    a release build (meson setup build-rel --buildtype=release
#                -Dtestable=true); default build-rel
#   SECONDS      per run (default 10)
#   ENDPOINT     healthz (GET /healthz, the cheapest request) or sign
#                (POST /api/v2/signingCert, ephemeralca, no CT); default sign
#   CONNECTIONS  default "32 1000"
# Environment: SWEEP_THREADS (default "1 default"), SWEEP_EXTRA (more flags
# for fulcrum serve: "--max-connections-per-ip 0" lets all of wrk's
# connections in past the default per-address cap of 512).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/bench/bench-lib.sh"
build=${1:-$root/build-rel}
secs=${2:-10}
endpoint=${3:-sign}
shift 3 2>/dev/null || shift $#
conns=("${@:-32 1000}")
[ ${#conns[@]} -eq 1 ] && read -r -a conns <<<"${conns[0]}"
read -r -a thread_modes <<<"${SWEEP_THREADS:-1 default}"
read -r -a extra <<<"${SWEEP_EXTRA:-}"
command -v wrk >/dev/null || { echo "bench-sweep: wrk is not installed (apt-get install wrk)"; exit 1; }
[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096 2>/dev/null || true

tmp=$(mktemp -d /tmp/fulcrum-sweep.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

"$build/tests/test-issuer" --port-file "$tmp/idp.port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/idp.port" ] && break; sleep 0.05; done
idp="http://127.0.0.1:$(cat "$tmp/idp.port")"
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}' "$idp" "$idp" >"$tmp/config.json"
bench_signing_request "$idp" "$tmp" || { echo "bench-sweep: cannot prepare the request"; exit 1; }

case $endpoint in
sign) path=/api/v2/signingCert; script=(-s "$tmp/post.lua") ;;
healthz) path=/healthz; script=() ;;
*) echo "bench-sweep: ENDPOINT must be sign or healthz"; exit 2 ;;
esac

echo "fulcrum serve ($build), $endpoint ($path), ephemeralca P-256, no CT; wrk -t2 on the same $(nproc)-core machine, ${secs}s per run"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
for tm in "${thread_modes[@]}"; do
  targs=()
  [ "$tm" = default ] || targs=(--threads "$tm")
  rm -f "$tmp/ca.port"
  "$build/cmd/fulcrum" serve --ca ephemeralca --config-path "$tmp/config.json" --host 127.0.0.1 --port 0 \
    --port-file "$tmp/ca.port" --metrics-port 0 --ct-log-url "" --journal-dir "$tmp/journal" \
    "${targs[@]}" "${extra[@]}" >"$tmp/serve.log" 2>&1 &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 100); do [ -s "$tmp/ca.port" ] && break; sleep 0.05; done
  ca="http://127.0.0.1:$(cat "$tmp/ca.port")"
  for c in "${conns[@]}"; do
    out=$(wrk -t2 -c"$c" -d"${secs}s" --timeout 10s --latency "${script[@]}" "$ca$path" 2>/dev/null)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ' || true)
    echo "threads=$tm connections=$c requests_per_s=$rps p50=$p50 p99=$p99 ${errs:+errors: $errs}"
  done
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null || true
done
echo "load after: $(uptime | sed 's/.*load average/load average/')"
