#!/usr/bin/env bash
# fulcrum serve --ca fileca: a root + intermediate made with the openssl CLI,
# an encrypted intermediate key, start-up checks that refuse a bad CA with a
# message saying which check failed (and never the passphrase), and a SIGHUP
# reload to a new CA while requests are in flight, none dropped.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"

PASS="correct horse battery staple"
# make_ca DIR [INTERMEDIATE_EXTS]: root (P-384) and intermediate (P-256,
# encrypted key) in DIR; chain.pem = intermediate then root.
make_ca() {
  local d=$1 iext=${2:-"basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
extendedKeyUsage=codeSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"}
  mkdir -p "$d"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$d/root.key" 2>/dev/null
  openssl req -new -key "$d/root.key" -subj "/O=fulcrum test/CN=Test Root $(basename "$d")" -out "$d/root.csr"
  printf 'basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' >"$d/root.ext"
  openssl x509 -req -in "$d/root.csr" -signkey "$d/root.key" -days 3650 -extfile "$d/root.ext" -out "$d/root.pem" 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc -pass "pass:$PASS" -out "$d/int.key" 2>/dev/null
  openssl req -new -key "$d/int.key" -passin "pass:$PASS" -subj "/O=fulcrum test/CN=Test Intermediate $(basename "$d")" -out "$d/int.csr"
  printf '%s\n' "$iext" >"$d/int.ext"
  openssl x509 -req -in "$d/int.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -CAcreateserial -days 365 \
    -extfile "$d/int.ext" -out "$d/int.pem" 2>/dev/null
  cat "$d/int.pem" "$d/root.pem" >"$d/chain.pem"
}

make_ca "$T_TMP/ca1"
make_ca "$T_TMP/ca2"
issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
body=$(v2_body "$tok" "$T_TMP/client.pem" alice@example.com)

# --- start-up refusals, each with its own message, the passphrase never shown
refuse_start() { # DESC REGEX ARGS...
  local desc=$1 re=$2
  shift 2
  out=$(FULCRUM_FILECA_KEY_PASSWD="$PASS" timeout 20 "$FULCRUM_BIN" serve --host 127.0.0.1 --port 0 --metrics-port 0 \
    --ct-log-url "" --journal-dir "$T_TMP/refused.journal" --config-path "$cfg" --ca fileca "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -Eq -- "$re" <<<"$out" && ! grep -qF "$PASS" <<<"$out"; then
    t_ok "$desc: $(grep -E -- "$re" <<<"$out" | head -1 | head -c 200)"
  else
    t_bad "$desc: rc=$rc out=$out (want /$re/)"
  fi
}
refuse_start "key does not match the chain" "match|public key" \
  --fileca-cert "$T_TMP/ca1/chain.pem" --fileca-key "$T_TMP/ca2/int.key"
refuse_start "wrong passphrase" "passphrase|decrypt|password" \
  --fileca-cert "$T_TMP/ca1/chain.pem" --fileca-key "$T_TMP/ca1/int.key" --fileca-key-passwd "not the $PASS either"
make_ca "$T_TMP/ca3" "basicConstraints=CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"
refuse_start "intermediate BasicConstraints not critical" "BasicConstraints.*critical|critical.*BasicConstraints" \
  --fileca-cert "$T_TMP/ca3/chain.pem" --fileca-key "$T_TMP/ca3/int.key"
make_ca "$T_TMP/ca4" "basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"
refuse_start "intermediate without keyCertSign" "keyCertSign" \
  --fileca-cert "$T_TMP/ca4/chain.pem" --fileca-key "$T_TMP/ca4/int.key"
cat "$T_TMP/ca1/int.pem" "$T_TMP/ca2/root.pem" >"$T_TMP/mixed.pem"
refuse_start "chain whose issuer names do not link" "issuer is not the subject" \
  --fileca-cert "$T_TMP/mixed.pem" --fileca-key "$T_TMP/ca1/int.key"
# CA 1's intermediate with one bit of its signature flipped
openssl x509 -in "$T_TMP/ca1/int.pem" -outform DER -out "$T_TMP/forged.der"
python3 -c 'import sys; d=bytearray(open(sys.argv[1],"rb").read()); d[-3]^=1; open(sys.argv[1],"wb").write(d)' "$T_TMP/forged.der"
{ openssl x509 -inform DER -in "$T_TMP/forged.der"; cat "$T_TMP/ca1/root.pem"; } >"$T_TMP/forged.pem"
refuse_start "chain whose signature does not verify" "signature" \
  --fileca-cert "$T_TMP/forged.pem" --fileca-key "$T_TMP/ca1/int.key"

# --- serve with CA 1 (passphrase from the environment, not the command line)
cp "$T_TMP/ca1/chain.pem" "$T_TMP/chain.pem"
cp "$T_TMP/ca1/int.key" "$T_TMP/ca.key"
export FULCRUM_FILECA_KEY_PASSWD="$PASS"
serve_start ca --ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/chain.pem" \
  --fileca-key "$T_TMP/ca.key" --fileca-watch false || exit 1
unset FULCRUM_FILECA_KEY_PASSWD
http POST "$ca_URL/api/v2/signingCert" "$body"
echo "$H_BODY" | jq -r '.signedCertificateDetachedSct.chain.certificates[0]' >"$T_TMP/leaf1.pem"
[ "$H_STATUS" = 200 ] && [ "$(echo "$H_BODY" | jq '.signedCertificateDetachedSct.chain.certificates | length')" = 3 ] \
  && t_ok "fileca: leaf, intermediate and root returned" || t_bad "fileca issue: $H_STATUS $H_BODY"
openssl verify -CAfile "$T_TMP/ca1/root.pem" -untrusted "$T_TMP/ca1/int.pem" "$T_TMP/leaf1.pem" >/dev/null 2>&1 \
  && t_ok "openssl verify: leaf <- intermediate <- root" || t_bad "leaf does not verify under CA 1"
http GET "$ca_URL/api/v2/trustBundle"
[ "$(echo "$H_BODY" | jq '.chains[0].certificates | length')" = 2 ] && t_ok "trustBundle serves intermediate and root" \
  || t_bad "trustBundle: $H_BODY"
grep -qF "$PASS" "$T_TMP/ca.serve.log" && t_bad "passphrase in the log" || t_ok "passphrase not in the log"

# --- SIGHUP to CA 2 with requests in flight: none may fail
( for i in $(seq 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST --data-binary "$body" "$ca_URL/api/v2/signingCert")
    echo "$code"
  done >"$T_TMP/inflight.codes" ) &
load=$!
sleep 0.3
cp "$T_TMP/ca2/chain.pem" "$T_TMP/chain.pem"
cp "$T_TMP/ca2/int.key" "$T_TMP/ca.key"
# The reload reads the passphrase it started with; CA 2 uses the same one.
kill -HUP "$ca_PID"
wait "$load"
[ "$(grep -vc '^200$' "$T_TMP/inflight.codes")" = 0 ] && [ "$(wc -l <"$T_TMP/inflight.codes")" = 60 ] \
  && t_ok "60 requests during the reload all answered 200" || t_bad "requests during reload: $(sort "$T_TMP/inflight.codes" | uniq -c | tr '\n' ' ')"
sleep 0.2
http POST "$ca_URL/api/v2/signingCert" "$body"
echo "$H_BODY" | jq -r '.signedCertificateDetachedSct.chain.certificates[0]' >"$T_TMP/leaf2.pem"
openssl verify -CAfile "$T_TMP/ca2/root.pem" -untrusted "$T_TMP/ca2/int.pem" "$T_TMP/leaf2.pem" >/dev/null 2>&1 \
  && t_ok "after SIGHUP the leaf chains to CA 2" || t_bad "after SIGHUP: $(cat "$T_TMP/ca.serve.log" | tail -3)"
grep -q 'reloaded the CA' "$T_TMP/ca.serve.log" && t_ok "reload logged" || t_bad "no reload in the log"

# --- a broken reload keeps the old CA
cp "$T_TMP/ca1/chain.pem" "$T_TMP/chain.pem"   # chain 1 with key 2: mismatch
kill -HUP "$ca_PID"
sleep 0.5
http POST "$ca_URL/api/v2/signingCert" "$body"
echo "$H_BODY" | jq -r '.signedCertificateDetachedSct.chain.certificates[0]' >"$T_TMP/leaf3.pem"
openssl verify -CAfile "$T_TMP/ca2/root.pem" -untrusted "$T_TMP/ca2/int.pem" "$T_TMP/leaf3.pem" >/dev/null 2>&1 \
  && grep -q 'reload refused' "$T_TMP/ca.serve.log" \
  && t_ok "a bad reload is refused and CA 2 keeps serving" || t_bad "bad reload: $H_STATUS"

t_done
