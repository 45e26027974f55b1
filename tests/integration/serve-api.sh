#!/usr/bin/env bash
# fulcrum serve (ephemeralca, no CT) over real HTTP: Fulcio's v2 and v1 API,
# the read-only endpoints, and every refusal the issuance issue names, each
# with its status and message, and nothing issued. Certificates are checked
# with the openssl CLI, independently of our code.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
serve_start ca --ca ephemeralca --config-path "$cfg" || exit 1
API=$ca_URL

tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/p256.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/other.pem" 2>/dev/null

api_body() { # KEY_PEM_FILE POP_B64 [TOKEN]: with the algorithm field and a given PoP (lib.sh v2_body makes the PoP itself)
  jq -n --arg t "${3-$tok}" --arg k "$(pubkey_pem "$1")" --arg p "$2" \
    '{credentials: {oidcIdentityToken: $t}, publicKeyRequest: {publicKey: {algorithm: "ECDSA", content: ($k + "\n")}, proofOfPossession: $p}}'
}
issued_count() { # certificates issued so far, from the server log
  grep -c 'issued serial=' "$T_TMP/ca.serve.log"
}

# --- read-only endpoints
http GET "$API/healthz"
[ "$H_STATUS" = 200 ] && [ "$H_BODY" = '{"status":"SERVING"}' ] && t_ok "healthz" || t_bad "healthz: $H_STATUS $H_BODY"
http GET "$API/api/v2/trustBundle"
echo "$H_BODY" | jq -r '.chains[0].certificates[]' >"$T_TMP/bundle.pem"
[ "$H_STATUS" = 200 ] && [ "$(echo "$H_BODY" | jq '.chains | length')" = 1 ] \
  && echo "$H_BODY" | jq -e '.chains[0].certificates[0] | endswith("-----END CERTIFICATE-----\n")' >/dev/null \
  && openssl x509 -in "$T_TMP/bundle.pem" -noout -text | grep -q 'CA:TRUE' \
  && t_ok "trustBundle: one chain, PEMs with trailing newline, a CA root" || t_bad "trustBundle: $H_STATUS $H_BODY"
http GET "$API/api/v2/configuration"
echo "$H_BODY" | jq -e --arg u "$idp_URL" '.issuers == [{issuerUrl: $u, audience: "sigstore", challengeClaim: "email", spiffeTrustDomain: "", issuerType: "email", subjectDomain: "", skipEmailVerification: false}]' >/dev/null \
  && t_ok "configuration lists the issuer as Fulcio does" || t_bad "configuration: $H_BODY"
http GET "$API/api/v1/rootCert"
[ "$H_STATUS" = 200 ] && [ "$H_TYPE" = "application/pem-certificate-chain" ] && grep -q 'BEGIN CERTIFICATE' <<<"$H_BODY" \
  && t_ok "v1 rootCert" || t_bad "v1 rootCert: $H_STATUS $H_TYPE"

# --- v2 happy path: public key + proof of possession over the email
http POST "$API/api/v2/signingCert" "$(api_body "$T_TMP/p256.pem" "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)")"
echo "$H_BODY" | jq -r '.signedCertificateDetachedSct.chain.certificates[0]' >"$T_TMP/leaf.pem"
if [ "$H_STATUS" = 200 ] && [ "$H_TYPE" = application/json ] \
   && echo "$H_BODY" | jq -e '.signedCertificateDetachedSct.signedCertificateTimestamp == "" and (.signedCertificateDetachedSct.chain.certificates | length) == 2 and (.signedCertificateDetachedSct.chain.certificates[0] | endswith("-----END CERTIFICATE-----"))' >/dev/null; then
  t_ok "v2 signingCert: 200, detached form without SCT, leaf + root, PEMs trimmed"
else
  t_bad "v2 signingCert: $H_STATUS $H_BODY"
fi
openssl verify -CAfile "$T_TMP/bundle.pem" "$T_TMP/leaf.pem" >/dev/null 2>&1 \
  && t_ok "openssl verify: leaf chains to the trust bundle" || t_bad "openssl verify failed"
text=$(openssl x509 -in "$T_TMP/leaf.pem" -noout -text -ext subjectAltName 2>/dev/null)
grep -q 'email:alice@example.com' <<<"$text" && t_ok "leaf SAN is the email" || t_bad "leaf SAN: $text"
nb=$(date -d "$(openssl x509 -in "$T_TMP/leaf.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$T_TMP/leaf.pem" -noout -enddate | cut -d= -f2)" +%s)
[ $((na - nb)) -eq 600 ] && [ $(( $(date +%s) - nb )) -lt 30 ] && t_ok "validity: 10 minutes from now" || t_bad "validity $nb..$na"
[ "$(openssl x509 -in "$T_TMP/leaf.pem" -noout -pubkey)" = "$(pubkey_pem "$T_TMP/p256.pem")" ] \
  && t_ok "leaf carries the client's key" || t_bad "leaf key differs"

