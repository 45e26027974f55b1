#!/usr/bin/env bash
# Benchmark of fulcrum tsa: timestamps per second and latency (p50, p99,
# from wrk) with the signing key in a SoftHSM2 token (P-256) and in a PEM
# file, side by side with sigstore's timestamp-server v2.1.3 (file signer,
# the same key and chain; built by tests/tools/install-timestamp-server.sh)
# on the same machine under the same load: wrk posting one DER
# TimeStampReq (SHA-256, nonce, certReq) over CONNS connections. Rounds
# alternate between the servers; each run is preceded by a 2 s warm-up.
# "CPU/ts" is the server process's CPU time per timestamp, "wrk/ts" the
# load generator's, and "cap/s" what two idle CPUs would sustain at that
# cost (2 s of CPU / (CPU/ts + wrk/ts)): the machine is shared, so ts/s
# follows the load of other jobs while the CPU figures hardly do. Every reply is
# checked to be a granted TimeStampResp by `openssl ts -verify` once per
# server before measuring.
#
#   FULCRUM_BIN=/path/to/release/fulcrum tests/bench/bench-tsa.sh [SECONDS]
#
# Environment: TSA_BENCH_CONNS (default "32"), TSA_BENCH_ROUNDS (default 3),
# TSA_BENCH_THREADS (server threads, default: the number of CPUs).
# Use a release build (meson setup build-rel --buildtype=release):
# sanitizers slow everything down several times.
here=$(cd "$(dirname "$0")" && pwd)
: "${FULCRUM_BIN:?FULCRUM_BIN must name the fulcrum binary}"
export FULCRUM_TEST_ISSUER=${FULCRUM_TEST_ISSUER:-/bin/true}
source "$here/../integration/lib.sh"
source "$here/../integration/hsm-lib.sh"
source "$here/../integration/tsa-lib.sh"

command -v wrk >/dev/null || t_skip "wrk is needed"
DEPS=${FULCRUM_DEPS:-$here/../../.deps}
SIGSTORE_TSA="$DEPS/bin/timestamp-server"
[ -x "$SIGSTORE_TSA" ] || FULCRUM_DEPS="$DEPS" bash "$here/../tools/install-timestamp-server.sh" \
  || t_skip "sigstore timestamp-server could not be built"
DUR=${1:-6}
CONNS=${TSA_BENCH_CONNS:-32}
ROUNDS=${TSA_BENCH_ROUNDS:-3}
THREADS=${TSA_BENCH_THREADS:-$(nproc)}

# --- keys and chains: a file key, and a P-256 key in a SoftHSM2 token ---
tsa_make_chain "$T_TMP/file" || exit 1
hsm_init bench
crypto11_conf "$T_TMP/crypto11.json" bench
mkdir -p "$T_TMP/p11"
"$FULCRUM_BIN" createca --pkcs11-config-path "$T_TMP/crypto11.json" --hsm-caroot-id root \
  --hsm-key-label BENCH --tsa --out "$T_TMP/p11/chain.pem" --org bench >/dev/null 2>&1 \
  || { echo "createca in the token failed"; exit 1; }
tsa_split_chain "$T_TMP/p11"
printf '%s\n' "$USER_PIN" >"$T_TMP/pin"
openssl ts -query -data "$0" -sha256 -cert -out "$T_TMP/q.tsq" 2>/dev/null

# start_server KIND: fulcrum-softhsm, fulcrum-file or sigstore; sets SRV_URL, SRV_PID.
start_server() {
  case $1 in
  fulcrum-file)
    tsa_start srv --certificate-chain "$T_TMP/file/chain.pem" --private-key "$T_TMP/file/tsa.key" \
      --no-clock-check --threads "$THREADS" || return 1 ;;
  fulcrum-softhsm)
    tsa_start srv --certificate-chain "$T_TMP/p11/chain.pem" --no-clock-check --threads "$THREADS" \
      --private-key "pkcs11:token=bench;object=BENCH-tsa?module-path=$SOFTHSM_MODULE" \
      --pkcs11-pin-file "$T_TMP/pin" || return 1 ;;
  sigstore)
    local port
    port=$(t_free_port)
    "$SIGSTORE_TSA" serve --host 127.0.0.1 --port "$port" --timestamp-signer file \
      --file-signer-key-path "$T_TMP/file/tsa.key" --certificate-chain-path "$T_TMP/file/chain.pem" \
      --disable-ntp-monitoring --log-type prod >"$T_TMP/sigstore.log" 2>&1 &
    srv_PID=$!
    T_PIDS+=("$srv_PID")
    srv_URL="http://127.0.0.1:$port"
    t_wait_http "$srv_URL/ping" 20 || { tail -5 "$T_TMP/sigstore.log"; return 1; } ;;
  esac
  SRV_URL=$srv_URL
  SRV_PID=$srv_PID
  tsa_post "$SRV_URL" "$T_TMP/q.tsq"
  local d="$T_TMP/file"
  [ "$1" = fulcrum-softhsm ] && d="$T_TMP/p11"
  [ "$H_STATUS" = 200 ] && openssl ts -verify -in "$T_TMP/reply.tsr" -queryfile "$T_TMP/q.tsq" \
    -CAfile "$d/root.pem" -untrusted "$d/leaf.pem" 2>&1 | grep -q '^Verification: OK' \
    || { echo "$1: the reply does not verify (status $H_STATUS)"; return 1; }
}
# to_ms LATENCY: wrk's "850.00us", "1.23ms" or "1.02s" in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/) n *= 1000; printf "%.2f", n }'; }

