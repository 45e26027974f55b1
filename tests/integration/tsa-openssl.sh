#!/usr/bin/env bash
# fulcrum tsa with its key in a PEM file, checked by OpenSSL's own TS
# verifier: a chain made by fulcrum createca --tsa (its leaf checked with
# openssl x509 and pyca/cryptography: critical ExtKeyUsage timeStamping
# only, critical KeyUsage digitalSignature, not a CA), then `openssl ts
# -verify` of replies to queries with and without nonce and certReq, by
# -data, -digest and -queryfile; the JSON form; genTime in whole seconds
# and with --time-precision ms; the policy flags; the certchain endpoint;
# --include-chain-in-response; --use-http-201; an encrypted key.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/tsa-lib.sh"

command -v openssl >/dev/null || t_skip "openssl is needed"
command -v jq >/dev/null || t_skip "jq is needed"
PY=python3
$PY -c 'import cryptography' 2>/dev/null || PY="${FULCRUM_DEPS:-$here/../../.deps}/venv/bin/python"
$PY -c 'import cryptography' 2>/dev/null || t_skip "pyca/cryptography is needed"

# --- the chain ---
tsa_make_chain "$T_TMP/ca" || { t_bad "createca --tsa --file failed"; t_done; exit 1; }
C="$T_TMP/ca"
text=$(openssl x509 -in "$C/leaf.pem" -noout -text)
if grep -A1 'X509v3 Extended Key Usage: critical' <<<"$text" | grep -qx ' *Time Stamping' \
   && grep -A1 'X509v3 Key Usage: critical' <<<"$text" | grep -qx ' *Digital Signature' \
   && grep -A1 'X509v3 Basic Constraints: critical' <<<"$text" | grep -qx ' *CA:FALSE'; then
  t_ok "openssl x509: the TSA leaf has critical EKU timeStamping only, critical KU digitalSignature, CA:FALSE"
else
  t_bad "TSA leaf extensions: $(sed -n '/X509v3 extensions/,/Signature Algorithm/p' <<<"$text")"
fi
if out=$($PY - "$C/leaf.pem" "$C/root.pem" <<'PYEOF' 2>&1
import sys
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
leaf = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
root = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
assert eku.critical, "EKU not critical"
assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING], f"EKU {list(eku.value)}"
ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign, "KeyUsage"
bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
assert not bc.value.ca, "leaf is a CA"
rbc = root.extensions.get_extension_for_class(x509.BasicConstraints)
assert rbc.critical and rbc.value.ca, "root is not a CA"
leaf.verify_directly_issued_by(root)
print("EKU", [o.dotted_string for o in eku.value], "critical; issued by", root.subject.rfc4514_string())
PYEOF
); then
  t_ok "cryptography: $out"
else
  t_bad "cryptography check of the chain: $out"
fi

# --- the server, key in a file ---
tsa_start a --certificate-chain "$C/chain.pem" --private-key "$C/tsa.key" --no-clock-check \
  || { t_bad "fulcrum tsa did not start"; t_done; exit 1; }
data="$T_TMP/artifact.bin"
head -c 4096 /dev/urandom >"$data"

# verify_reply DESC REPLY QUERY CERT(yes|no): openssl ts -verify three ways.
verify_reply() {
  local desc=$1 reply=$2 query=$3 cert=$4 untrusted=() out
  [ "$cert" = no ] && untrusted=(-untrusted "$C/leaf.pem")
  if out=$(openssl ts -verify -in "$reply" -queryfile "$query" -CAfile "$C/root.pem" "${untrusted[@]}" 2>&1) \
     && grep -q '^Verification: OK' <<<"$out" \
     && openssl ts -verify -in "$reply" -data "$data" -CAfile "$C/root.pem" "${untrusted[@]}" 2>&1 | grep -q '^Verification: OK' \
     && openssl ts -verify -in "$reply" -digest "$(openssl dgst -sha256 -r "$data" | cut -d' ' -f1)" \
          -CAfile "$C/root.pem" "${untrusted[@]}" 2>&1 | grep -q '^Verification: OK'; then
    t_ok "$desc: openssl ts -verify OK with -queryfile, -data and -digest"
  else
    t_bad "$desc: openssl ts -verify: $out"
  fi
}

# token_certs REPLY: how many certificates the token carries.
token_certs() {
  openssl ts -reply -in "$1" -token_out -out "$T_TMP/token.der" 2>/dev/null
  openssl pkcs7 -inform DER -in "$T_TMP/token.der" -print_certs 2>/dev/null | grep -c 'BEGIN CERTIFICATE'
}

