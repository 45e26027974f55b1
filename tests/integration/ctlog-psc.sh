#!/usr/bin/env bash
# fulcrum ctlog and an RFC 6962 3.1 Precertificate Signing Certificate,
# every certificate made with the openssl CLI (`openssl ca`, so that the
# precertificate and the final certificate share serial, validity and
# extension order):
#   root -> intermediate (the final issuer) -> PSC (CA, EKU
#   1.3.6.1.4.1.11129.2.4.4, signs precertificates only)
#   precertificate: issued by the PSC (issuer = PSC, AKI = PSC's key id)
#   final certificate: issued by the intermediate (issuer and AKI of the
#   intermediate), the SCT list where the poison was.
# add-pre-chain [precert, PSC, intermediate, root] is accepted; the SCT
# verifies against the *final* certificate with OpenSSL's own CT code
# (fake_ctlog check: SCT_LIST_validate, issuer = the intermediate) and
# with pyca/cryptography (ct-check-sct.py, which also finds the entry in
# the log's data tiles: issuer key hash of the intermediate, TBS with its
# name and key id); openssl verify accepts the final chain. Refused: the
# PSC without its issuer, add-chain of a certificate the PSC signed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ctlog-lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
PY=${FULCRUM_DEPS:-$here/../../.deps}/venv/bin/python
: "${FULCRUM_FAKE_CTLOG:?FULCRUM_FAKE_CTLOG must name the fake_ctlog test tool (meson sets it)}"
command -v jq >/dev/null || t_skip "jq not installed"
[ -x "$PY" ] && "$PY" -c 'import cryptography' 2>/dev/null \
  || t_skip "the python venv with cryptography is not installed (tests/tools/install-interop.sh)"

d="$T_TMP/pki"
ct_make_ca "$d"   # root, inter (the final issuer), log key

# the precertificate signing certificate, issued by the intermediate
openssl ecparam -name prime256v1 -genkey -noout -out "$d/psc.key" 2>/dev/null
openssl req -new -key "$d/psc.key" -subj "/O=fulcrum test/CN=precertificate signing" -out "$d/psc.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,digitalSignature\nextendedKeyUsage=1.3.6.1.4.1.11129.2.4.4\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' >"$d/psc.ext"
openssl x509 -req -in "$d/psc.csr" -CA "$d/inter.pem" -CAkey "$d/inter.key" -set_serial 0x5ca1ab1e \
  -days 2 -extfile "$d/psc.ext" -out "$d/psc.pem" 2>/dev/null || { t_bad "cannot make the PSC"; t_done; exit 1; }
openssl x509 -in "$d/psc.pem" -noout -text | grep -A1 'Extended Key Usage' | grep -q 'CT Precertificate Signer' \
  && t_ok "openssl made a precertificate signing certificate (EKU 1.3.6.1.4.1.11129.2.4.4)" || t_bad "PSC EKU"

# ca_dir NAME: an `openssl ca` directory with one serial for both issuances
SERIAL=$(openssl rand -hex 16 | sed 's/^./4/')
START=$(date -u -d '-1 minute' +%Y%m%d%H%M%SZ)
END=$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)
ca_dir() {
  local c="$d/ca-$1"
  mkdir -p "$c/new"
  : >"$c/index.txt"
  echo "$SERIAL" >"$c/serial"
  cat >"$c/ca.cnf" <<EOF
[ ca ]
default_ca = this
[ this ]
database = $c/index.txt
new_certs_dir = $c/new
serial = $c/serial
default_md = sha256
policy = any
unique_subject = no
email_in_dn = no
copy_extensions = none
[ any ]
commonName = optional
organizationName = optional
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectAltName = critical,email:alice@example.com
authorityKeyIdentifier = keyid:always
EOF
}
# the leaf: its key and request
openssl ecparam -name prime256v1 -genkey -noout -out "$d/leaf.key" 2>/dev/null
openssl req -new -key "$d/leaf.key" -subj "/O=fulcrum test/CN=psc leaf" -out "$d/leaf.csr" 2>/dev/null

# the precertificate, signed by the PSC; the poison last
ca_dir pre
echo "$POISON_OID = critical,DER:0500" >>"$d/ca-pre/ca.cnf"
openssl ca -config "$d/ca-pre/ca.cnf" -cert "$d/psc.pem" -keyfile "$d/psc.key" -in "$d/leaf.csr" \
  -out "$d/pre.pem" -startdate "$START" -enddate "$END" -extensions leaf -preserveDN -notext -batch \
  >"$T_TMP/ca-pre.log" 2>&1 || { cat "$T_TMP/ca-pre.log"; t_bad "openssl ca (precert)"; t_done; exit 1; }
# (openssl verify refuses a precertificate: its poison is an unknown critical extension)
"$PY" -c 'import sys; from cryptography import x509
p, i = (x509.load_pem_x509_certificate(open(f, "rb").read()) for f in sys.argv[1:])
p.verify_directly_issued_by(i)' "$d/pre.pem" "$d/psc.pem" \
  && t_ok "the precertificate is issued and signed by the PSC" || t_bad "precert not signed by the PSC"

CT_URL=
ct_start log "$T_TMP/store" "$d/root.pem" "$d/log.key" --ext-key-usages CodeSigning --batch-max-age 100ms \
  || { t_bad "fulcrum ctlog did not start"; t_done; exit 1; }
CT_URL=$log_URL

