# Helpers for the end-to-end tests of a private Sigstore stack on loopback
# (tests/interop/e2e-*.sh) and for examples/quickstart.sh: Rekor v2
# (rekor-tiles, tests/tools/install-rekor-tiles.sh), a timestamp authority,
# and a CA made by `fulcrum createca` in a SoftHSM2 token.
# Source after tests/integration/lib.sh (T_TMP, T_PIDS, t_free_port).
# shellcheck shell=bash

e2e_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_DEPS=${FULCRUM_DEPS:-$e2e_repo/.deps}
REKOR_TILES_BIN=${REKOR_TILES_BIN:-$E2E_DEPS/bin/rekor-tiles}
TIMESTAMP_SERVER_BIN=${TIMESTAMP_SERVER_BIN:-$E2E_DEPS/bin/timestamp-server}

# e2e_wait_url PID URL SECS LOG: until URL answers 2xx; fails early if PID
# exits (its log's tail on stderr).
e2e_wait_url() {
  local pid=$1 url=$2 secs=$3 log=$4 i
  for i in $(seq $((secs * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited before $url answered:" >&2
      tail -20 "$log" >&2
      return 1
    fi
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$url not answering after $secs s:" >&2
  tail -20 "$log" >&2
  return 1
}

# rekor_start NAME DIR: Rekor v2 (rekor-tiles, POSIX storage) on free
# loopback ports with a fresh ECDSA P-256 key (DIR/rekor.key, PKCS#8; public
# half DIR/rekor.pub), storage in DIR/storage, checkpoint origin 127.0.0.1
# (the host of its URL, which is what sigstore-go verifies checkpoints
# against), a checkpoint every 500 ms. An existing DIR/rekor.key is reused,
# so is the log. Waits for the first checkpoint (DIR/storage/checkpoint:
# the POSIX server keeps its read path on disk and answers GET
# /api/v2/checkpoint with 501) and for the HTTP port. Sets ${NAME}_URL,
# ${NAME}_PUB, ${NAME}_CHECKPOINT, ${NAME}_PID.
rekor_start() {
  local name=$1 d=$2 http grpc metrics pid i
  mkdir -p "$d/storage"
  if [ ! -s "$d/rekor.key" ]; then
    (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/rekor.key" 2>/dev/null) \
      || { echo "rekor_start: cannot make a key" >&2; return 1; }
  fi
  openssl pkey -in "$d/rekor.key" -pubout -out "$d/rekor.pub" 2>/dev/null || return 1
  http=$(t_free_port)
  grpc=$(t_free_port)
  metrics=$(t_free_port)
  "$REKOR_TILES_BIN" serve --hostname 127.0.0.1 \
    --http-address 127.0.0.1 --http-port "$http" \
    --grpc-address 127.0.0.1 --grpc-port "$grpc" \
    --http-metrics-port "$metrics" \
    --storage-dir "$d/storage" --signer-filepath "$d/rekor.key" \
    --checkpoint-interval 500ms --batch-max-age 100ms --log-level warn \
    >"$d/rekor.log" 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$http"
  printf -v "${name}_PUB" '%s' "$d/rekor.pub"
  printf -v "${name}_CHECKPOINT" '%s' "$d/storage/checkpoint"
  for i in $(seq 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "rekor-tiles ($name) exited:" >&2; tail -20 "$d/rekor.log" >&2; return 1
    fi
    [ -s "$d/storage/checkpoint" ] && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$http/" && return 0
    sleep 0.1
  done
  echo "rekor-tiles ($name) not ready after 60 s:" >&2; tail -20 "$d/rekor.log" >&2
  return 1
}

# e2e_have_fulcrum_tsa: true when this fulcrum has the tsa command.
e2e_have_fulcrum_tsa() { "$FULCRUM_BIN" tsa --help >/dev/null 2>&1; }

# tsa_start NAME DIR [CHAIN KEY PIN_FILE]: an RFC 3161 TSA on a free
# loopback port. `fulcrum tsa` when this fulcrum has it: with CHAIN and KEY
# (a pkcs11: URI, PIN_FILE its PIN) as given, else with a root and
# time-stamping certificate made by `fulcrum createca --file --tsa` in DIR;
# --no-clock-check, since test machines run without NTP (fulcrum tsa refuses
# to stamp while the kernel says the clock is unsynchronised). Without it
# (or with E2E_TSA=timestamp-server): sigstore's timestamp-server
# (tests/tools/install-timestamp-server.sh) with its in-memory signer (a
# fresh chain per start; its metrics always on :2112). Waits until it
# answers. Sets ${NAME}_URL (the time-stamp URL, .../api/v1/timestamp),
# ${NAME}_KIND (fulcrum or timestamp-server) and ${NAME}_PID.
tsa_start() {
  local name=$1 d=$2 chain=${3:-} key=${4:-} pin=${5:-} port pid pf
  mkdir -p "$d"
  if [ "${E2E_TSA:-}" != timestamp-server ] && e2e_have_fulcrum_tsa; then
    if [ -z "$chain" ]; then
      chain="$d/tsa-chain.pem" key="$d/tsa.key"
      [ -s "$chain" ] || "$FULCRUM_BIN" createca --file --tsa --out "$chain" --key-out "$key" \
        --root-key-out "$d/tsa-root.key" --org "fulcrum e2e" --common-name "fulcrum e2e TSA root" \
        >"$d/createca.log" 2>&1 || { cat "$d/createca.log" >&2; return 1; }
    fi
    pf="$d/tsa.port"
    rm -f "$pf"
    "$FULCRUM_BIN" tsa --listen 127.0.0.1:0 --port-file "$pf" --certificate-chain "$chain" \
      --private-key "$key" ${pin:+--pkcs11-pin-file "$pin"} --no-clock-check >"$d/tsa.log" 2>&1 &
    pid=$!
    T_PIDS+=("$pid")
    for _ in $(seq 100); do [ -s "$pf" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    [ -s "$pf" ] || { echo "fulcrum tsa did not start:" >&2; tail -20 "$d/tsa.log" >&2; return 1; }
    port=$(tr -d '\n' <"$pf")
    printf -v "${name}_KIND" '%s' fulcrum
  else
    port=$(t_free_port)
    "$TIMESTAMP_SERVER_BIN" serve --host 127.0.0.1 --port "$port" --disable-ntp-monitoring \
      >"$d/tsa.log" 2>&1 &
    pid=$!
    T_PIDS+=("$pid")
    printf -v "${name}_KIND" '%s' timestamp-server
  fi
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_URL" 'http://127.0.0.1:%s/api/v1/timestamp' "$port"
  e2e_wait_url "$pid" "http://127.0.0.1:$port/ping" 30 "$d/tsa.log"
}

# e2e_have_tsa: true when tsa_start has a TSA to start.
e2e_have_tsa() {
  { [ "${E2E_TSA:-}" != timestamp-server ] && e2e_have_fulcrum_tsa; } || [ -x "$TIMESTAMP_SERVER_BIN" ]
}

# softhsm_module: the SoftHSM2 module's path (FULCRUM_SOFTHSM_MODULE or
# Debian's places), or nothing.
softhsm_module() {
  local m
  for m in ${FULCRUM_SOFTHSM_MODULE:-} /usr/lib/softhsm/libsofthsm2.so \
    /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
    [ -r "$m" ] && { echo "$m"; return 0; }
  done
  return 1
}

# hsm_ca_create DIR LABEL: a SoftHSM2 token LABEL in DIR/tokens (DIR/softhsm2.conf,
# exported as SOFTHSM2_CONF) with a root and an intermediate made by
# `fulcrum createca` (keys generated in the token); DIR/chain.pem
# (intermediate, root), DIR/root.pem, DIR/user-pin. Sets HSM_CA_URI (the
# --pkcs11-uri of the intermediate's key for fulcrum serve --ca pkcs11ca).
hsm_ca_create() {
  local d=$1 label=$2 module
  module=$(softhsm_module) || { echo "SoftHSM2 is not installed" >&2; return 1; }
  mkdir -p "$d/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$d/tokens" >"$d/softhsm2.conf"
  export SOFTHSM2_CONF="$d/softhsm2.conf"
  (umask 077; openssl rand -hex 16 >"$d/user-pin"; openssl rand -hex 16 >"$d/so-pin")
  softhsm2-util --init-token --free --label "$label" --so-pin "$(cat "$d/so-pin")" \
    --pin "$(cat "$d/user-pin")" >/dev/null || return 1
  "$FULCRUM_BIN" createca --pkcs11-uri "pkcs11:token=$label?module-path=$module" \
    --pkcs11-pin-file "$d/user-pin" --hsm-caroot-id 99 \
    --org "fulcrum e2e" --common-name "fulcrum e2e root" \
    --intermediate --intermediate-common-name "fulcrum e2e intermediate" \
    --out "$d/chain.pem" >"$d/createca.log" 2>&1 || { cat "$d/createca.log" >&2; return 1; }
  awk '/BEGIN/{n++} n==2' "$d/chain.pem" >"$d/root.pem"
  HSM_CA_URI="pkcs11:token=$label;object=PKCS11CA-intermediate?module-path=$module"
}

# hsm_tsa_create DIR LABEL: in the token of hsm_ca_create, a TSA root and
# time-stamping certificate with keys of their own (`fulcrum createca
# --tsa`); DIR/tsa-chain.pem. Sets HSM_TSA_URI (fulcrum tsa --private-key).
hsm_tsa_create() {
  local d=$1 label=$2 module
  module=$(softhsm_module) || return 1
  "$FULCRUM_BIN" createca --pkcs11-uri "pkcs11:token=$label?module-path=$module" \
    --pkcs11-pin-file "$d/user-pin" --hsm-caroot-id 98 --hsm-key-label TSA \
    --tsa --org "fulcrum e2e" --common-name "fulcrum e2e TSA root" \
    --out "$d/tsa-chain.pem" >"$d/createca-tsa.log" 2>&1 || { cat "$d/createca-tsa.log" >&2; return 1; }
  HSM_TSA_URI="pkcs11:token=$label;object=TSA-tsa?module-path=$module"
}