# --- the same through the Authorization header, and with snake_case names
body=$(jq -n --arg k "$(pubkey_pem "$T_TMP/p256.pem")" --arg p "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)" \
  '{public_key_request: {public_key: {content: $k}, proof_of_possession: $p}}')
http POST "$API/api/v2/signingCert" "$body" -H "Authorization: Bearer $tok"
[ "$H_STATUS" = 200 ] && t_ok "v2: token in Authorization header, snake_case fields" || t_bad "v2 header token: $H_STATUS $H_BODY"

# --- v1: base64 DER public key, signedEmailAddress, 201 PEM chain
der_b64=$(openssl pkey -in "$T_TMP/p256.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
body=$(jq -n --arg k "$der_b64" --arg p "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)" \
  '{publicKey: {content: $k, algorithm: "ecdsa"}, signedEmailAddress: $p}')
http POST "$API/api/v1/signingCert" "$body" -H "Authorization: Bearer $tok"
if [ "$H_STATUS" = 201 ] && [ "$H_TYPE" = application/pem-certificate-chain ] \
   && [ "$(grep -c 'BEGIN CERTIFICATE' <<<"$H_BODY")" = 2 ] && [ "$(tail -c 1 "$T_TMP/http.body" | od -An -c | tr -d ' ')" = "-" ]; then
  t_ok "v1 signingCert: 201, PEM chain, no final newline"
else
  t_bad "v1 signingCert: $H_STATUS $H_TYPE $H_BODY"
fi

# --- CSR path (sigstore-python's way): token in the header
openssl req -new -key "$T_TMP/p256.pem" -subj / -out "$T_TMP/req.pem" 2>/dev/null
body=$(jq -n --arg c "$(base64 -w0 "$T_TMP/req.pem")" '{certificateSigningRequest: $c}')
http POST "$API/api/v2/signingCert" "$body" -H "Authorization: Bearer $tok"
[ "$H_STATUS" = 200 ] && t_ok "v2 with a CSR" || t_bad "v2 CSR: $H_STATUS $H_BODY"

# --- refusals: status, message, and nothing issued
before=$(issued_count)
refused() { # DESC STATUS REGEX BODY [curl args]
  local desc=$1 status=$2 re=$3 body=$4
  shift 4
  http POST "$API/api/v2/signingCert" "$body" "$@"
  if [ "$H_STATUS" = "$status" ] && [ "$H_TYPE" = application/json ] \
     && echo "$H_BODY" | jq -e '(.code | type) == "number" and (.details == [])' >/dev/null \
     && echo "$H_BODY" | jq -r .message | grep -Eq -- "$re" && ! grep -q 'BEGIN CERTIFICATE' <<<"$H_BODY"; then
    t_ok "$desc: $H_STATUS $(echo "$H_BODY" | jq -r .message | head -c 160)"
  else
    t_bad "$desc: got $H_STATUS $H_TYPE $H_BODY (want $status /$re/)"
  fi
}
key_refused() { # DESC KEYFILE REGEX [DIGEST]
  refused "$1" 400 "$3" "$(api_body "$2" "$(pop_b64 "$2" alice@example.com "${4:-sha256}")")"
}
refused "PoP over the wrong subject" 400 "could not be verified" \
  "$(api_body "$T_TMP/p256.pem" "$(pop_b64 "$T_TMP/p256.pem" mallory@example.com)")"
refused "PoP by another key" 400 "could not be verified" \
  "$(api_body "$T_TMP/p256.pem" "$(pop_b64 "$T_TMP/other.pem" alice@example.com)")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T_TMP/rsa1024.pem" 2>/dev/null
key_refused "RSA 1024" "$T_TMP/rsa1024.pem" "is insecure.*1024"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3 -out "$T_TMP/rsae3.pem" 2>/dev/null
key_refused "RSA e = 3" "$T_TMP/rsae3.pem" "is insecure.*(exponent|65537)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-224 -out "$T_TMP/p224.pem" 2>/dev/null
key_refused "P-224" "$T_TMP/p224.pem" "is insecure.*(P-224|curve)"
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out "$T_TMP/dsap.pem" 2>/dev/null
openssl genpkey -paramfile "$T_TMP/dsap.pem" -out "$T_TMP/dsa.pem" 2>/dev/null
key_refused "DSA" "$T_TMP/dsa.pem" "(insecure|parsed).*DSA"
refused "garbage PEM" 400 "could not be parsed" "$(jq -n --arg t "$tok" \
  '{credentials: {oidcIdentityToken: $t}, publicKeyRequest: {publicKey: {content: "-----BEGIN PUBLIC KEY-----\nbm9wZQ==\n-----END PUBLIC KEY-----\n"}, proofOfPossession: "AAAA"}}')"
openssl req -new -key "$T_TMP/p256.pem" -subj / -outform DER -out "$T_TMP/req.der" 2>/dev/null
python3 -c 'import sys; d=bytearray(open(sys.argv[1],"rb").read()); d[-5]^=1; open(sys.argv[1],"wb").write(d)' "$T_TMP/req.der"
{ echo "-----BEGIN CERTIFICATE REQUEST-----"; base64 -w64 "$T_TMP/req.der"; echo "-----END CERTIFICATE REQUEST-----"; } >"$T_TMP/badreq.pem"
refused "CSR with a broken self-signature" 400 "could not be verified|signature" \
  "$(jq -n --arg t "$tok" --arg c "$(base64 -w0 "$T_TMP/badreq.pem")" '{credentials: {oidcIdentityToken: $t}, certificateSigningRequest: $c}')"
refused "both a key and a CSR" 400 "both set" "$(api_body "$T_TMP/p256.pem" "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)" | \
  jq --arg c "$(base64 -w0 "$T_TMP/req.pem")" '. + {certificateSigningRequest: $c}')"
