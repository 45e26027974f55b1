#!/usr/bin/env bash
# What the network process of `fulcrum serve` holds when started as root:
# its uid is nobody's and root cannot be regained; the CA key's private
# bytes (the P-256 scalar in both byte orders, the PKCS#8 DER), the key's
# passphrase and the PKCS#11 PIN are nowhere in its memory
# (/proc/PID/mem through /proc/PID/maps), the PKCS#11 module is not mapped,
# and no secret shows in /proc/PID/cmdline or /proc/PID/environ of any of
# the three processes. The same scan of the signer process finds the key or
# the PIN, and its maps the module (the controls).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/hsm-lib.sh"
: "${FULCRUM_MEMSCAN:?FULCRUM_MEMSCAN must name tests/tools/memscan.py}"
[ "$(id -u)" = 0 ] || t_skip "run as root: the network process drops to nobody, and /proc/PID/mem is read"
PY=${FULCRUM_PYTHON:-python3}
$PY -c 'import cryptography' 2>/dev/null || t_skip "python3 cryptography not installed"

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
PASS=passphrase-7e1f-memory-check

# A P-256 CA key (PKCS#8) and a self-signed CA certificate for it.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/ca.key" 2>/dev/null
openssl req -new -x509 -key "$T_TMP/ca.key" -subj "/O=fulcrum test/CN=Memory Root" -days 30 \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:1" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" -out "$T_TMP/ca.pem" 2>/dev/null
openssl pkcs8 -topk8 -in "$T_TMP/ca.key" -passout "pass:$PASS" -v2 aes-256-cbc -out "$T_TMP/ca-enc.key"
# needles: the scalar big-endian and little-endian (as OpenSSL's BIGNUM
# holds it), the PKCS#8 DER, the passphrase, the PIN
read -r SCALAR_BE SCALAR_LE PKCS8 < <($PY - "$T_TMP/ca.key" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization as s
k = s.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
d = k.private_numbers().private_value.to_bytes(32, "big")
der = k.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
print(d.hex(), d[::-1].hex(), der.hex())
PY
)
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
NEEDLES=("scalar-be=$SCALAR_BE" "scalar-le=$SCALAR_LE" "pkcs8=$PKCS8" "passphrase=$(hexof "$PASS")" "pin=$(hexof "$USER_PIN")")

# procs NAME: the pids of NAME's network process, supervisor and signer.
procs() {
  local pid_var="$1_PID" sup
  NET=${!pid_var}
  sup=$(awk '{print $1}' "/proc/$NET/task/$NET/children")
  SUP=$sup
  SIG=$(awk '{print $1}' "/proc/$sup/task/$sup/children")
}
# scan DESC PID WANT: WANT=none (nothing found) or some (the control).
scan() {
  local out rc
  out=$(python3 "$FULCRUM_MEMSCAN" "$2" "${NEEDLES[@]}")
  rc=$?
  case "$3:$rc" in
    none:0) t_ok "$1: none of scalar, PKCS#8 DER, passphrase, PIN in its memory ($(tail -1 <<<"$out"))" ;;
    some:1) t_ok "$1 (control): $(grep found <<<"$out" | cut -d' ' -f1 | tr '\n' ' ')found" ;;
    *) t_bad "$1: rc=$rc $(tr '\n' ' ' <<<"$out")" ;;
  esac
}
# clean DESC: no secret in the command line or environment of the three.
clean() {
  local p leaks=""
  for p in "$NET" "$SUP" "$SIG"; do
    for f in cmdline environ; do
      if tr '\0' '\n' <"/proc/$p/$f" | grep -qF -e "$PASS" -e "$USER_PIN"; then leaks="$leaks $p/$f"; fi
    done
  done
  [ -z "$leaks" ] && t_ok "$1: no secret in /proc/PID/cmdline or environ of the network process, supervisor or signer" \
    || t_bad "$1: secrets in$leaks"
}
issue() { http POST "$1/api/v2/signingCert" "$(leaf_body "$idp_URL")"; [ "$H_STATUS" = 200 ]; }

# --- fileca, the key unencrypted (0600), then encrypted with the passphrase
# given on the command line and in the environment
serve_start plain --ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca.pem" --fileca-key "$T_TMP/ca.key" \
  --fileca-watch false || exit 1
