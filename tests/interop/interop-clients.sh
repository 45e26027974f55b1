#!/usr/bin/env bash
# Real Sigstore clients against `fulcrum serve` (ephemeralca, no CT log):
#   * sigstore-js (@sigstore/sign FulcioSigner: token in the body, P-256 key,
#     PoP over email-or-sub) through js/request-cert.mjs;
#   * sigstore-python (FulcioClient + Signer._build_csr: CSR, token in the
#     Authorization header) through py/request_cert.py;
#   * the v1 API as cosign v2 calls it (curl + openssl);
# every certificate is checked by check_cert.py (pyca/cryptography and
# `openssl verify`, none of fulcrum's code) against the trust bundle.
# Needs tests/tools/install-interop.sh to have run; FULCRUM_BIN and
# FULCRUM_TEST_ISSUER as for the integration tests.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"

repo=$(cd "$here/../.." && pwd)
deps=${FULCRUM_DEPS:-$repo/.deps}
PY="$deps/venv/bin/python"
JS="$here/js"
for tool in jq curl openssl; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
command -v node >/dev/null || t_skip "node not installed (sigstore-js)"
[ -f "$JS/node_modules/@sigstore/sign/package.json" ] \
  || t_skip "sigstore-js not installed in $JS/node_modules (run tests/tools/install-interop.sh)"
[ -x "$PY" ] && "$PY" -c 'import sigstore, cryptography' 2>/dev/null \
  || t_skip "sigstore-python not installed in $deps/venv (run tests/tools/install-interop.sh)"

# Both clients honour http(s)_proxy: keep loopback direct.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- one email issuer and one GitHub-workflow issuer, one CA ---
issuer_start idp
issuer_start gh
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" --arg g "$gh_URL" '{OIDCIssuers: {
  ($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"},
  ($g): {IssuerURL: $g, ClientID: "sigstore", Type: "github-workflow"}}}' >"$cfg"

serve_start ca --ca ephemeralca --config-path "$cfg" || { t_bad "fulcrum serve did not start"; t_done; exit 1; }
API=$ca_URL
E=1.3.6.1.4.1.57264.1

curl -fsS --max-time 10 "$API/api/v2/trustBundle" >"$T_TMP/bundle.json" \
  && jq -e '.chains[0].certificates | length >= 1' "$T_TMP/bundle.json" >/dev/null \
  && t_ok "trustBundle served" || { t_bad "trustBundle: $(head -c 300 "$T_TMP/bundle.json")"; t_done; exit 1; }

# check NAME CHAIN_FILE ARGS...: check_cert.py against the trust bundle.
check() {
  local name=$1 file=$2 out
  shift 2
  if out=$("$PY" "$here/check_cert.py" "$file" --ca "$T_TMP/bundle.json" --openssl-verify "$@" 2>&1); then
    t_ok "$name: certificate checks out (cryptography + openssl verify)"
  else
    t_bad "$name: $out"
  fi
}
# same_ca NAME CHAIN_JSON: the chain after the leaf is the trust bundle's chain.
same_ca() {
  if jq -e --slurpfile b "$T_TMP/bundle.json" \
      '(.chain[1:] | map(rtrimstr("\n"))) == ($b[0].chains[0].certificates | map(rtrimstr("\n")))' "$2" >/dev/null; then
    t_ok "$1: chain after the leaf is the trust bundle's"
  else
    t_bad "$1: chain differs from the trust bundle: $(head -c 300 "$2")"
  fi
}

alice='{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}'

# ===== sigstore-js (@sigstore/sign 4.1.1) =====
tok=$(mint "$idp_URL" "$alice")
if node "$JS/request-cert.mjs" "$API" "$tok" >"$T_TMP/js.json" 2>"$T_TMP/js.err"; then
  t_ok "sigstore-js: certificate issued ($(jq '.chain | length' "$T_TMP/js.json") certificates)"
  check "sigstore-js email" "$T_TMP/js.json" --san-type email --san alice@example.com \
    --issuer "$idp_URL" --ext 24 utf8string alice-sub --only-expected
  same_ca "sigstore-js" "$T_TMP/js.json"
else
  t_bad "sigstore-js: $(cat "$T_TMP/js.err")"
fi

