# Helpers for the HTTP front's tests (http-*.sh), on top of lib.sh.
# shellcheck shell=bash
. "$(dirname "$0")/lib.sh"

HC="python3 $(cd "$(dirname "$0")/../tools" && pwd)/http_clients.py"

# fake_start NAME ARGS...: starts tests/tools/fake_ctlog; sets NAME_URL,
# NAME_PUB.
fake_start() {
  local name=$1 pf="$T_TMP/$1.fake.port" i
  shift
  : "${FULCRUM_FAKE_CTLOG:?FULCRUM_FAKE_CTLOG must name the fake_ctlog test tool (meson sets it)}"
  "$FULCRUM_FAKE_CTLOG" serve --port-file "$pf" --key-out "$T_TMP/$name.pub" "$@" \
    >"$T_TMP/$name.fake.log" 2>&1 &
  T_PIDS+=($!)
  for i in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || { echo "fake_ctlog $name did not start"; cat "$T_TMP/$name.fake.log"; exit 1; }
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(tr -d '\n' < "$pf")"
  printf -v "${name}_PUB" '%s' "$T_TMP/$name.pub"
}

# port_of URL
port_of() { echo "${1##*:}"; }

# proc_stats PID: "RSS_KB FDS THREADS" of a process.
proc_stats() {
  local rss thr fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
  thr=$(awk '/^Threads:/ {print $2}' "/proc/$1/status")
  fds=$(ls "/proc/$1/fd" | wc -l)
  echo "$rss $fds $thr"
}

# sanitizer_clean LOG: no AddressSanitizer / UBSan report in LOG.
sanitizer_clean() {
  ! grep -Eq 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$1"
}

# signing_setup IDP_URL: a config for IDP, a token, a key; sets CFG and
# BODY_FILE (a v2 signingCert body).
signing_setup() {
  local idp=$1 tok
  CFG="$T_TMP/config.json"
  jq -n --arg u "$idp" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$CFG"
  tok=$(mint "$idp" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}')
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/p256.pem" 2>/dev/null
  BODY_FILE="$T_TMP/body.json"
  v2_body "$tok" "$T_TMP/p256.pem" alice@example.com >"$BODY_FILE"
}

# metric URL NAME: the value of an unlabelled Prometheus metric.
metric() {
  curl -fsS --max-time 5 "$1/metrics" | awk -v n="$2" '$1 == n {print $2}'
}