# refusals first: the PSC without the CA that issued it (the chain then
# does not end at a root), and add-chain of a certificate the PSC signed
http POST "$CT_URL/ct/v1/add-pre-chain" "$(ct_body "$d/pre.pem" "$d/psc.pem")"
[ "$H_STATUS" = 400 ] && t_ok "[precert, PSC] alone: 400 ($H_BODY)" || t_bad "[precert, PSC]: $H_STATUS $H_BODY"
ct_make_leaf "$d" bypsc cert psc
http POST "$CT_URL/ct/v1/add-chain" "$(ct_body "$d/bypsc.pem" "$d/psc.pem" "$d/inter.pem" "$d/root.pem")"
[ "$H_STATUS" = 400 ] && grep -q 'signs precertificates only' <<<"$H_BODY" \
  && t_ok "add-chain of a certificate signed by the PSC: 400 ($H_BODY)" || t_bad "add-chain by PSC: $H_STATUS $H_BODY"

# the submission
http POST "$CT_URL/ct/v1/add-pre-chain" "$(ct_body "$d/pre.pem" "$d/psc.pem" "$d/inter.pem" "$d/root.pem")"
if [ "$H_STATUS" = 200 ]; then
  t_ok "add-pre-chain [precert, PSC, intermediate, root]: 200"
else
  t_bad "add-pre-chain with the PSC: $H_STATUS $H_BODY"; t_done; exit 1
fi
SCT_JSON=$H_BODY
http POST "$CT_URL/ct/v1/add-pre-chain" "$(ct_body "$d/pre.pem" "$d/psc.pem" "$d/inter.pem" "$d/root.pem")"
[ "$H_STATUS" = 200 ] && [ "$H_BODY" = "$SCT_JSON" ] && t_ok "resubmitted: the same SCT" || t_bad "resubmission: $H_STATUS $H_BODY"

# the final certificate: issued by the intermediate, the SCT list (the DER
# OCTET STRING holding the TLS list, RFC 6962 3.3) where the poison was
hex=$(python3 - "$SCT_JSON" <<'PY'
import base64, json, sys
a = json.loads(sys.argv[1])
ext = base64.b64decode(a["extensions"])
sct = (bytes([a["sct_version"]]) + base64.b64decode(a["id"]) + a["timestamp"].to_bytes(8, "big")
       + len(ext).to_bytes(2, "big") + ext + base64.b64decode(a["signature"]))
lst = len(sct).to_bytes(2, "big") + sct
tls = len(lst).to_bytes(2, "big") + lst
n = len(tls)
hdr = bytes([0x04, n]) if n < 128 else bytes([0x04, 0x81, n]) if n < 256 else bytes([0x04, 0x82, n >> 8, n & 255])
print((hdr + tls).hex())
PY
)
ca_dir final
echo "1.3.6.1.4.1.11129.2.4.2 = DER:$hex" >>"$d/ca-final/ca.cnf"
openssl ca -config "$d/ca-final/ca.cnf" -cert "$d/inter.pem" -keyfile "$d/inter.key" -in "$d/leaf.csr" \
  -out "$d/final.pem" -startdate "$START" -enddate "$END" -extensions leaf -preserveDN -notext -batch \
  >"$T_TMP/ca-final.log" 2>&1 || { cat "$T_TMP/ca-final.log"; t_bad "openssl ca (final)"; t_done; exit 1; }
[ "$(openssl x509 -in "$d/final.pem" -noout -serial)" = "$(openssl x509 -in "$d/pre.pem" -noout -serial)" ] \
  && t_ok "final certificate: same serial as the precertificate, issued by the intermediate" || t_bad "serials differ"
text=$(openssl x509 -in "$d/final.pem" -noout -text)
grep -q 'CT Precertificate SCTs' <<<"$text" && [ "$(grep -c 'Signed Certificate Timestamp:' <<<"$text")" = 1 ] \
  && t_ok "openssl x509 -text: one SCT in the final certificate" || t_bad "final cert SCTs: $text"
cat "$d/inter.pem" >"$d/untrusted.pem"
openssl verify -CAfile "$d/root.pem" -untrusted "$d/untrusted.pem" "$d/final.pem" >/dev/null 2>&1 \
  && t_ok "openssl verify: final certificate -> intermediate -> root" || t_bad "openssl verify of the final certificate"

# OpenSSL's CT code: the SCT over the final certificate, issuer = the intermediate
if out=$("$FULCRUM_FAKE_CTLOG" check --cert "$d/final.pem" --issuer "$d/inter.pem" --log-key "$d/log.pub" 2>&1); then
  t_ok "OpenSSL SCT_LIST_validate on the final certificate: $out"
else
  t_bad "OpenSSL SCT validation: $out"
fi
# control: against the PSC as issuer (the key hash the log must NOT use) it fails
if "$FULCRUM_FAKE_CTLOG" check --cert "$d/final.pem" --issuer "$d/psc.pem" --log-key "$d/log.pub" >/dev/null 2>&1; then
  t_bad "the SCT also validates with the PSC as issuer: the log used the wrong issuer key hash"
else
  t_ok "control: with the PSC as issuer OpenSSL refuses it (the log used the final issuer's key hash)"
fi
# pyca/cryptography + the entry in the log's data tiles
cat "$d/final.pem" "$d/inter.pem" "$d/root.pem" >"$d/final-chain.pem"
if out=$("$PY" "$here/../interop/ct-check-sct.py" "$d/final-chain.pem" --log-key "$d/log.pub" --leaf-index \
    --log-storage "$T_TMP/store" 2>&1); then
  t_ok "pyca/cryptography and the log's data tile: ${out#ct-check-sct: ok: }"
else
  t_bad "ct-check-sct.py: $out"
fi

ct_stop "$log_PID"
grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP/log.ctlog.log" \
  && t_bad "sanitizer report: $(grep -m3 -E 'ERROR|runtime error' "$T_TMP/log.ctlog.log")" || t_ok "no sanitizer report"
t_done
