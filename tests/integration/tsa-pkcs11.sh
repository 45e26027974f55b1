#!/usr/bin/env bash
# fulcrum tsa with its key inside a SoftHSM2 token: fulcrum createca --tsa
# generates the root key and the time-stamping key in the token (sensitive,
# never extractable) and writes the chain; fulcrum tsa names the key by an
# RFC 7512 URI (object= with --pkcs11-pin-file, then id= with
# pin-source=) and its replies are checked by `openssl ts -verify` with
# and without nonce and certReq. Also: the certificates are on the token,
# the PIN is in no output, and a wrong PIN refuses to start.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/hsm-lib.sh"
. "$here/tsa-lib.sh"

command -v openssl >/dev/null || t_skip "openssl is needed"
command -v pkcs11-tool >/dev/null || t_skip "pkcs11-tool not installed (apt-get install opensc)"

hsm_init tsa
crypto11_conf "$T_TMP/crypto11.json" tsa
all_out="$T_TMP/all-output.txt"
: >"$all_out"
C="$T_TMP/ca"
mkdir -p "$C"
if "$FULCRUM_BIN" createca --pkcs11-config-path "$T_TMP/crypto11.json" --hsm-caroot-id tsa-root \
     --hsm-key-label TSA-ROOT --tsa --out "$C/chain.pem" --org "fulcrum test" \
     --common-name "TSA Token Root" >"$T_TMP/createca.out" 2>&1; then
  t_ok "createca --tsa in the token: $(grep 'time-stamping certificate created' "$T_TMP/createca.out")"
else
  t_bad "createca --tsa: $(cat "$T_TMP/createca.out")"
  t_done
  exit 1
fi
cat "$T_TMP/createca.out" >>"$all_out"
tsa_split_chain "$C"
objs=$(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label tsa --login --pin "$USER_PIN" --list-objects 2>&1)
if grep -A6 'Private Key Object; EC' <<<"$objs" | grep -q 'label: *TSA-ROOT-tsa' \
   && grep -A8 'label: *TSA-ROOT-tsa' <<<"$objs" | grep -q 'never extractable' \
   && [ "$(grep -c 'Certificate Object' <<<"$objs")" = 2 ]; then
  t_ok "token: the time-stamping key TSA-ROOT-tsa (never extractable) and both certificates"
else
  t_bad "token objects: $objs"
fi
if grep -A1 'X509v3 Extended Key Usage: critical' <(openssl x509 -in "$C/leaf.pem" -noout -text) | grep -qx ' *Time Stamping'; then
  t_ok "the leaf written to --out has critical EKU timeStamping"
else
  t_bad "leaf EKU: $(openssl x509 -in "$C/leaf.pem" -noout -text | grep -A1 'Key Usage')"
fi

printf '%s\n' "$USER_PIN" >"$T_TMP/pin"
URI="pkcs11:token=tsa;object=TSA-ROOT-tsa?module-path=$SOFTHSM_MODULE"
tsa_start p --certificate-chain "$C/chain.pem" --private-key "$URI" --pkcs11-pin-file "$T_TMP/pin" \
  --no-clock-check || { t_bad "fulcrum tsa with a pkcs11: key did not start"; t_done; exit 1; }
data="$T_TMP/data.bin"
head -c 2000 /dev/urandom >"$data"
for nonce in yes no; do
  for cert in yes no; do
    args=(-data "$data" -sha256)
    [ "$nonce" = no ] && args+=(-no_nonce)
    [ "$cert" = yes ] && args+=(-cert)
    openssl ts -query "${args[@]}" -out "$T_TMP/q.tsq" 2>/dev/null
    tsa_post "$p_URL" "$T_TMP/q.tsq"
    untrusted=()
    [ "$cert" = no ] && untrusted=(-untrusted "$C/leaf.pem")
    if [ "$H_STATUS" = 200 ] && openssl ts -verify -in "$T_TMP/reply.tsr" -queryfile "$T_TMP/q.tsq" \
         -CAfile "$C/root.pem" "${untrusted[@]}" 2>&1 | grep -q '^Verification: OK'; then
      t_ok "token key, nonce=$nonce certReq=$cert: openssl ts -verify OK"
    else
      t_bad "token key, nonce=$nonce certReq=$cert: status $H_STATUS $H_BODY"
    fi
  done
done
tsa_stop "$p_PID"
cat "$T_TMP/p.tsa.log" >>"$all_out"

# the key by id, the PIN from the URI's pin-source
id_hex=$(printf 'tsa-root-tsa' | od -An -tx1 | tr -d ' \n' | sed 's/../%&/g')
tsa_start q --certificate-chain "$C/chain.pem" --no-clock-check \
  --private-key "pkcs11:token=tsa;id=$id_hex?module-path=$SOFTHSM_MODULE&pin-source=file:$T_TMP/pin" \
  || t_bad "fulcrum tsa with id= and pin-source did not start"
openssl ts -query -data "$data" -sha512 -cert -out "$T_TMP/q.tsq" 2>/dev/null
tsa_post "${q_URL:-http://127.0.0.1:1}" "$T_TMP/q.tsq"
if [ "$H_STATUS" = 200 ] && openssl ts -verify -in "$T_TMP/reply.tsr" -queryfile "$T_TMP/q.tsq" \
     -CAfile "$C/root.pem" 2>&1 | grep -q '^Verification: OK'; then
  t_ok "key by id= with pin-source=: SHA-512 query stamped and verified"
else
  t_bad "key by id=: status $H_STATUS $H_BODY"
fi
[ -n "${q_PID:-}" ] && tsa_stop "$q_PID"
cat "$T_TMP/q.tsa.log" >>"$all_out" 2>/dev/null

# a wrong PIN
printf 'not-the-pin\n' >"$T_TMP/badpin"
out=$(timeout 20 "$FULCRUM_BIN" tsa --listen 127.0.0.1:0 --certificate-chain "$C/chain.pem" \
  --private-key "$URI" --pkcs11-pin-file "$T_TMP/badpin" --no-clock-check 2>&1)
rc=$?
echo "$out" >>"$all_out"
if [ "$rc" = 2 ] && grep -q 'private-key' <<<"$out"; then
  t_ok "a wrong PIN: exit 2: $(head -c 160 <<<"$out")"
else
  t_bad "a wrong PIN: exit $rc: $out"
fi
if grep -q "$USER_PIN" "$all_out"; then
  t_bad "the PIN appears in fulcrum's output"
else
  t_ok "the PIN appears in no output of fulcrum"
fi
t_done
