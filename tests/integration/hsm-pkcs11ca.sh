#!/usr/bin/env bash
# fulcrum createca on a fresh SoftHSM2 token (root + intermediate, keys
# generated inside the token), then fulcrum serve --ca pkcs11ca (crypto11
# JSON, then an RFC 7512 URI with a PIN file), certificates requested
# through sigstore-js that chain under `openssl verify` to the root createca
# wrote, the intermediate in the chain and the trust bundle; each start-up
# refusal with its own message; the PIN in no output.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/hsm-lib.sh"
JS="$here/../interop/js"
command -v node >/dev/null || t_skip "node not installed (sigstore-js)"
[ -f "$JS/node_modules/@sigstore/sign/package.json" ] \
  || t_skip "sigstore-js not installed in $JS/node_modules (run tests/tools/install-interop.sh)"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

hsm_init fulcio
conf="$T_TMP/crypto11.json"
crypto11_conf "$conf" fulcio
all_out="$T_TMP/all-output.txt"   # every output of fulcrum, searched for the PIN
: >"$all_out"

# --- createca: root + intermediate inside the token ---
out=$("$FULCRUM_BIN" createca --pkcs11-config-path "$conf" --hsm-caroot-id 99 --intermediate \
  --org "fulcrum test" --country DE --common-name "fulcrum test root" --out "$T_TMP/chain.pem" 2>&1)
rc=$?
echo "$out" >>"$all_out"
[ "$rc" = 0 ] && [ "$(grep -c 'BEGIN CERTIFICATE' "$T_TMP/chain.pem")" = 2 ] \
  && t_ok "createca: root and intermediate created, chain written" || t_bad "createca: rc=$rc $out"
awk '/BEGIN/{n++} n==1' "$T_TMP/chain.pem" >"$T_TMP/int.pem"
awk '/BEGIN/{n++} n==2' "$T_TMP/chain.pem" >"$T_TMP/root.pem"
rtext=$(openssl x509 -in "$T_TMP/root.pem" -noout -text)
itext=$(openssl x509 -in "$T_TMP/int.pem" -noout -text)
grep -A1 'Basic Constraints: critical' <<<"$rtext" | grep -q 'CA:TRUE, pathlen:1' \
  && grep -A1 'Key Usage: critical' <<<"$rtext" | grep -q 'Certificate Sign, CRL Sign' \
  && grep -q 'Subject Key Identifier' <<<"$rtext" \
  && grep -q 'Subject: C = DE, O = fulcrum test, CN = fulcrum test root' <<<"$rtext" \
  && t_ok "root profile: critical CA:TRUE pathlen 1, critical keyCertSign|cRLSign, SKID, subject" \
  || t_bad "root profile: $rtext"
grep -A1 'Basic Constraints: critical' <<<"$itext" | grep -q 'CA:TRUE, pathlen:0' \
  && grep -A1 'Extended Key Usage' <<<"$itext" | grep -q 'Code Signing' \
  && grep -q 'Authority Key Identifier' <<<"$itext" \
  && t_ok "intermediate profile: pathlen 0, EKU codeSigning, AKID" || t_bad "intermediate profile: $itext"
openssl verify -CAfile "$T_TMP/root.pem" "$T_TMP/int.pem" >/dev/null 2>&1 \
  && t_ok "openssl verify: intermediate <- root" || t_bad "intermediate does not verify under the root"
objs=$(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label fulcio --pin "$USER_PIN" -O 2>/dev/null)
[ "$(grep -c 'Certificate Object' <<<"$objs")" = 2 ] \
  && grep -A4 'Private Key Object' <<<"$objs" | grep -q 'never extractable' \
  && grep -q 'ID:         3939$' <<<"$objs" \
  && t_ok "token: 2 certificates (root id \"99\" = 0x3939), keys sensitive and never extractable" \
  || t_bad "token objects: $objs"

out=$("$FULCRUM_BIN" createca --pkcs11-config-path "$conf" --hsm-caroot-id 99 2>&1)
rc=$?
echo "$out" >>"$all_out"
[ "$rc" != 0 ] && grep -q 'already exists.*"99".*--force' <<<"$out" \
  && t_ok "createca refuses to overwrite: $(tail -1 <<<"$out")" || t_bad "overwrite: rc=$rc $out"