issue "$plain_URL" && t_ok "fileca: issued through the signer process" || t_bad "fileca issue: $H_STATUS"
procs plain
[ "$(awk '/^Uid:/ {print $2 $3 $4 $5}' "/proc/$NET/status")" = 65534655346553465534 ] \
  && [ "$(awk '/^Uid:/ {print $2}' "/proc/$SIG/status")" = 0 ] \
  && grep -q 'runs as nobody' "$T_TMP/plain.serve.log" \
  && t_ok "the network process runs as nobody (real, effective, saved, fs uid); the signer stayed root" \
  || t_bad "uids: net $(grep Uid "/proc/$NET/status") signer $(grep Uid "/proc/$SIG/status")"
[ "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$NET/status")" = 1 ] && [ "$(awk '/^Groups:/ {print NF}' "/proc/$NET/status")" = 1 ] \
  && t_ok "the network process: no_new_privs, no supplementary groups" || t_bad "status: $(grep -E 'NoNewPrivs|Groups' "/proc/$NET/status")"
scan "fileca network process" "$NET" none
scan "fileca signer process" "$SIG" some

FULCRUM_FILECA_KEY_PASSWD="$PASS" serve_start enc --ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca.pem" \
  --fileca-key "$T_TMP/ca-enc.key" --fileca-key-passwd "$PASS" --fileca-watch false || exit 1
issue "$enc_URL" && t_ok "fileca with an encrypted key: issued" || t_bad "encrypted fileca issue: $H_STATUS"
procs enc
clean "fileca, passphrase in --fileca-key-passwd and FULCRUM_FILECA_KEY_PASSWD"
scan "fileca (encrypted key) network process" "$NET" none
scan "fileca (encrypted key) signer process" "$SIG" some

# --- pkcs11ca: the same key imported into SoftHSM2, the PIN in the URI
hsm_init fulcio
softhsm2-util --import "$T_TMP/ca.key" --token fulcio --label memkey --id 01 --pin "$USER_PIN" >/dev/null \
  || { t_bad "softhsm2-util --import failed"; t_done; exit 1; }
uri="pkcs11:token=fulcio;object=memkey?module-path=$SOFTHSM_MODULE&pin-value=$USER_PIN"
serve_start p11 --ca pkcs11ca --config-path "$cfg" --pkcs11-uri "$uri" --hsm-chain "$T_TMP/ca.pem" \
  || { t_bad "pkcs11ca: $(cat "$T_TMP/p11.serve.log")"; t_done; exit 1; }
issue "$p11_URL" && t_ok "pkcs11ca: issued through the signer process" || t_bad "pkcs11ca issue: $H_STATUS"
procs p11
clean "pkcs11ca, pin-value in --pkcs11-uri"
tr '\0' ' ' <"/proc/$NET/cmdline" | grep -q 'pin-value=\*\*\*\*' \
  && t_ok "the network process's command line shows pin-value=****" || t_bad "cmdline: $(tr '\0' ' ' <"/proc/$NET/cmdline")"
grep -q libsofthsm2 "/proc/$NET/maps" && t_bad "the PKCS#11 module is mapped in the network process" \
  || t_ok "the PKCS#11 module is not mapped in the network process"
grep -q libsofthsm2 "/proc/$SIG/maps" && t_ok "the PKCS#11 module is mapped in the signer process (control)" \
  || t_bad "the module is not in the signer's maps"
scan "pkcs11ca network process" "$NET" none
scan "pkcs11ca signer process" "$SIG" some

# --- pkcs11ca, the PIN in FULCRUM_PKCS11_PIN
crypto11_conf "$T_TMP/c11.json" fulcio
jq 'del(.Pin)' "$T_TMP/c11.json" >"$T_TMP/nopin.json"
FULCRUM_PKCS11_PIN=$USER_PIN serve_start env --ca pkcs11ca --config-path "$cfg" --pkcs11-config-path "$T_TMP/nopin.json" \
  --hsm-key-label memkey --hsm-chain "$T_TMP/ca.pem" || { t_bad "pkcs11ca (env): $(cat "$T_TMP/env.serve.log")"; t_done; exit 1; }
issue "$env_URL" && t_ok "pkcs11ca, PIN from FULCRUM_PKCS11_PIN: issued" || t_bad "env issue: $H_STATUS"
procs env
clean "pkcs11ca, PIN in FULCRUM_PKCS11_PIN"
scan "pkcs11ca (PIN from the environment) network process" "$NET" none

cat "$T_TMP"/*.serve.log | grep -qF -e "$PASS" -e "$USER_PIN" && t_bad "a secret in the logs" || t_ok "no secret in any log"
t_done
