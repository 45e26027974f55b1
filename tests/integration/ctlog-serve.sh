#!/usr/bin/env bash
# fulcrum serve (fileca) logging to fulcrum ctlog: the certificate carries
# one embedded SCT from our log; openssl shows it; pyca/cryptography
# verifies its signature over tbs_precertificate_bytes with the log key;
# and the Go reader proves the entry at the SCT's leaf_index.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/ctlog-lib.sh"

command -v jq >/dev/null || t_skip "jq not installed"
serve_help=$("$FULCRUM_BIN" serve --help 2>&1) # read whole: grep -q would close the pipe early
grep -q -- --ct-log-public-key-path <<<"$serve_help" || t_skip "fulcrum serve has no CT log support"
PY=python3
$PY -c 'import cryptography' 2>/dev/null || PY="$here/../../.deps/venv/bin/python"
$PY -c 'import cryptography' 2>/dev/null || t_skip "pyca/cryptography is needed"
ct_need_reader

# the CA (fileca): root and intermediate with codeSigning
d="$T_TMP/ca"
mkdir -p "$d"
openssl ecparam -name prime256v1 -genkey -noout -out "$d/root.key" 2>/dev/null
openssl req -new -x509 -key "$d/root.key" -subj "/O=fulcrum test/CN=serve root" -days 30 \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:1" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$d/root.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$d/int.key" 2>/dev/null
openssl req -new -key "$d/int.key" -subj "/O=fulcrum test/CN=serve intermediate" -out "$d/int.csr"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$d/int.ext"
openssl x509 -req -in "$d/int.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -CAcreateserial -days 30 \
  -extfile "$d/int.ext" -out "$d/int.pem" 2>/dev/null
cat "$d/int.pem" "$d/root.pem" >"$d/chain.pem"
openssl ecparam -name prime256v1 -genkey -noout -out "$d/log.key" 2>/dev/null
openssl ec -in "$d/log.key" -pubout -out "$d/log.pub" 2>/dev/null

ct_start log "$T_TMP/store" "$d/root.pem" "$d/log.key" --batch-max-age 50ms \
  --ext-key-usages CodeSigning || exit 1
CT_URL=$log_URL

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
# serve submits under the origin's path (the submission prefix), as it
# does by default to a log started with --origin localhost:6962/test
serve_start ca --ca fileca --config-path "$cfg" --fileca-cert "$d/chain.pem" --fileca-key "$d/int.key" \
  --fileca-watch false --ct-log-url "$CT_URL/${CT_ORIGIN#*/}" --ct-log-public-key-path "$d/log.pub" || exit 1
code=$(curl -s -o /dev/null -w '%{http_code}' "$CT_URL/elsewhere/ct/v1/get-roots")
[ "$code" = 404 ] && t_ok "the submission API answers under the origin's path only (another prefix: 404)" \
  || t_bad "GET /elsewhere/ct/v1/get-roots: $code"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
subs="$T_TMP/subs.jsonl"
: >"$subs"
for who in alice bob carol; do
  tok=$(mint "$idp_URL" "{\"claims\":{\"sub\":\"$who\",\"email\":\"$who@example.com\",\"email_verified\":true}}")
  body=$(v2_body "$tok" "$T_TMP/client.pem" "$who@example.com")
  http POST "$ca_URL/api/v2/signingCert" "$body"
  if [ "$H_STATUS" != 200 ]; then
    t_bad "$who: signingCert: $H_STATUS $H_BODY"
    continue
  fi
  jq -r '(.signedCertificateEmbeddedSct // .signedCertificateDetachedSct).chain.certificates[0]' <<<"$H_BODY" >"$T_TMP/$who.pem"
  n=$(openssl x509 -in "$T_TMP/$who.pem" -noout -text | grep -c 'Signed Certificate Timestamp:')
  logid=$(openssl pkey -pubin -in "$d/log.pub" -outform DER | sha256sum | cut -c1-16 | sed 's/../&:/g; s/:$//' | tr a-f A-F)
  if [ "$n" = 1 ] && openssl x509 -in "$T_TMP/$who.pem" -noout -text | grep -A3 'Signed Certificate Timestamp:' | grep -q "$logid"; then
    t_ok "$who: openssl shows one embedded SCT from our log (log ID $logid...)"
  else
    t_bad "$who: SCTs in the certificate: $n"
  fi
  # pyca/cryptography: the SCT signature over the precert signed data
  if out=$($PY "$here/../interop/embedded-sct.py" "$T_TMP/$who.pem" "$d/int.pem" "$d/log.pub" 2>"$T_TMP/sct.err"); then
    t_ok "$who: pyca/cryptography verifies the SCT over tbs_precertificate_bytes (leaf_index $(jq .index <<<"$out"))"
    jq -c -n --argjson o "$out" --arg c "$(ct_b64 "$T_TMP/$who.pem")" --arg i "$(ct_b64 "$d/int.pem")" \
      '{precert: true, final: true, body: {chain: [$c, $i]}, sct: $o.sct}' >>"$subs"
  else
    t_bad "$who: SCT verification: $out $(cat "$T_TMP/sct.err")"
  fi
done

if "$CT_READER" verify -url "$CT_URL" -log-key "$d/log.pub" -origin "$CT_ORIGIN" -subs "$subs" \
  >"$T_TMP/reader.log" 2>&1 && [ "$(wc -l <"$subs")" = 3 ]; then
  t_ok "reader: the 3 certificates' entries are in the tree at their SCTs' leaf_index"
else
  t_bad "reader: $(cat "$T_TMP/reader.log")"
fi
t_done
