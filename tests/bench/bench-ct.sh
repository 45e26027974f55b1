#!/usr/bin/env bash
# Certificates per second and latency percentiles for `fulcrum serve --ca
# fileca` submitting every precertificate to a real CT log, TesseraCT POSIX
# (tests/tools/install-tesseract.sh), on loopback, with TesseraCT publishing
# checkpoints every 1 s and every 250 ms (it answers add-pre-chain once a
# checkpoint covers the entry, so that interval bounds the latency). Driven by
# wrk (one connection = one client; -c is the concurrency) with one token
# (far-future exp) and one key/PoP for every request.
# Usage: tests/bench/bench-ct.sh [BUILD_DIR] [SECONDS] [CONNECTIONS...]
# (default: <repo>/build, 10 s, "50 200 1000"; a run lasts at least
# connections/30 s; INTERVALS="1s 250ms" overrides the checkpoint intervals). Use a release build (meson setup build
# --buildtype=release). Prints one line per interval and connection count.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/bench/bench-lib.sh"
build=${1:-$root/build}
secs=${2:-10}
shift 2 2>/dev/null || shift $#
conns=("${@:-50 200 1000}")
[ ${#conns[@]} -eq 1 ] && read -r -a conns <<<"${conns[0]}"
read -r -a intervals <<<"${INTERVALS:-1s 250ms}"
command -v wrk >/dev/null || { echo "bench-ct: wrk is not installed (apt-get install wrk)"; exit 1; }
FULCRUM_BIN="$build/cmd/fulcrum"
[ -x "$FULCRUM_BIN" ] || { echo "bench-ct: no $FULCRUM_BIN (build first)"; exit 1; }

T_TMP=$(mktemp -d /tmp/fulcrum-bench-ct.XXXXXX)
T_PIDS=()
cleanup() {
  local p
  for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${T_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T_TMP"
}
trap cleanup EXIT
t_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
t_wait_http() {
  local i
  for i in $(seq $((${2:-30} * 10))); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
. "$root/tests/interop/ct-lib.sh"
ct_have_tesseract || { echo "bench-ct: TesseraCT not installed (tests/tools/install-tesseract.sh)"; exit 1; }
# wrk -c 1000 plus the server side of each connection, twice over
[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096 2>/dev/null || echo "bench-ct: warning: ulimit -n is $(ulimit -n)"

"$build/tests/test-issuer" --port-file "$T_TMP/idp.port" >/dev/null 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do [ -s "$T_TMP/idp.port" ] && break; sleep 0.05; done
idp="http://127.0.0.1:$(cat "$T_TMP/idp.port")"
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}' "$idp" "$idp" >"$T_TMP/config.json"
ct_make_ca "$T_TMP/ca"

bench_signing_request "$idp" "$T_TMP" || { echo "bench-ct: cannot prepare the request"; exit 1; }

echo "fulcrum serve, fileca P-256, CT: TesseraCT POSIX $(cut -d' ' -f2 "$CT_DEPS/bin/tesseract-posix.version" 2>/dev/null) on loopback (publication awaiter on); ES256 tokens, P-256 PoP; wrk -t2 --timeout 30s on the same $(nproc)-core machine, ${secs}s per run (at least connections/30 s); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for iv in "${intervals[@]}"; do
  tesseract_start "ct$iv" "$T_TMP/ca/root.pem" "$iv" || { echo "bench-ct: TesseraCT did not start"; exit 1; }
  name="ct$iv"; url_var="${name}_URL"; pub_var="${name}_PUB"; pid_var="${name}_PID"
  fulcrum_ct_start "ca$iv" "${!url_var}" "${!pub_var}" --ca fileca --config-path "$T_TMP/config.json" \
    --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" --fileca-watch false \
    || { echo "bench-ct: fulcrum serve did not start"; exit 1; }
  ca_var="ca${iv}_URL"; ca=${!ca_var}
  code=$(curl -s -o "$T_TMP/warm.json" -w '%{http_code}' -X POST --data-binary @"$T_TMP/body.json" "$ca/api/v2/signingCert")
  [ "$code" = 200 ] && grep -q signedCertificateEmbeddedSct "$T_TMP/warm.json" \
    || { echo "bench-ct: warm-up request answered $code: $(head -c 300 "$T_TMP/warm.json")"; exit 1; }
  for c in "${conns[@]}"; do
    # a request may wait several seconds at high concurrency; wrk counts only
    # the requests completed inside the run, so run at least c/30 seconds
    # (30 s for 1,000 clients) to measure the steady state
    d=$secs
    [ $((c / 30)) -gt "$d" ] && d=$((c / 30))
    out=$(wrk -t2 -c"$c" -d"${d}s" --timeout 30s --latency -s "$T_TMP/post.lua" "$ca/api/v2/signingCert" 2>"$T_TMP/wrk.err")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ' || true)
    echo "checkpoint_interval=$iv connections=$c seconds=$d certs_per_s=$rps p50=$p50 p99=$p99 ${errs:+errors: $errs}"
    if [ -s "$T_TMP/wrk.err" ]; then
      sed -E 's/(within the deadline of [0-9]+ ms).*/\1/' "$T_TMP/wrk.err" | sort | uniq -c | sort -rn | head -5 | sed 's/^/    /'
    fi
  done
  size=$(sed -n 2p "$T_TMP/$name/storage/checkpoint" 2>/dev/null || echo '?')
  echo "  (TesseraCT tree size after the runs: $size)"
  kill "${!pid_var}" 2>/dev/null || true
  ca_pid_var="ca${iv}_PID"; kill "${!ca_pid_var}" 2>/dev/null || true
done