# PoP over `sub` (no email claim): a GitHub Actions token, with every
# extension of Fulcio's github-workflow type (docs/oid-info.md).
gh='"sub":"repo:acme/app:ref:refs/heads/main","job_workflow_ref":"acme/app/.github/workflows/release.yml@refs/heads/main","sha":"1111111111111111111111111111111111111111","event_name":"push","repository":"acme/app","workflow":"release","ref":"refs/heads/main","job_workflow_sha":"2222222222222222222222222222222222222222","runner_environment":"github-hosted","repository_id":"42","repository_owner":"acme","repository_owner_id":"7","repository_visibility":"public","workflow_ref":"acme/app/.github/workflows/build.yml@refs/heads/main","workflow_sha":"3333333333333333333333333333333333333333","run_id":"99","run_attempt":"1"'
tok=$(mint "$gh_URL" "{\"claims\":{$gh}}")
if node "$JS/request-cert.mjs" "$API" "$tok" >"$T_TMP/js-gh.json" 2>"$T_TMP/js.err"; then
  t_ok "sigstore-js: certificate issued for a GitHub workflow token (PoP over sub)"
  check "sigstore-js github-workflow" "$T_TMP/js-gh.json" --only-expected \
    --san-type uri --san "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main" \
    --issuer "$gh_URL" \
    --ext 2 raw push --ext 3 raw 1111111111111111111111111111111111111111 \
    --ext 4 raw release --ext 5 raw acme/app --ext 6 raw refs/heads/main \
    --ext 9 utf8string "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main" \
    --ext 10 utf8string 2222222222222222222222222222222222222222 \
    --ext 11 utf8string github-hosted \
    --ext 12 utf8string https://github.com/acme/app \
    --ext 13 utf8string 1111111111111111111111111111111111111111 \
    --ext 14 utf8string refs/heads/main \
    --ext 15 utf8string 42 \
    --ext 16 utf8string https://github.com/acme \
    --ext 17 utf8string 7 \
    --ext 18 utf8string "https://github.com/acme/app/.github/workflows/build.yml@refs/heads/main" \
    --ext 19 utf8string 3333333333333333333333333333333333333333 \
    --ext 20 utf8string push \
    --ext 21 utf8string https://github.com/acme/app/actions/runs/99/attempts/1 \
    --ext 22 utf8string public \
    --ext 24 utf8string "repo:acme/app:ref:refs/heads/main"
else
  t_bad "sigstore-js github-workflow: $(cat "$T_TMP/js.err")"
fi

# A refused token: sigstore-js does not retry a 400 and shows the server's
# JSON message as "(400) <message>".
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true,"aud":"not-sigstore"}}')
if INTEROP_RETRY=0 node "$JS/request-cert.mjs" "$API" "$tok" >"$T_TMP/js.json" 2>"$T_TMP/js.err"; then
  t_bad "sigstore-js: a token for another audience got a certificate"
elif grep -q '(400) There was an error processing the identity token' "$T_TMP/js.err"; then
  t_ok "sigstore-js: refusal surfaces as $(grep -o '(400) .*' "$T_TMP/js.err")"
else
  t_bad "sigstore-js refusal: want '(400) There was an error processing the identity token', got: $(cat "$T_TMP/js.err")"
fi

# ===== sigstore-python (4.5.1) =====
# Without a CT log fulcrum answers signedCertificateDetachedSct, as Fulcio
# does; sigstore-python reads only signedCertificateEmbeddedSct and refuses
# it ("Fulcio response missing certificate chain"), so request_cert.py exits
# 3 ("client requires an embedded SCT") and prints the chain it was sent.
# Once fulcrum serves with a CT log, run the same script there and expect 0.
tok=$(mint "$idp_URL" "$alice")
"$PY" "$here/py/request_cert.py" "$API" "$tok" >"$T_TMP/py.json" 2>"$T_TMP/py.err"
rc=$?
if [ "$rc" -eq 3 ] && grep -q 'client requires an embedded SCT' "$T_TMP/py.err"; then
  t_ok "sigstore-python: refuses the detached-SCT answer (no CT log), as against Fulcio"
  check "sigstore-python CSR email" "$T_TMP/py.json" --san-type email --san alice@example.com \
    --issuer "$idp_URL" --ext 24 utf8string alice-sub --only-expected
  same_ca "sigstore-python" "$T_TMP/py.json"
else
  t_bad "sigstore-python: want exit 3 'client requires an embedded SCT' without CT, got $rc: $(cat "$T_TMP/py.err")"
fi