# --- start-up refusals, each with its own message ---
refuse() { # DESC REGEX ARGS...
  local desc=$1 re=$2 out rc
  shift 2
  out=$(timeout 20 "$FULCRUM_BIN" serve --host 127.0.0.1 --port 0 --metrics-port 0 --ct-log-url "" \
    --journal-dir "$T_TMP/refused.journal" --config-path "$T_TMP/config.json" --ca pkcs11ca "$@" 2>&1)
  rc=$?
  echo "$out" >>"$all_out"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -Eq -- "$re" <<<"$out"; then
    t_ok "refused, $desc: $(grep -E -- "$re" <<<"$out" | head -1 | cut -c1-220)"
  else
    t_bad "$desc: rc=$rc out=$out (want /$re/)"
  fi
}
issuer_start idp
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$T_TMP/config.json"
GOOD=(--hsm-caroot-id 99-intermediate --hsm-key-label PKCS11CA-intermediate)
crypto11_conf "$T_TMP/badpin.json" fulcio "$SOFTHSM_MODULE" "not-the-pin-9876"
refuse "wrong PIN" "PIN is wrong" --pkcs11-config-path "$T_TMP/badpin.json" "${GOOD[@]}"
crypto11_conf "$T_TMP/badtok.json" no-such-token
refuse "wrong token label" 'no initialized token with label "no-such-token" \(tokens present: "fulcio"' \
  --pkcs11-config-path "$T_TMP/badtok.json" "${GOOD[@]}"
refuse "wrong key label" 'no private key with label "NoSuchKey"' \
  --pkcs11-config-path "$conf" --hsm-caroot-id 99-intermediate --hsm-key-label NoSuchKey
refuse "wrong id" 'no certificate with id "98".*--hsm-caroot-id' \
  --pkcs11-config-path "$conf" --hsm-caroot-id 98 --hsm-key-label PKCS11CA-intermediate
refuse "key and certificate do not match" 'do not match' \
  --pkcs11-config-path "$conf" --hsm-caroot-id 99 --hsm-key-label PKCS11CA-intermediate
crypto11_conf "$T_TMP/badmod.json" fulcio "$(command -v bash | xargs readlink -f)"
refuse "module that is not a PKCS#11 module" 'cannot be loaded|not a PKCS#11 module' \
  --pkcs11-config-path "$T_TMP/badmod.json" "${GOOD[@]}"
crypto11_conf "$T_TMP/badmod2.json" fulcio "/usr/lib/x86_64-linux-gnu/libz.so.1"
[ -r /usr/lib/x86_64-linux-gnu/libz.so.1 ] && refuse "shared library without C_GetFunctionList" \
  'not a PKCS#11 module \(no C_GetFunctionList\)' --pkcs11-config-path "$T_TMP/badmod2.json" "${GOOD[@]}"
jq '. + {TokenSerial: "1234"}' "$conf" >"$T_TMP/twosel.json"
refuse "config with two token selectors" 'exactly one of TokenLabel, TokenSerial or SlotNumber' \
  --pkcs11-config-path "$T_TMP/twosel.json" "${GOOD[@]}"

# --- serve with the crypto11 JSON, PIN from the environment ---
jq 'del(.Pin)' "$conf" >"$T_TMP/nopin.json"
export FULCRUM_PKCS11_PIN="$USER_PIN"
serve_start ca --ca pkcs11ca --config-path "$T_TMP/config.json" --pkcs11-config-path "$T_TMP/nopin.json" "${GOOD[@]}" \
  || { t_bad "serve --ca pkcs11ca did not start: $(cat "$T_TMP/ca.serve.log")"; t_done; exit 1; }
unset FULCRUM_PKCS11_PIN
t_ok "serve --ca pkcs11ca started (PIN from FULCRUM_PKCS11_PIN)"
if ! tr '\0' '\n' </proc/"$ca_PID"/environ | grep -q FULCRUM_PKCS11_PIN; then
  t_ok "FULCRUM_PKCS11_PIN is unset in the running server"
else
  # /proc/PID/environ shows the initial environment; the value must be wiped
  if tr '\0' '\n' </proc/"$ca_PID"/environ | grep -qF "$USER_PIN"; then t_bad "PIN still in /proc/environ"; else t_ok "PIN wiped from the environment"; fi
fi

for i in 1 2; do
  tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}')
  if node "$JS/request-cert.mjs" "$ca_URL" "$tok" >"$T_TMP/js$i.json" 2>"$T_TMP/js$i.err"; then
    jq -r '.chain[0]' "$T_TMP/js$i.json" >"$T_TMP/leaf$i.pem"
    jq -r '.chain[1]' "$T_TMP/js$i.json" >"$T_TMP/served-int$i.pem"
    [ "$(jq '.chain | length' "$T_TMP/js$i.json")" = 3 ] \
      && openssl verify -CAfile "$T_TMP/root.pem" -untrusted "$T_TMP/int.pem" "$T_TMP/leaf$i.pem" >/dev/null 2>&1 \
      && [ "$(openssl x509 -in "$T_TMP/served-int$i.pem" -outform DER | sha256sum)" = "$(openssl x509 -in "$T_TMP/int.pem" -outform DER | sha256sum)" ] \
      && t_ok "sigstore-js certificate $i: leaf <- intermediate <- createca's root (openssl verify)" \
      || t_bad "sigstore-js certificate $i does not chain: $(cat "$T_TMP/js$i.json")"
  else
    t_bad "sigstore-js $i: $(cat "$T_TMP/js$i.err")"
  fi