refused "neither a key nor a CSR" 400 "neither a public key nor" "$(jq -n --arg t "$tok" '{credentials: {oidcIdentityToken: $t}}')"
refused "no token" 400 "error processing the identity token: no identity token" \
  "$(api_body "$T_TMP/p256.pem" "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)" "")"
refused "body is not JSON" 400 "not a JSON object" "this is not json"
now=$(date +%s)
expired=$(mint "$idp_URL" "{\"claims\":{\"sub\":\"a\",\"email\":\"alice@example.com\",\"email_verified\":true,\"iat\":$((now-7200)),\"exp\":$((now-3600))}}")
refused "expired token" 400 "identity token: token expired" \
  "$(api_body "$T_TMP/p256.pem" "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)" "$expired")"
unverified=$(mint "$idp_URL" '{"claims":{"sub":"a","email":"alice@example.com","email_verified":false}}')
refused "email not verified" 400 "identity token: email_verified" \
  "$(api_body "$T_TMP/p256.pem" "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)" "$unverified")"
refused "unknown issuer" 400 "is not configured" \
  "$(api_body "$T_TMP/p256.pem" "$(pop_b64 "$T_TMP/p256.pem" alice@example.com)" \
     "$(mint "$idp_URL" '{"claims":{"iss":"https://elsewhere.invalid","email":"alice@example.com","email_verified":true}}')")"
head -c 5000000 /dev/zero | tr '\0' 'a' >"$T_TMP/big.json"
H_STATUS=$(curl -sS -o "$T_TMP/http.body" -w '%{http_code}' --max-time 30 -X POST -H 'Content-Type: application/json' \
  --data-binary @"$T_TMP/big.json" "$API/api/v2/signingCert")
[ "$H_STATUS" = 413 ] && jq -e '.code == 3' "$T_TMP/http.body" >/dev/null && t_ok "body over 4 MiB: 413" || t_bad "oversized body: $H_STATUS"
[ "$(issued_count)" = "$before" ] && t_ok "nothing was issued for any refusal" || t_bad "certificates were issued during refusals"

# --- routing
http GET "$API/api/v2/signingCert"
[ "$H_STATUS" = 501 ] && echo "$H_BODY" | jq -e '.code == 12' >/dev/null && t_ok "wrong method: 501" || t_bad "wrong method: $H_STATUS $H_BODY"
http GET "$API/api/v3/nothing"
[ "$H_STATUS" = 404 ] && echo "$H_BODY" | jq -e '.code == 5 and .message == "Not Found"' >/dev/null && t_ok "unknown path: 404" || t_bad "unknown path: $H_STATUS $H_BODY"

# --- the token never reaches the log
grep -qF "${tok%%.*}.${tok#*.}" "$T_TMP/ca.serve.log" && t_bad "the token appears in the server log" || t_ok "the token is not logged"

t_done