# sigstore-python's trust bundle client (FulcioClient.trust_bundle) reads
# GET /api/v2/trustBundle: one chain, CA certificates only.
if out=$("$PY" - "$API" 2>&1 <<'PY'
import sys
from cryptography import x509
from sigstore._internal.fulcio.client import FulcioClient
chains = FulcioClient(sys.argv[1]).trust_bundle.get().trust_bundle
assert len(chains) == 1 and chains[0], f"want one non-empty chain, got {chains}"
for c in chains[0]:
    bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca, f"{c.subject.rfc4514_string()} is not a CA"
print(len(chains[0]))
PY
); then
  t_ok "sigstore-python: trust bundle client reads $out CA certificate(s)"
else
  t_bad "sigstore-python trust bundle: $out"
fi

# sigstore-python against a refusal: the token's issuer is not configured.
issuer_start other
tok=$(mint "$other_URL" "$alice")
"$PY" "$here/py/request_cert.py" "$API" "$tok" >"$T_TMP/py.json" 2>"$T_TMP/py.err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'HTTP 400 application/json' "$T_TMP/py.err" \
   && grep -q '"message"' "$T_TMP/py.err"; then
  t_ok "sigstore-python: unknown issuer refused with 400 and a JSON message"
else
  t_bad "sigstore-python refusal: rc=$rc $(cat "$T_TMP/py.err")"
fi

# ===== v1 API as cosign v2 sends it (curl + openssl) =====
key="$T_TMP/v1.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
openssl pkey -in "$key" -pubout -out "$T_TMP/v1.pub" 2>/dev/null
pop=$(printf '%s' alice@example.com | openssl dgst -sha256 -sign "$key" | base64 -w0)
tok=$(mint "$idp_URL" "$alice")
v1() { # CONTENT_B64 -> status in V1_STATUS, body in $T_TMP/v1.pem, headers in $T_TMP/v1.hdr
  jq -n --arg c "$1" --arg p "$pop" '{publicKey: {content: $c, algorithm: "ecdsa"}, signedEmailAddress: $p}' >"$T_TMP/v1.req"
  V1_STATUS=$(curl -sS --max-time 30 -o "$T_TMP/v1.pem" -D "$T_TMP/v1.hdr" -w '%{http_code}' \
    -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/v1.req" "$API/api/v1/signingCert")
}
for form in der pem; do
  if [ "$form" = der ]; then
    content=$(openssl pkey -in "$key" -pubout -outform DER 2>/dev/null | base64 -w0)
  else
    content=$(base64 -w0 <"$T_TMP/v1.pub")   # cosign v2: base64 of the PEM bytes
  fi
  v1 "$content"
  ctype=$(grep -i '^content-type:' "$T_TMP/v1.hdr" | head -1 | cut -d' ' -f2- | tr -d '\r')
  if [ "$V1_STATUS" = 201 ] && [ "$ctype" = application/pem-certificate-chain ] \
     && [ "$(tail -c 25 "$T_TMP/v1.pem")" = "-----END CERTIFICATE-----" ]; then
    t_ok "v1 signingCert ($form key): 201, application/pem-certificate-chain, no final newline"
  else
    t_bad "v1 signingCert ($form key): status $V1_STATUS type '$ctype' body $(head -c 300 "$T_TMP/v1.pem")"
    continue
  fi
  grep -qi '^sct:' "$T_TMP/v1.hdr" && t_bad "v1 ($form): SCT header without a CT log" \
    || t_ok "v1 ($form): no SCT header without a CT log"
  check "v1 signingCert ($form key)" "$T_TMP/v1.pem" --public-key "$T_TMP/v1.pub" \
    --san-type email --san alice@example.com --issuer "$idp_URL" --ext 24 utf8string alice-sub --only-expected
done

st=$(curl -sS --max-time 10 -o "$T_TMP/root.pem" -D "$T_TMP/root.hdr" -w '%{http_code}' "$API/api/v1/rootCert")
ctype=$(grep -i '^content-type:' "$T_TMP/root.hdr" | head -1 | cut -d' ' -f2- | tr -d '\r')
jq -r '.chains[].certificates[] | rtrimstr("\n")' "$T_TMP/bundle.json" >"$T_TMP/bundle.pem"
if [ "$st" = 200 ] && [ "$ctype" = application/pem-certificate-chain ] \
   && [ "$(cat "$T_TMP/root.pem")" = "$(cat "$T_TMP/bundle.pem")" ]; then
  t_ok "v1 rootCert: 200, the trust bundle's certificates as PEM"
else
  t_bad "v1 rootCert: status $st type '$ctype' body $(head -c 300 "$T_TMP/root.pem")"
fi

t_done