done
http GET "$ca_URL/api/v2/trustBundle"
echo "$H_BODY" | jq -r '.chains[0].certificates[0]' >"$T_TMP/tb-int.pem"
[ "$(echo "$H_BODY" | jq '.chains[0].certificates | length')" = 2 ] \
  && [ "$(openssl x509 -in "$T_TMP/tb-int.pem" -outform DER | sha256sum)" = "$(openssl x509 -in "$T_TMP/int.pem" -outform DER | sha256sum)" ] \
  && t_ok "trustBundle: intermediate then root" || t_bad "trustBundle: $H_BODY"
http GET "$ca_URL/readyz"
[ "$H_STATUS" = 200 ] && grep -q READY <<<"$H_BODY" && t_ok "/readyz: 200 READY" || t_bad "/readyz: $H_STATUS $H_BODY"
cat "$T_TMP/ca.serve.log" >>"$all_out"

# --- RFC 7512 URI with the PIN in a file, chain from a file ---
printf '%s\n' "$USER_PIN" >"$T_TMP/pin.txt"
chmod 600 "$T_TMP/pin.txt"
uri="pkcs11:token=fulcio;object=PKCS11CA-intermediate?module-path=$SOFTHSM_MODULE&pin-source=file:$T_TMP/pin.txt"
serve_start uri --ca pkcs11ca --config-path "$T_TMP/config.json" --pkcs11-uri "$uri" --hsm-chain "$T_TMP/chain.pem" \
  || t_bad "serve with a PKCS#11 URI did not start: $(cat "$T_TMP/uri.serve.log")"
if [ -n "${uri_URL:-}" ]; then
  tok=$(mint "$idp_URL" '{"claims":{"sub":"bob","email":"bob@example.com","email_verified":true}}')
  node "$JS/request-cert.mjs" "$uri_URL" "$tok" >"$T_TMP/uri.json" 2>"$T_TMP/uri.err" \
    && jq -r '.chain[0]' "$T_TMP/uri.json" >"$T_TMP/leaf-uri.pem" \
    && openssl verify -CAfile "$T_TMP/root.pem" -untrusted "$T_TMP/int.pem" "$T_TMP/leaf-uri.pem" >/dev/null 2>&1 \
    && t_ok "URI + PIN file + --hsm-chain: sigstore-js certificate chains to the root" \
    || t_bad "URI serve: $(cat "$T_TMP/uri.err" "$T_TMP/uri.json")"
  cat "$T_TMP/uri.serve.log" >>"$all_out"
fi

# --- createca --file (development) ---
out=$(FULCRUM_FILECA_KEY_PASSWD=file-pass-123 "$FULCRUM_BIN" createca --file --intermediate --out "$T_TMP/f-chain.pem" \
  --key-out "$T_TMP/f-int.key" --root-key-out "$T_TMP/f-root.key" 2>&1)
rc=$?
[ "$rc" = 0 ] && grep -q 'ENCRYPTED PRIVATE KEY' "$T_TMP/f-int.key" && [ "$(stat -c %a "$T_TMP/f-int.key")" = 600 ] \
  && t_ok "createca --file: encrypted 0600 keys and a chain" || t_bad "createca --file: rc=$rc $out"
serve_start file --ca fileca --config-path "$T_TMP/config.json" --fileca-cert "$T_TMP/f-chain.pem" \
  --fileca-key "$T_TMP/f-int.key" --fileca-key-passwd file-pass-123 --fileca-watch false \
  && t_ok "fileca serves createca --file's CA" || t_bad "fileca with createca --file output: $(cat "$T_TMP/file.serve.log")"

# An empty subject is refused (RFC 5280 4.1.2.6), before any key is written.
out=$("$FULCRUM_BIN" createca --file --org "" --out "$T_TMP/e-chain.pem" --key-out "$T_TMP/e.key" 2>&1)
rc=$?
[ "$rc" = 2 ] && [[ "$out" == *"subject would be empty"* ]] && [ ! -e "$T_TMP/e.key" ] \
  && t_ok "createca --file --org \"\": refused, nothing written" || t_bad "empty subject: rc=$rc $out"

grep -qF "$USER_PIN" "$all_out" && t_bad "the PIN appears in fulcrum's output" || t_ok "the PIN appears in no output"
t_done
