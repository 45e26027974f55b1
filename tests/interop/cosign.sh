#!/usr/bin/env bash
# cosign v3 (the real Sigstore CLI, built by tests/tools/install-cosign.sh)
# against fulcrum serve --ca fileca and fulcrum ctlog on loopback, without
# Rekor and without a TSA:
#   * cosign sign-blob with the deprecated service flags (--fulcio-url,
#     --tlog-upload=false, --use-signing-config=false) and an inline RS256
#     token; and again with a signing config made by `cosign signing-config
#     create` holding only our CA (cosign v3's own way), with an ES256 token
#     read from a file (cosign takes --identity-token inline only if it is
#     RS256: internal/auth/auth.go idToken). Both use --trusted-root, which
#     sigstore-go checks the new bundle against right after signing;
#   * the bundle: a message signature, no tlog entry, no timestamp; its leaf
#     chains to our root (check_cert.py: pyca/cryptography and openssl
#     verify) and carries exactly one SCT from our log (ct-check-sct.py: the
#     RFC 6962 signature, sigstore-python's verify_sct and the entry in the
#     log's tiles);
#   * cosign verify-blob --insecure-ignore-tlog (sigstore-go WithCurrentTime:
#     the certificate is checked at the current time, the SCT against the
#     trusted root's ctlogs) accepts both bundles;
#   * the same with every other --signing-algorithm cosign offers (P-384,
#     P-521, RSA 2048/3072/4096), and attest-blob + verify-blob-attestation;
#   * refusals: another identity, another issuer, another artifact, a trusted
#     root with another CT key (an SCT error; accepted with
#     --insecure-ignore-sct), and a token for another audience (sign-blob
#     fails showing fulcrum's 400 message).
# FULCRUM_BIN / FULCRUM_TEST_ISSUER as for the integration tests; cosign from
# $FULCRUM_DEPS/bin (tests/tools/install-cosign.sh) and the sigstore-python
# venv (tests/tools/install-interop.sh) for the independent checks.
here=$(cd "$(dirname "$0")" && pwd)
I=$here
IT="$here/../integration"
. "$IT/lib.sh"
# ctlog-lib.sh gives ct_start (fulcrum ctlog); ct-lib.sh then replaces its
# ct_make_ca with the one making root, int.key and chain.pem for fileca
# (as in ct-tesseract.sh).
. "$IT/ctlog-lib.sh"
. "$I/ct-lib.sh"
PY="$CT_DEPS/venv/bin/python"
COSIGN_VERSION=v3.1.3   # tests/tools/install-cosign.sh
COSIGN=${COSIGN_BIN:-$CT_DEPS/bin/cosign}

for tool in jq curl openssl python3; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
[ -x "$COSIGN" ] || t_skip "cosign not installed at $COSIGN (run tests/tools/install-cosign.sh)"
[ -x "$PY" ] && "$PY" -c 'import sigstore, cryptography' 2>/dev/null \
  || t_skip "sigstore-python not installed in $CT_DEPS/venv (run tests/tools/install-interop.sh)"