for nonce in yes no; do
  for cert in yes no; do
    q="$T_TMP/q-$nonce-$cert.tsq"
    args=(-data "$data" -sha256)
    [ "$nonce" = no ] && args+=(-no_nonce)
    [ "$cert" = yes ] && args+=(-cert)
    openssl ts -query "${args[@]}" -out "$q" 2>/dev/null
    r="$T_TMP/r-$nonce-$cert.tsr"
    tsa_post "$a_URL" "$q" application/timestamp-query "$r"
    desc="nonce=$nonce certReq=$cert"
    if [ "$H_STATUS" != 200 ] || [ "$H_TYPE" != application/timestamp-reply ]; then
      t_bad "$desc: status $H_STATUS type $H_TYPE body $H_BODY"
      continue
    fi
    verify_reply "$desc" "$r" "$q" "$cert"
    n=$(token_certs "$r")
    want=0
    [ "$cert" = yes ] && want=1
    rtext=$(openssl ts -reply -in "$r" -text 2>/dev/null)
    qnonce=$(openssl ts -query -in "$q" -text 2>/dev/null | sed -n 's/^Nonce: //p')
    rnonce=$(sed -n 's/^Nonce: //p' <<<"$rtext")
    if [ "$n" = "$want" ] && [ "$qnonce" = "$rnonce" ]; then
      t_ok "$desc: the token carries $n certificate(s); nonce ${rnonce:-unspecified} as asked"
    else
      t_bad "$desc: $n certificates (want $want), nonce $rnonce (query $qnonce)"
    fi
  done
done
# without the leaf at hand, a reply to a query without certReq cannot be checked
if openssl ts -verify -in "$T_TMP/r-yes-no.tsr" -queryfile "$T_TMP/q-yes-no.tsq" -CAfile "$C/root.pem" 2>&1 \
   | grep -q '^Verification: OK'; then
  t_bad "a reply without certificates verified without the signing certificate"
else
  t_ok "certReq false: no certificate in the token (verification needs -untrusted)"
fi
# the reply to one query does not verify against another
if openssl ts -verify -in "$T_TMP/r-yes-yes.tsr" -queryfile "$T_TMP/q-yes-no.tsq" -CAfile "$C/root.pem" 2>&1 \
   | grep -q '^Verification: OK'; then
  t_bad "a reply verified against another query"
else
  t_ok "a reply does not verify against another query (nonce)"
fi

# genTime: whole seconds, policy, accuracy, TSA name
rtext=$(openssl ts -reply -in "$T_TMP/r-yes-yes.tsr" -text 2>/dev/null)
gentime() {
  local off
  off=$(openssl asn1parse -inform DER -in "$1" | awk -F: '/OCTET STRING/ {print $1; exit}' | tr -d ' ')
  openssl asn1parse -inform DER -in "$1" -strparse "$off" | awk -F: '/GENERALIZEDTIME/ {print $NF; exit}'
}
gt=$(gentime "$T_TMP/r-yes-yes.tsr")
if [[ "$gt" =~ ^[0-9]{14}Z$ ]] && grep -q '^Policy OID: 1.3.6.1.4.1.57264.2$' <<<"$rtext" \
   && grep -q '^Accuracy: 0x01 seconds' <<<"$rtext" && grep -q '^TSA: DirName:.*Timestamping' <<<"$rtext"; then
  t_ok "TSTInfo: genTime $gt (whole seconds), policy 1.3.6.1.4.1.57264.2, accuracy 1 s, TSA name"
else
  t_bad "TSTInfo: genTime '$gt' / $(grep -E '^(Policy|Accuracy|TSA)' <<<"$rtext" | tr '\n' ' ')"
fi

# --- the JSON form (what sigstore-js sends), SHA-384 ---
dig=$(openssl dgst -sha384 -binary "$data" | base64 -w0)
jq -n --arg h "$dig" '{artifactHash: $h, hashAlgorithm: "sha384", nonce: 123456789, certificates: true}' >"$T_TMP/q.json"
tsa_post "$a_URL" "$T_TMP/q.json" application/json "$T_TMP/r-json.tsr"
if [ "$H_STATUS" = 200 ] && openssl ts -verify -in "$T_TMP/r-json.tsr" -data "$data" -CAfile "$C/root.pem" 2>&1 | grep -q '^Verification: OK' \
   && openssl ts -reply -in "$T_TMP/r-json.tsr" -text 2>/dev/null | grep -q '^Nonce: 0x075BCD15$' \
   && [ "$(token_certs "$T_TMP/r-json.tsr")" = 1 ]; then
  t_ok "JSON request (sha384, nonce 123456789, certificates true): 200, verifies, nonce and certificate in"
else
  t_bad "JSON request: status $H_STATUS $(openssl ts -reply -in "$T_TMP/r-json.tsr" -text 2>&1 | head -20)"
fi

# --- GET /api/v1/timestamp/certchain ---
code=$(curl -sS -o "$T_TMP/certchain.pem" -D "$T_TMP/cc.hdr" -w '%{http_code}' "$a_URL/api/v1/timestamp/certchain")
if [ "$code" = 200 ] && cmp -s "$T_TMP/certchain.pem" "$C/chain.pem" \
   && grep -qi '^content-type: application/pem-certificate-chain' "$T_TMP/cc.hdr"; then
  t_ok "certchain: 200 application/pem-certificate-chain, the chain file's certificates"
