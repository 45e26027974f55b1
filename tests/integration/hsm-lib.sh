# Helpers for the HSM integration tests: a private SoftHSM2 configuration
# and token directory per test (under $T_TMP), removed with it.
# shellcheck shell=bash

SOFTHSM_MODULE=${FULCRUM_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
[ -r "$SOFTHSM_MODULE" ] || t_skip "SoftHSM2 module $SOFTHSM_MODULE not installed (apt-get install softhsm2)"
command -v softhsm2-util >/dev/null || t_skip "softhsm2-util not installed"
command -v jq >/dev/null || t_skip "jq not installed"

# The SO PIN and user PIN of every test token. The user PIN is long and
# distinctive so that a leak into any output is found by grep.
SO_PIN=so-pin-5678
USER_PIN=user-PIN-f00d-c0ffee-1234

# hsm_init LABEL: a fresh token in a private token directory; exports
# SOFTHSM2_CONF.
hsm_init() {
  mkdir -p "$T_TMP/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$T_TMP/tokens" >"$T_TMP/softhsm2.conf"
  export SOFTHSM2_CONF="$T_TMP/softhsm2.conf"
  softhsm2-util --init-token --free --label "$1" --so-pin "$SO_PIN" --pin "$USER_PIN" >/dev/null \
    || { echo "softhsm2-util --init-token failed"; exit 1; }
}

# crypto11_conf FILE LABEL [MODULE] [PIN]: Fulcio's crypto11 JSON.
crypto11_conf() {
  jq -n --arg p "${3:-$SOFTHSM_MODULE}" --arg l "$2" --arg pin "${4:-$USER_PIN}" \
    '{Path: $p, TokenLabel: $l, Pin: $pin, MaxSessions: 8}' >"$1"
}

# leaf_body ISSUER_URL: a signingCert request body (fresh token, P-256 key).
leaf_body() {
  local tok
  tok=$(mint "$1" '{"claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}')
  [ -s "$T_TMP/client.pem" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
  v2_body "$tok" "$T_TMP/client.pem" alice@example.com
}