# cosign must see nothing of the machine's Sigstore setup: no TUF cache, no
# SIGSTORE_* overrides, no proxy for loopback, no ambient OIDC provider.
export HOME="$T_TMP/home" TUF_ROOT="$T_TMP/home/.sigstore/root"
mkdir -p "$HOME"
for v in $(env | sed -n 's/^\(SIGSTORE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset GITHUB_ACTIONS ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
# cosign_run OUT ARGS...: cosign with a time limit; stdout+stderr in OUT.
cosign_run() {
  local out=$1
  shift
  timeout 120 "$COSIGN" "$@" >"$out" 2>&1
}
# last_line FILE: its last non-empty line, for the test log.
last_line() { grep -v '^\s*$' "$1" | tail -1 | head -c 300; }

ver=$("$COSIGN" version --json 2>/dev/null | jq -r .gitVersion 2>/dev/null)
if [ "$ver" = "$COSIGN_VERSION" ]; then
  t_ok "cosign $ver ($COSIGN)"
else
  t_bad "cosign reports version '$ver', want $COSIGN_VERSION"
fi

# --- a CA (openssl), an OIDC issuer, fulcrum ctlog, fulcrum serve ---
ct_make_ca "$T_TMP/ca" || { t_bad "cannot make the test CA"; t_done; exit 1; }
issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
mkdir -p "$T_TMP/log/storage"
ct_log_key "$T_TMP/log" || { t_bad "cannot make a CT log key"; t_done; exit 1; }
ct_start ct "$T_TMP/log/storage" "$T_TMP/ca/root.pem" "$T_TMP/log/log.key" \
  --ext-key-usages CodeSigning --batch-max-age 200ms \
  || { t_bad "fulcrum ctlog did not start"; t_done; exit 1; }
t_ok "fulcrum ctlog up at $ct_URL (own P-256 key, roots = the CA root, codeSigning only, 200 ms batches)"
fulcrum_ct_start ca "$ct_URL" "$T_TMP/log/log.pub" --ca fileca --config-path "$cfg" \
  --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" --fileca-watch false \
  --ct-log-timeout 10s || { t_bad "fulcrum serve did not start"; t_done; exit 1; }
API=$ca_URL
t_ok "fulcrum serve --ca fileca up at $API, submitting to fulcrum ctlog"
curl -fsS --max-time 10 "$API/api/v2/trustBundle" >"$T_TMP/bundle.json" \
  || { t_bad "trustBundle"; t_done; exit 1; }
jq -r '.chains[0].certificates[] | rtrimstr("\n")' "$T_TMP/bundle.json" >"$T_TMP/cachain.pem"

# trusted roots (no Rekor, no TSA): ours, and one with a CT key no log uses
python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/cachain.pem" --ca-uri "$API" \
  --ct-pub "$T_TMP/log/log.pub" --ct-url "$ct_URL" >"$T_TMP/trusted_root.json" \
  || { t_bad "ct-trusted-root.py failed"; t_done; exit 1; }
ct_log_key "$T_TMP/other"
python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/cachain.pem" --ca-uri "$API" \
  --ct-pub "$T_TMP/other/log.pub" --ct-url "$ct_URL" >"$T_TMP/trusted_root_other_ct.json"

alice='{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}'
printf 'artifact signed by cosign through fulcrum, %s\n' "$(date -u +%FT%TZ)" >"$T_TMP/artifact.txt"

# check_bundle NAME BUNDLE: the bundle's shape, its leaf's identity and
# chain, and its one SCT, checked without cosign.
check_bundle() {
  local name=$1 b=$2 leaf out
  if jq -e '(.mediaType | startswith("application/vnd.dev.sigstore.bundle"))
        and (.messageSignature.signature | length > 0)
        and ((.verificationMaterial.tlogEntries // []) | length == 0)
        and ((.verificationMaterial.timestampVerificationData.rfc3161Timestamps // []) | length == 0)' "$b" >/dev/null; then
    t_ok "$name: $(jq -r .mediaType "$b"), message signature, no tlog entry, no timestamp"
  else
    t_bad "$name: unexpected bundle: $(head -c 400 "$b")"
  fi
  leaf=$(jq -r '.verificationMaterial.certificate.rawBytes // .verificationMaterial.x509CertificateChain.certificates[0].rawBytes' "$b")
  {
    echo "-----BEGIN CERTIFICATE-----"
    fold -w 64 <<<"$leaf"
    echo "-----END CERTIFICATE-----"
  } >"$b.leaf.pem"
  jq -n --rawfile l "$b.leaf.pem" --rawfile c "$T_TMP/cachain.pem" \
    '{chain: ([$l] + ($c | [scan("-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----\n?")]))}' >"$b.chain.json"
  if out=$("$PY" "$I/check_cert.py" "$b.chain.json" --ca "$T_TMP/bundle.json" --openssl-verify \
      --san-type email --san alice@example.com --issuer "$idp_URL" --ext 24 utf8string alice-sub \
      --only-expected 2>&1); then
    t_ok "$name: leaf is alice@example.com from $idp_URL and chains to our root (check_cert.py, openssl verify)"
  else
    t_bad "$name: leaf: $out"
  fi
  if out=$("$PY" "$I/ct-check-sct.py" "$b.chain.json" --log-key "$T_TMP/log/log.pub" --leaf-index \
      --sigstore-python --log-storage "$T_TMP/log/storage" 2>&1); then
    t_ok "$name: ${out#ct-check-sct: ok: }"
  else
    t_bad "$name: SCT: $out"
  fi
}

# verify_ok NAME BUNDLE: cosign verify-blob with our trusted root.
verify_ok() {
  if cosign_run "$T_TMP/verify.out" verify-blob "$T_TMP/artifact.txt" --bundle "$2" \
      --certificate-identity alice@example.com --certificate-oidc-issuer "$idp_URL" \
      --trusted-root "$T_TMP/trusted_root.json" --insecure-ignore-tlog \
     && grep -q 'Verified OK' "$T_TMP/verify.out"; then
    t_ok "$1: cosign verify-blob --insecure-ignore-tlog: $(last_line "$T_TMP/verify.out")"
  else
    t_bad "$1: cosign verify-blob: $(cat "$T_TMP/verify.out")"
  fi
}

# verify_refused NAME REGEX ARGS...: cosign verify-blob ARGS must fail with
# output matching REGEX (extended).
verify_refused() {
  local name=$1 re=$2
  shift 2
  if cosign_run "$T_TMP/refused.out" verify-blob "$@"; then
    t_bad "$name: cosign verify-blob succeeded: $(cat "$T_TMP/refused.out")"
  elif grep -Eq -- "$re" "$T_TMP/refused.out"; then
    t_ok "$name: refused: $(grep -E -m1 -- "$re" "$T_TMP/refused.out" | head -c 240)"
  else
    t_bad "$name: want /$re/, got: $(cat "$T_TMP/refused.out")"
  fi
}

# ===== 1. sign-blob with --fulcio-url, no Rekor, inline RS256 token =====
tok=$(mint "$idp_URL" "$alice")
b1="$T_TMP/flags.bundle.json"
t0=$(date +%s%N)
if cosign_run "$T_TMP/sign1.out" sign-blob "$T_TMP/artifact.txt" --yes \
    --use-signing-config=false --fulcio-url "$API" --tlog-upload=false \
    --trusted-root "$T_TMP/trusted_root.json" --identity-token "$tok" --bundle "$b1" \
   && [ -s "$b1" ]; then
  t_ok "cosign sign-blob --fulcio-url --tlog-upload=false (inline RS256 token): bundle written ($((($(date +%s%N) - t0) / 1000000)) ms)"
  check_bundle "flags bundle" "$b1"
  verify_ok "flags bundle" "$b1"
else
  t_bad "cosign sign-blob (service flags): $(cat "$T_TMP/sign1.out")"
fi

# ===== 2. sign-blob with a signing config (CA only), ES256 token from a file =====
sc="$T_TMP/signing_config.json"
if cosign_run "$T_TMP/sc.out" signing-config create --out "$sc" \
    --fulcio "url=$API,api-version=1,start-time=2000-01-01T00:00:00Z,operator=fulcrum-test" \
   && jq -e '(.caUrls | length == 1) and ((.rekorTlogUrls // []) | length == 0) and ((.tsaUrls // []) | length == 0)' "$sc" >/dev/null; then
  t_ok "cosign signing-config create: $(jq -c '{mediaType, caUrls: [.caUrls[].url]}' "$sc")"
else
  t_bad "cosign signing-config create: $(cat "$T_TMP/sc.out" "$sc" 2>/dev/null)"
fi
mint "$idp_URL" '{"key":"ec256","claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}' \
  | tr -d '\n' >"$T_TMP/es256.jwt"
b2="$T_TMP/sc.bundle.json"
if [ "$(cut -d. -f1 "$T_TMP/es256.jwt" | base64 -d 2>/dev/null | jq -r .alg 2>/dev/null)" != ES256 ]; then
  t_bad "test issuer did not mint an ES256 token: $(head -c 100 "$T_TMP/es256.jwt")"
elif cosign_run "$T_TMP/sign2.out" sign-blob "$T_TMP/artifact.txt" --yes --signing-config "$sc" \
    --trusted-root "$T_TMP/trusted_root.json" --identity-token "$T_TMP/es256.jwt" --bundle "$b2" \
   && [ -s "$b2" ]; then
  t_ok "cosign sign-blob --signing-config (CA only; ES256 token read from a file): bundle written"
  check_bundle "signing-config bundle" "$b2"
  verify_ok "signing-config bundle" "$b2"
else
  t_bad "cosign sign-blob (signing config): $(cat "$T_TMP/sign2.out")"
fi

# ===== 3. every other key type cosign can ask a certificate for =====
# (--signing-algorithm: the PoP is signed with that key's hash; fulcrum must
# accept the key and the PoP, and the SCT must verify as before)
for alg in ecdsa-sha2-384-nistp384 ecdsa-sha2-512-nistp521 rsa-sign-pkcs1-2048-sha256 \
           rsa-sign-pkcs1-3072-sha256 rsa-sign-pkcs1-4096-sha256; do
  b="$T_TMP/$alg.bundle.json"
  if cosign_run "$T_TMP/alg.out" sign-blob "$T_TMP/artifact.txt" --yes --signing-config "$sc" \
      --signing-algorithm "$alg" --trusted-root "$T_TMP/trusted_root.json" \
      --identity-token "$(mint "$idp_URL" "$alice")" --bundle "$b" \
     && cosign_run "$T_TMP/verify.out" verify-blob "$T_TMP/artifact.txt" --bundle "$b" \
      --certificate-identity alice@example.com --certificate-oidc-issuer "$idp_URL" \
      --trusted-root "$T_TMP/trusted_root.json" --insecure-ignore-tlog \
     && grep -q 'Verified OK' "$T_TMP/verify.out"; then
    t_ok "--signing-algorithm $alg: signed ($(jq -r .messageSignature.messageDigest.algorithm "$b")) and verified"
  else
    t_bad "--signing-algorithm $alg: $(cat "$T_TMP/alg.out" "$T_TMP/verify.out" 2>/dev/null | tail -5)"
  fi
done

# ===== 4. attest-blob (a DSSE in-toto statement) and verify-blob-attestation =====
jq -n '{builder: "fulcrum interop test"}' >"$T_TMP/predicate.json"
b3="$T_TMP/attest.bundle.json"
ptype=https://fulcrum.test/predicate/v1
if cosign_run "$T_TMP/attest.out" attest-blob "$T_TMP/artifact.txt" --yes --signing-config "$sc" \
    --trusted-root "$T_TMP/trusted_root.json" --identity-token "$(mint "$idp_URL" "$alice")" \
    --predicate "$T_TMP/predicate.json" --type "$ptype" --bundle "$b3" \
   && jq -e '.dsseEnvelope.payloadType == "application/vnd.in-toto+json"' "$b3" >/dev/null; then
  t_ok "cosign attest-blob: DSSE bundle written"
  if cosign_run "$T_TMP/verify.out" verify-blob-attestation "$T_TMP/artifact.txt" --bundle "$b3" \
      --type "$ptype" --certificate-identity alice@example.com --certificate-oidc-issuer "$idp_URL" \
      --trusted-root "$T_TMP/trusted_root.json" --insecure-ignore-tlog \
     && grep -q 'Verified OK' "$T_TMP/verify.out"; then
    t_ok "cosign verify-blob-attestation --insecure-ignore-tlog: $(last_line "$T_TMP/verify.out")"
  else
    t_bad "cosign verify-blob-attestation: $(cat "$T_TMP/verify.out")"
  fi
else
  t_bad "cosign attest-blob: $(cat "$T_TMP/attest.out" "$b3" 2>/dev/null | tail -5)"
fi

# ===== 5. refusals =====
if [ -s "$b1" ]; then
  verify_refused "another identity" '^Error: failed to verify certificate identity: .*bob@example.com' \
    "$T_TMP/artifact.txt" --bundle "$b1" --certificate-identity bob@example.com \
    --certificate-oidc-issuer "$idp_URL" --trusted-root "$T_TMP/trusted_root.json" --insecure-ignore-tlog
  verify_refused "another issuer" '^Error: failed to verify certificate identity: .*issuer.invalid' \
    "$T_TMP/artifact.txt" --bundle "$b1" --certificate-identity alice@example.com \
    --certificate-oidc-issuer https://issuer.invalid --trusted-root "$T_TMP/trusted_root.json" --insecure-ignore-tlog
  printf 'another artifact\n' >"$T_TMP/other.txt"
  verify_refused "another artifact" '^Error: failed to verify signature' \
    "$T_TMP/other.txt" --bundle "$b1" --certificate-identity alice@example.com \
    --certificate-oidc-issuer "$idp_URL" --trusted-root "$T_TMP/trusted_root.json" --insecure-ignore-tlog
  verify_refused "trusted root with another CT key" '^Error: failed to verify signed certificate timestamp' \
    "$T_TMP/artifact.txt" --bundle "$b1" --certificate-identity alice@example.com \
    --certificate-oidc-issuer "$idp_URL" --trusted-root "$T_TMP/trusted_root_other_ct.json" --insecure-ignore-tlog
  # control: the same trusted root passes when the SCT is not checked, so the
  # refusal above was the SCT's alone
  if cosign_run "$T_TMP/nosct.out" verify-blob "$T_TMP/artifact.txt" --bundle "$b1" \
      --certificate-identity alice@example.com --certificate-oidc-issuer "$idp_URL" \
      --trusted-root "$T_TMP/trusted_root_other_ct.json" --insecure-ignore-tlog --insecure-ignore-sct \
     && grep -q 'Verified OK' "$T_TMP/nosct.out"; then
    t_ok "control: the same trusted root with --insecure-ignore-sct verifies (only the SCT was refused)"
  else
    t_bad "control with --insecure-ignore-sct: $(cat "$T_TMP/nosct.out")"
  fi
fi
# a token for another audience: fulcrum answers 400, cosign shows it
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true,"aud":"someone-else"}}')
if cosign_run "$T_TMP/aud.out" sign-blob "$T_TMP/artifact.txt" --yes \
    --use-signing-config=false --fulcio-url "$API" --tlog-upload=false \
    --trusted-root "$T_TMP/trusted_root.json" --identity-token "$tok" --bundle "$T_TMP/aud.bundle.json"; then
  t_bad "cosign sign-blob with a token for another audience succeeded"
elif grep -q 'Fulcio returned 400' "$T_TMP/aud.out" && grep -q 'someone-else' "$T_TMP/aud.out" \
     && [ ! -s "$T_TMP/aud.bundle.json" ]; then
  t_ok "token for another audience: $(grep -o 'Fulcio returned 400.*' "$T_TMP/aud.out" | head -1 | head -c 240)"
else
  t_bad "token for another audience: want 'Fulcio returned 400' naming the audience, got: $(cat "$T_TMP/aud.out")"
fi

# ===== both servers stop cleanly, no sanitizer report =====
bad_stop=""
for n in ca ct; do
  pid_var="${n}_PID"
  pid=${!pid_var}
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    bad_stop+=" $n:still-running"
  else
    wait "$pid"; rc=$?
    [ "$rc" -eq 0 ] || bad_stop+=" $n:exit-$rc"
  fi
done
san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP"/*.serve.log "$T_TMP"/*.ctlog.log 2>/dev/null)
if [ -z "$bad_stop" ] && [ -z "$san" ]; then
  t_ok "fulcrum serve and fulcrum ctlog stopped on SIGTERM with exit 0, no sanitizer report"
else
  t_bad "stop:$bad_stop; sanitizer reports in: $san $(for f in $san; do grep -m3 -E 'ERROR|runtime error' "$f"; done)"
fi

t_done