hz=$(getconf CLK_TCK)
declare -A RPS P99 CAP
echo "machine: $(nproc) CPUs, $(uname -sr); ${DUR}s per run, $ROUNDS rounds, wrk -t2 -c$CONNS, server threads $THREADS"
echo "load before: $(uptime)"
printf '%-16s %5s %6s %10s %10s %10s %8s %10s %10s %8s\n' server round conns "ts/s" p50 p99 non-2xx "CPU/ts" \
  "wrk/ts" "cap/s"
for round in $(seq "$ROUNDS"); do
  for kind in fulcrum-softhsm fulcrum-file sigstore; do
    for c in $CONNS; do
      start_server "$kind" || exit 1
      wrk -t2 -c "$c" -d 2s -s "$here/bench-tsa.lua" "$SRV_URL" -- "$T_TMP/q.tsq" >/dev/null 2>&1
      cpu0=$(awk '{print $14 + $15}' "/proc/$SRV_PID/stat")
      /usr/bin/time -f '%U %S' -o "$T_TMP/wrk.time" wrk -t2 -c "$c" -d "${DUR}s" --timeout 10s --latency \
        -s "$here/bench-tsa.lua" "$SRV_URL" -- "$T_TMP/q.tsq" >"$T_TMP/wrk.out" 2>&1
      cpu1=$(awk '{print $14 + $15}' "/proc/$SRV_PID/stat")
      tsa_stop "$SRV_PID"
      rps=$(awk '/^Requests\/sec/ {print $2}' "$T_TMP/wrk.out")
      n=$(awk '/requests in/ {print $1}' "$T_TMP/wrk.out")
      p50=$(awk '/^ +50%/ {print $2}' "$T_TMP/wrk.out")
      p99=$(awk '/^ +99%/ {print $2}' "$T_TMP/wrk.out")
      non2xx=$(awk '/Non-2xx/ {print $5}' "$T_TMP/wrk.out")
      cpu_us=$(( (cpu1 - cpu0) * 1000000 / hz / (n > 0 ? n : 1) ))
      wrk_us=$(awk -v n="$n" '{ printf "%d", ($1 + $2) * 1000000 / (n > 0 ? n : 1) }' "$T_TMP/wrk.time")
      cap=$(( 2000000 / (cpu_us + wrk_us > 0 ? cpu_us + wrk_us : 1) ))
      RPS[$kind,$c]+="$rps "
      CAP[$kind,$c]+="$cap "
      P99[$kind,$c]+="$(to_ms "$p99") "
      printf '%-16s %5s %6s %10s %10s %10s %8s %7s us %7s us %8s\n' "$kind" "$round" "$c" "$rps" "$p50" \
        "$p99" "${non2xx:-0}" "$cpu_us" "$wrk_us" "$cap"
    done
  done
done
echo "load after: $(uptime)"
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "medians over $ROUNDS rounds:"
for c in $CONNS; do
  s=$(median <<<"${RPS[sigstore,$c]}")
  sc=$(median <<<"${CAP[sigstore,$c]}")
  for kind in fulcrum-softhsm fulcrum-file sigstore; do
    r=$(median <<<"${RPS[$kind,$c]}")
    k=$(median <<<"${CAP[$kind,$c]}")
    printf '  %-16s c=%-4s %10s ts/s (%s) p99 %-9s cap %6s/s (%s)\n' "$kind" "$c" "$r" \
      "$(awk -v a="$r" -v b="$s" 'BEGIN { if (b > 0) printf "%.1fx sigstore", a / b }')" \
      "$(median <<<"${P99[$kind,$c]}")ms" "$k" \
      "$(awk -v a="$k" -v b="$sc" 'BEGIN { if (b > 0) printf "%.1fx sigstore", a / b }')"
  done
done
t_done >/dev/null