else
  t_bad "certchain: $code $(head -3 "$T_TMP/cc.hdr")"
fi
tsa_stop "$a_PID"

# --- milliseconds, another policy, the whole chain, 201 ---
tsa_start b --certificate-chain "$C/chain.pem" --private-key "$C/tsa.key" --no-clock-check \
  --time-precision ms --policy-oid 1.2.3.4 --accepted-policy-oids 1.2.3.4,1.2.3.5 \
  --include-chain-in-response --use-http-201 || { t_bad "fulcrum tsa (b) did not start"; t_done; exit 1; }
openssl ts -query -data "$data" -sha256 -cert -out "$T_TMP/qb.tsq" 2>/dev/null
tsa_post "$b_URL" "$T_TMP/qb.tsq" application/timestamp-query "$T_TMP/rb.tsr"
gt=$(gentime "$T_TMP/rb.tsr")
if [ "$H_STATUS" = 201 ] && [[ "$gt" =~ ^[0-9]{14}\.[0-9]{2}[1-9]Z$ ]] \
   && openssl ts -reply -in "$T_TMP/rb.tsr" -text 2>/dev/null | grep -q '^Policy OID: 1.2.3.4$' \
   && [ "$(token_certs "$T_TMP/rb.tsr")" = 2 ]; then
  t_ok "--time-precision ms: genTime $gt; --use-http-201: 201; --policy-oid; the whole chain in the token"
else
  t_bad "instance b: status $H_STATUS genTime '$gt' certs $(token_certs "$T_TMP/rb.tsr")"
fi
verify_reply "milliseconds, whole chain" "$T_TMP/rb.tsr" "$T_TMP/qb.tsq" yes
openssl ts -query -data "$data" -sha256 -tspolicy 1.2.3.5 -out "$T_TMP/qp.tsq" 2>/dev/null
tsa_post "$b_URL" "$T_TMP/qp.tsq" application/timestamp-query "$T_TMP/rp.tsr"
if [ "$H_STATUS" = 201 ] && openssl ts -reply -in "$T_TMP/rp.tsr" -text 2>/dev/null | grep -q '^Policy OID: 1.2.3.5$'; then
  t_ok "reqPolicy 1.2.3.5 (accepted): the token carries it"
else
  t_bad "reqPolicy 1.2.3.5: status $H_STATUS"
fi
openssl ts -query -data "$data" -sha256 -tspolicy 1.3.6.1.4.1.57264.2 -out "$T_TMP/qp2.tsq" 2>/dev/null
tsa_post "$b_URL" "$T_TMP/qp2.tsq"
if [ "$H_STATUS" = 400 ] && [ "$H_BODY" = '{"code":400,"message":"unaccepted policy: requested TSA policy is not supported by the TSA"}' ]; then
  t_ok "reqPolicy outside --accepted-policy-oids: 400 unaccepted policy"
else
  t_bad "unaccepted reqPolicy: $H_STATUS $H_BODY"
fi
tsa_stop "$b_PID"

# --- an encrypted key (createca with FULCRUM_FILECA_KEY_PASSWD) ---
FULCRUM_FILECA_KEY_PASSWD=tsa-secret-pass tsa_make_chain "$T_TMP/enc" || { t_bad "createca --tsa (encrypted)"; t_done; exit 1; }
if grep -q 'ENCRYPTED PRIVATE KEY' "$T_TMP/enc/tsa.key" && ! tsa_start e1 --certificate-chain "$T_TMP/enc/chain.pem" \
     --private-key "$T_TMP/enc/tsa.key" --no-clock-check >/dev/null; then
  t_ok "an encrypted key without FULCRUM_TSA_KEY_PASSWD: refused at start ($(grep -o 'private-key: .*' "$T_TMP/e1.tsa.log" | head -c 100))"
else
  t_bad "encrypted key without its passphrase"
fi
FULCRUM_TSA_KEY_PASSWD=tsa-secret-pass tsa_start e2 --certificate-chain "$T_TMP/enc/chain.pem" \
  --private-key "$T_TMP/enc/tsa.key" --no-clock-check || t_bad "encrypted key with FULCRUM_TSA_KEY_PASSWD did not start"
tsa_post "${e2_URL:-http://127.0.0.1:1}" "$T_TMP/q-yes-yes.tsq"
if [ "$H_STATUS" = 200 ] && openssl ts -verify -in "$T_TMP/reply.tsr" -queryfile "$T_TMP/q-yes-yes.tsq" \
     -CAfile "$T_TMP/enc/root.pem" 2>&1 | grep -q '^Verification: OK' \
   && ! tr '\0' '\n' <"/proc/$e2_PID/environ" | grep -q tsa-secret-pass; then
  t_ok "encrypted key with FULCRUM_TSA_KEY_PASSWD: stamps and verifies; the passphrase is wiped from its environment"
else
  t_bad "encrypted key: status $H_STATUS"
fi
t_done
