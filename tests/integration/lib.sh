# Shared helpers for the integration tests: start real processes on
# loopback, always stop them, and count assertions.
# shellcheck shell=bash
set -uo pipefail

: "${FULCRUM_BIN:?FULCRUM_BIN must name the fulcrum binary (meson sets it)}"
: "${FULCRUM_TEST_ISSUER:?FULCRUM_TEST_ISSUER must name the test-issuer binary}"

T_TMP=$(mktemp -d /tmp/fulcrum-it.XXXXXX)
# Started as root, fulcrum ctlog's network process becomes nobody, which
# must reach the storage directories made in here (its files stay 0600).
chmod 755 "$T_TMP"
T_PIDS=()
T_PASS=0
T_FAIL=0

t_cleanup() {
  local pid
  for pid in "${T_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${T_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$T_TMP"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# Skip (exit 77) when a tool is truly absent; under CI a skip is a failure.
t_skip() {
  echo "SKIP: $*"
  if [ "${CI:-}" = "true" ]; then echo "CI=true: a skip is a failure"; exit 1; fi
  exit 77
}

t_ok() { T_PASS=$((T_PASS + 1)); echo "ok - $*"; }
t_bad() { T_FAIL=$((T_FAIL + 1)); echo "FAIL - $*"; }

t_done() {
  echo "$T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" -eq 0 ]
}

t_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# t_wait_http URL [seconds]: until URL answers 2xx.
t_wait_http() {
  local url=$1 secs=${2:-30} i
  for i in $(seq $((secs * 10))); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $url" >&2
  return 1
}

# issuer_start NAME: starts a test issuer; sets ${NAME}_URL.
issuer_start() {
  local name=$1 pf="$T_TMP/$1.port" i
  "$FULCRUM_TEST_ISSUER" --port-file "$pf" >"$T_TMP/$name.log" 2>&1 &
  T_PIDS+=($!)
  for i in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || { echo "test issuer $name did not start"; cat "$T_TMP/$name.log"; exit 1; }
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(tr -d '\n' < "$pf")"
}

# mint ISSUER_URL JSON: prints a token minted by the test issuer.
mint() {
  curl -fsS --max-time 10 -H 'Content-Type: application/json' --data "$2" "$1/mint"
}

# control ISSUER_URL JSON
control() {
  curl -fsS --max-time 10 -H 'Content-Type: application/json' --data "$2" "$1/control" >/dev/null
}

# token_check CONFIG TOKEN: runs `fulcrum token`; sets T_RC, T_OUT, T_ERR.
token_check() {
  local cfg=$1 tok=$2
  shift 2
  T_OUT=$(printf '%s' "$tok" | "$FULCRUM_BIN" token --config-path "$cfg" "$@" - 2>"$T_TMP/stderr")
  T_RC=$?
  T_ERR=$(cat "$T_TMP/stderr")
}

# expect_refused DESC CONFIG TOKEN REGEX: exit 1, nothing on stdout, and the
# "refused:" line on stderr matches REGEX (extended regex).
expect_refused() {
  local desc=$1 cfg=$2 tok=$3 re=$4
  token_check "$cfg" "$tok"
  if [ "$T_RC" -eq 1 ] && [ -z "$T_OUT" ] && grep -E -- "^fulcrum token: refused: " <<<"$T_ERR" | grep -Eq -- "$re"; then
    t_ok "$desc: $(grep -E '^fulcrum token: refused: ' <<<"$T_ERR" | head -c 240)"
  else
    t_bad "$desc: rc=$T_RC stdout=$(head -c 200 <<<"$T_OUT") stderr=$T_ERR (want /$re/)"
  fi
}

# expect_identity DESC CONFIG TOKEN JQ_EXPR: exit 0 and JQ_EXPR is true.
expect_identity() {
  local desc=$1 cfg=$2 tok=$3 expr=$4
  token_check "$cfg" "$tok"
  if [ "$T_RC" -eq 0 ] && jq -e "$expr" >/dev/null 2>&1 <<<"$T_OUT"; then
    t_ok "$desc"
  else
    t_bad "$desc: rc=$T_RC stderr=$T_ERR stdout=$T_OUT (want jq: $expr)"
  fi
}

# serve_start NAME ARGS...: starts `fulcrum serve` on a free loopback port
# with the metrics listener off and its issuance journal in
# $T_TMP/NAME.journal; sets ${NAME}_URL; waits for /healthz.
serve_start() {
  local name=$1 pf="$T_TMP/$1.serve.port" i
  shift
  "$FULCRUM_BIN" serve --host 127.0.0.1 --port 0 --port-file "$pf" --metrics-port 0 \
    --ct-log-url "" --journal-dir "$T_TMP/$name.journal" "$@" >"$T_TMP/$name.serve.log" 2>&1 &
  T_PIDS+=($!)
  printf -v "${name}_PID" '%s' "$!"
  for i in $(seq 200); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || { echo "fulcrum serve ($name) did not start:"; cat "$T_TMP/$name.serve.log"; return 1; }
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(tr -d '\n' < "$pf")"
  local url_var="${name}_URL"
  t_wait_http "${!url_var}/healthz" 10
}

# http POST|GET URL [BODY] [curl args...]: sets H_STATUS, H_BODY, H_TYPE.
http() {
  local method=$1 url=$2 body=${3:-}
  shift 3 2>/dev/null || shift $#
  local out="$T_TMP/http.body" hdr="$T_TMP/http.hdr"
  if [ "$method" = POST ]; then
    H_STATUS=$(curl -sS -o "$out" -D "$hdr" -w '%{http_code}' --max-time 30 -X POST \
      -H 'Content-Type: application/json' --data-binary "$body" "$@" "$url")
  else
    H_STATUS=$(curl -sS -o "$out" -D "$hdr" -w '%{http_code}' --max-time 30 -X "$method" "$@" "$url")
  fi
  H_BODY=$(cat "$out")
  H_TYPE=$(grep -i '^content-type:' "$hdr" | head -1 | cut -d' ' -f2- | tr -d '\r')
}

# pop_b64 KEY_PEM SUBJECT [DIGEST]: base64 proof of possession over SUBJECT.
pop_b64() {
  printf '%s' "$2" | openssl dgst "-${3:-sha256}" -sign "$1" | base64 -w0
}

# pubkey_pem KEY_PEM: the SPKI PEM of a private key.
pubkey_pem() {
  openssl pkey -in "$1" -pubout 2>/dev/null
}

# v2_body TOKEN KEY_PEM SUBJECT: a v2 signingCert body (token in
# credentials, the key's SPKI PEM and its proof of possession over SUBJECT).
v2_body() {
  jq -n --arg t "$1" --arg k "$(pubkey_pem "$2")" --arg p "$(pop_b64 "$2" "$3")" \
    '{credentials: {oidcIdentityToken: $t}, publicKeyRequest: {publicKey: {content: $k}, proofOfPossession: $p}}'
}
