#!/usr/bin/env bash
# An organisation's private Sigstore, end to end on loopback, with the real
# clients and no --insecure-* flag anywhere:
#   * the stack: a CA made by `fulcrum createca` in a SoftHSM2 token served
#     by `fulcrum serve --ca pkcs11ca` (certificates valid 60 s, the
#     shortest it issues), `fulcrum ctlog`, `fulcrum tsa` (its key in the
#     same token; --no-clock-check: test machines run without NTP), Rekor v2 (rekor-tiles
#     v2.3.0, tests/tools/install-rekor-tiles.sh), a test OIDC issuer;
#   * the trust files from `fulcrum trust` (the CA chain from createca's
#     file, the TSA chain from the running TSA, the Rekor key checked against
#     the log's checkpoint), handed to fulcrum serve, and fetched back by
#     the clients from the CA alone (GET /api/v2/trustConfig);
#   * signing with cosign v3 (sign-blob, attest-blob), sigstore-python
#     (sign) and sigstore-js (its bundleBuilderFromSigningConfig): each
#     bundle carries a Rekor v2 entry and an RFC 3161 timestamp; every
#     message-signature bundle verifies with all three clients
#     (cosign verify-blob, sigstore verify identity, @sigstore/verify);
#   * refused by all three: another identity, another issuer, a tampered
#     artifact, a bundle from another stack (a second CA and CT log,
#     trusted by its own trust files only);
#   * after the certificates have expired, every bundle verifies again
#     (the TSA's time, not the clock, is what the chain is checked at).
# FULCRUM_BIN / FULCRUM_TEST_ISSUER as for the integration tests; cosign,
# rekor-tiles and timestamp-server from $FULCRUM_DEPS/bin, sigstore-python
# from $FULCRUM_DEPS/venv, sigstore-js from tests/interop/js/node_modules.
here=$(cd "$(dirname "$0")" && pwd)
I=$here
IT="$here/../integration"
. "$IT/lib.sh"
. "$IT/ctlog-lib.sh"
. "$I/e2e-lib.sh"
COSIGN=${COSIGN_BIN:-$E2E_DEPS/bin/cosign}
SIGSTORE_PY=$E2E_DEPS/venv/bin/sigstore
PY=$E2E_DEPS/venv/bin/python
JS="$I/js"
LIFETIME=60

for tool in jq curl openssl node python3 softhsm2-util; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
softhsm_module >/dev/null || t_skip "SoftHSM2 is not installed (apt-get install softhsm2)"
[ -x "$COSIGN" ] || t_skip "cosign not installed at $COSIGN (tests/tools/install-cosign.sh)"
[ -x "$SIGSTORE_PY" ] || t_skip "sigstore-python not installed in $E2E_DEPS/venv (tests/tools/install-interop.sh)"
[ -f "$JS/node_modules/@sigstore/sign/package.json" ] \
  || t_skip "sigstore-js not installed (tests/tools/install-interop.sh)"
[ -x "$REKOR_TILES_BIN" ] || t_skip "rekor-tiles not installed at $REKOR_TILES_BIN (tests/tools/install-rekor-tiles.sh)"
e2e_have_tsa || t_skip "no TSA: fulcrum has no tsa command and $TIMESTAMP_SERVER_BIN is missing"

# The clients see nothing of the machine's Sigstore setup.
export HOME="$T_TMP/home" TUF_ROOT="$T_TMP/home/.sigstore/root"
mkdir -p "$HOME"
for v in $(env | sed -n 's/^\(SIGSTORE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset GITHUB_ACTIONS ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# run OUT CMD...: CMD with a time limit, stdout+stderr in OUT.
run() {
  local out=$1
  shift
  timeout 120 "$@" >"$out" 2>&1
}
last_line() { grep -v '^\s*$' "$1" | tail -1 | head -c 300; }
token() { mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}'; }

# ===== 1. the stack =====
issuer_start idp
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$T_TMP/config.json"
hsm_ca_create "$T_TMP/ca" e2e || { t_bad "fulcrum createca in SoftHSM2"; t_done; exit 1; }
t_ok "CA: root and intermediate made by fulcrum createca inside a SoftHSM2 token"
if e2e_have_fulcrum_tsa && [ "${E2E_TSA:-}" != timestamp-server ]; then
  hsm_tsa_create "$T_TMP/ca" e2e || { t_bad "fulcrum createca --tsa in SoftHSM2"; t_done; exit 1; }
  tsa_args=("$T_TMP/ca/tsa-chain.pem" "$HSM_TSA_URI" "$T_TMP/ca/user-pin")
  t_ok "TSA: root and time-stamping certificate made by fulcrum createca --tsa in the same token"
else
  tsa_args=()
fi
mkdir -p "$T_TMP/log/storage"
openssl ecparam -name prime256v1 -genkey -noout -out "$T_TMP/log/log.key" 2>/dev/null
openssl ec -in "$T_TMP/log/log.key" -pubout -out "$T_TMP/log/log.pub" 2>/dev/null
ct_start ct "$T_TMP/log/storage" "$T_TMP/ca/root.pem" "$T_TMP/log/log.key" \
  --ext-key-usages CodeSigning --batch-max-age 200ms || { t_bad "fulcrum ctlog did not start"; t_done; exit 1; }
tsa_start tsa "$T_TMP/tsa" "${tsa_args[@]}" || { t_bad "the TSA did not start"; t_done; exit 1; }
rekor_start rekor "$T_TMP/rekor" || { t_bad "rekor-tiles did not start"; t_done; exit 1; }
t_ok "fulcrum ctlog at $ct_URL, TSA ($tsa_KIND) at $tsa_URL, Rekor v2 at $rekor_URL (origin 127.0.0.1)"
ca_port=$(t_free_port)
CA="http://127.0.0.1:$ca_port"

# ===== 2. the trust files =====
TR="$T_TMP/trust"
if "$FULCRUM_BIN" trust --ca "url=$CA,certificate-chain=$T_TMP/ca/chain.pem" \
    --ct-log "url=$ct_URL,public-key=$T_TMP/log/log.pub" --tsa "url=$tsa_URL" \
    --rekor "url=$rekor_URL,api-version=2,public-key=$rekor_PUB,checkpoint=$rekor_CHECKPOINT" \
    --oidc "url=$idp_URL" --out-dir "$TR" >"$T_TMP/trust.out" 2>&1; then
  t_ok "fulcrum trust wrote $(ls "$TR" | tr '\n' ' ')"
else
  t_bad "fulcrum trust: $(cat "$T_TMP/trust.out")"; t_done; exit 1
fi
spki_b64() { openssl pkey -pubin -in "$1" -outform DER | base64 -w0; }
keyid_b64() { openssl pkey -pubin -in "$1" -outform DER | openssl dgst -sha256 -binary | base64 -w0; }
pem_b64s() { awk '/BEGIN/{b=""; next} /END/{print b; next} {b=b $0}' "$1"; }
if jq -e --arg ca "$CA" --arg chain "$(pem_b64s "$T_TMP/ca/chain.pem" | jq -R . | jq -sc .)" \
     --arg ctk "$(spki_b64 "$T_TMP/log/log.pub")" --arg ctid "$(keyid_b64 "$T_TMP/log/log.pub")" \
     --arg rk "$(spki_b64 "$rekor_PUB")" --arg rid "$(keyid_b64 "$rekor_PUB")" --arg r "$rekor_URL" '
    .mediaType == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    and (.certificateAuthorities | length == 1)
    and .certificateAuthorities[0].uri == $ca
    and ([.certificateAuthorities[0].certChain.certificates[].rawBytes] == ($chain | fromjson))
    and .ctlogs[0].publicKey.rawBytes == $ctk and .ctlogs[0].logId.keyId == $ctid
    and .ctlogs[0].publicKey.keyDetails == "PKIX_ECDSA_P256_SHA_256"
    and .tlogs[0].baseUrl == $r and .tlogs[0].publicKey.rawBytes == $rk and .tlogs[0].logId.keyId == $rid
    and (.timestampAuthorities[0].certChain.certificates | length >= 2)' "$TR/trusted_root.json" >/dev/null; then
  t_ok "trusted_root.json: createca's chain (intermediate, root), the CT and Rekor keys with their SHA-256 log ids, the TSA chain"
else
  t_bad "trusted_root.json: $(cat "$TR/trusted_root.json")"
fi
if jq -e --arg ca "$CA" --arg t "$tsa_URL" --arg r "$rekor_URL" --arg i "$idp_URL" '
    .mediaType == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    and .caUrls[0].url == $ca and .caUrls[0].majorApiVersion == 1
    and .rekorTlogUrls[0].url == $r and .rekorTlogUrls[0].majorApiVersion == 2
    and .tsaUrls[0].url == $t and .oidcUrls[0].url == $i
    and .rekorTlogConfig.selector == "ANY" and .tsaConfig.selector == "ANY"' "$TR/signing_config.json" >/dev/null; then
  t_ok "signing_config.json: the CA (API 1), Rekor v2 (API 2), the TSA, the OIDC issuer"
else
  t_bad "signing_config.json: $(cat "$TR/signing_config.json")"
fi

# ===== 3. fulcrum serve hands them out; clients bootstrap from the CA alone =====
"$FULCRUM_BIN" serve --host 127.0.0.1 --port "$ca_port" --metrics-port 0 --ca pkcs11ca \
  --pkcs11-uri "$HSM_CA_URI" --pkcs11-pin-file "$T_TMP/ca/user-pin" --hsm-caroot-id 99-intermediate \
  --config-path "$T_TMP/config.json" --ct-log-url "$ct_URL" --ct-log-public-key-path "$T_TMP/log/log.pub" \
  --certificate-lifetime "$LIFETIME" \
  --trusted-root "$TR/trusted_root.json" --signing-config "$TR/signing_config.json" \
  --journal-dir "$T_TMP/ca.journal" >"$T_TMP/ca.serve.log" 2>&1 &
ca_PID=$!
T_PIDS+=("$ca_PID")
e2e_wait_url "$ca_PID" "$CA/readyz" 20 "$T_TMP/ca.serve.log" || { t_bad "fulcrum serve did not start"; t_done; exit 1; }
B="$T_TMP/boot"
mkdir -p "$B"
if curl -fsS "$CA/api/v2/trustConfig" -o "$B/trust_config.json" \
   && jq '.trustedRoot' "$B/trust_config.json" >"$B/trusted_root.json" \
   && jq '.signingConfig' "$B/trust_config.json" >"$B/signing_config.json" \
   && curl -fsS "$CA/api/v2/trustedRoot" | cmp -s - "$TR/trusted_root.json" \
   && curl -fsS "$CA/api/v2/signingConfig" | cmp -s - "$TR/signing_config.json" \
   && jq -e '.mediaType == "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"' "$B/trust_config.json" >/dev/null; then
  t_ok "GET /api/v2/trustedRoot and /signingConfig are the files byte for byte; /trustConfig holds both"
else
  t_bad "fetching the trust files from $CA"
fi
# the same material read from the running services (trust bundle, certchain)
if "$FULCRUM_BIN" trust --ca "url=$CA" --tsa "url=$tsa_URL" --trusted-root "$T_TMP/fetched.json" 2>"$T_TMP/fetched.err" \
   && [ "$(jq -c '[.certificateAuthorities[].certChain, .timestampAuthorities[].certChain]' "$T_TMP/fetched.json")" \
        = "$(jq -c '[.certificateAuthorities[].certChain, .timestampAuthorities[].certChain]' "$TR/trusted_root.json")" ]; then
  t_ok "fulcrum trust --ca url= --tsa url= (GET /api/v2/trustBundle, /certchain): the same chains as the files"
else
  t_bad "fetched chains differ: $(cat "$T_TMP/fetched.err")"
fi
if out=$("$PY" -c 'import sys; from sigstore.models import ClientTrustConfig as C
c = C.from_json(open(sys.argv[1]).read()); c.trusted_root; s = c.signing_config
print(s.get_fulcio().url, [t.url for t in s.get_tlogs()], [t.url for t in s.get_tsas()])' "$B/trust_config.json" 2>&1); then
  t_ok "sigstore-python reads the CA's trust config: $out"
else
  t_bad "sigstore-python ClientTrustConfig: $out"
fi

# ===== 4. signing with the three clients =====
ART="$T_TMP/artifact.txt"
printf 'artifact of a private Sigstore, %s\n' "$(date -u +%FT%TZ)" >"$ART"
# A fresh Rekor v2 log's entry 0 has logIndex 0, which protojson writers
# (cosign, rekor-tiles) leave out, and an empty proof, and sigstore-python
# refuses such a bundle ("logIndex: Field required"): one entry first.
printf 'warm-up\n' >"$T_TMP/warmup.txt"
run "$T_TMP/warmup.out" node "$JS/e2e-sign.mjs" "$B/signing_config.json" "$(token)" "$T_TMP/warmup.txt" "$T_TMP/warmup.bundle.json" \
  || t_bad "warm-up entry: $(cat "$T_TMP/warmup.out")"

# check_bundle NAME BUNDLE KIND: one Rekor v2 entry of KIND (hashedrekord
# or dsse, version 0.0.2) from our log, one RFC 3161 timestamp.
check_bundle() {
  if jq -e --arg k "$3" --arg rid "$(keyid_b64 "$rekor_PUB")" '
      (.verificationMaterial.tlogEntries | length == 1)
      and .verificationMaterial.tlogEntries[0].kindVersion == {kind: $k, version: "0.0.2"}
      and .verificationMaterial.tlogEntries[0].logId.keyId == $rid
      and (.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint.envelope | startswith("127.0.0.1\n"))
      and (.verificationMaterial.timestampVerificationData.rfc3161Timestamps | length == 1)' "$2" >/dev/null; then
    t_ok "$1: a Rekor v2 $3 entry (checkpoint of 127.0.0.1) and an RFC 3161 timestamp"
  else
    t_bad "$1: bundle $(jq -c '.verificationMaterial | del(.certificate, .x509CertificateChain)' "$2" | head -c 600)"
  fi
}
SC="$B/signing_config.json"
ROOT="$B/trusted_root.json"
if run "$T_TMP/c.out" "$COSIGN" sign-blob "$ART" --yes --signing-config "$SC" --trusted-root "$ROOT" \
    --identity-token "$(token)" --bundle "$T_TMP/cosign.bundle.json"; then
  t_ok "cosign sign-blob --signing-config --trusted-root"
  check_bundle "cosign bundle" "$T_TMP/cosign.bundle.json" hashedrekord
else
  t_bad "cosign sign-blob: $(cat "$T_TMP/c.out")"
fi
jq -n '{builder: "fulcrum e2e"}' >"$T_TMP/predicate.json"
PTYPE=https://fulcrum.test/predicate/v1
if run "$T_TMP/a.out" "$COSIGN" attest-blob "$ART" --yes --signing-config "$SC" --trusted-root "$ROOT" \
    --identity-token "$(token)" --predicate "$T_TMP/predicate.json" --type "$PTYPE" \
    --bundle "$T_TMP/attest.bundle.json"; then
  t_ok "cosign attest-blob --signing-config --trusted-root"
  # cosign v3.1.3 (sigstore-go) logs a DSSE envelope in Rekor v2 as a
  # hashedrekord of its signature, not as a dsse entry; sigstore-js 4.1
  # then refuses the bundle (TLOG_BODY_ERROR: digest mismatch), so the
  # attestation is verified by cosign only (docs/trust.md).
  jq -e '.dsseEnvelope.payloadType == "application/vnd.in-toto+json"' "$T_TMP/attest.bundle.json" >/dev/null \
    || t_bad "cosign attestation: no in-toto DSSE envelope"
  check_bundle "cosign attestation" "$T_TMP/attest.bundle.json" hashedrekord
else
  t_bad "cosign attest-blob: $(cat "$T_TMP/a.out")"
fi
if run "$T_TMP/p.out" "$SIGSTORE_PY" --trust-config "$B/trust_config.json" sign \
    --identity-token "$(token)" --bundle "$T_TMP/python.bundle.json" "$ART"; then
  t_ok "sigstore-python sign --trust-config (the CA's /api/v2/trustConfig)"
  check_bundle "sigstore-python bundle" "$T_TMP/python.bundle.json" hashedrekord
else
  t_bad "sigstore-python sign: $(cat "$T_TMP/p.out")"
fi
if run "$T_TMP/j.out" node "$JS/e2e-sign.mjs" "$SC" "$(token)" "$ART" "$T_TMP/js.bundle.json"; then
  t_ok "sigstore-js bundleBuilderFromSigningConfig: $(cat "$T_TMP/j.out")"
  check_bundle "sigstore-js bundle" "$T_TMP/js.bundle.json" hashedrekord
else
  t_bad "sigstore-js sign: $(cat "$T_TMP/j.out")"
fi

# ===== 5. every bundle verified by every client =====
# verify CLIENT BUNDLE ARTIFACT ROOT_JSON TRUST_CONFIG SAN ISSUER [dsse]: the
# client's own verification, no insecure flag; output in $T_TMP/v.out.
verify() {
  local client=$1 b=$2 art=$3 root=$4 tc=$5 san=$6 iss=$7 kind=${8:-}
  case $client in
    cosign)
      if [ "$kind" = dsse ]; then
        run "$T_TMP/v.out" "$COSIGN" verify-blob-attestation "$art" --bundle "$b" --type "$PTYPE" \
          --trusted-root "$root" --certificate-identity "$san" --certificate-oidc-issuer "$iss"
      else
        run "$T_TMP/v.out" "$COSIGN" verify-blob "$art" --bundle "$b" --trusted-root "$root" \
          --certificate-identity "$san" --certificate-oidc-issuer "$iss"
      fi ;;
    python)
      run "$T_TMP/v.out" "$SIGSTORE_PY" --trust-config "$tc" verify identity --bundle "$b" \
        --cert-identity "$san" --cert-oidc-issuer "$iss" "$art" ;;
    js)
      run "$T_TMP/v.out" node "$JS/e2e-verify.mjs" "$b" "$art" "$root" "$san" "$iss" ;;
  esac
}
# verify_all WHEN: each bundle by each client.
verify_all() {
  local when=$1 signer client b
  for signer in cosign python js; do
    b="$T_TMP/$signer.bundle.json"
    [ -s "$b" ] || continue
    for client in cosign python js; do
      if verify "$client" "$b" "$ART" "$ROOT" "$B/trust_config.json" alice@example.com "$idp_URL"; then
        t_ok "$when: $signer's bundle verified by $client: $(last_line "$T_TMP/v.out")"
      else
        t_bad "$when: $signer's bundle refused by $client: $(tail -5 "$T_TMP/v.out")"
      fi
    done
  done
  b="$T_TMP/attest.bundle.json"
  if [ -s "$b" ] && verify cosign "$b" "$ART" "$ROOT" "$B/trust_config.json" alice@example.com "$idp_URL" dsse; then
    t_ok "$when: cosign's attestation verified by cosign verify-blob-attestation: $(last_line "$T_TMP/v.out")"
  else
    t_bad "$when: cosign's attestation refused by cosign: $(tail -5 "$T_TMP/v.out" 2>/dev/null)"
  fi
}
verify_all "fresh"

# ===== 6. refusals =====
# refused CLIENT NAME REGEX BUNDLE ARTIFACT ROOT TC SAN ISSUER
refused() {
  local client=$1 name=$2 re=$3
  shift 3
  if verify "$client" "$@"; then
    t_bad "$name: $client accepted it: $(last_line "$T_TMP/v.out")"
  elif grep -Eqi -- "$re" "$T_TMP/v.out"; then
    t_ok "$name: refused by $client: $(grep -Ei -m1 -- "$re" "$T_TMP/v.out" | sed 's/^ *//' | head -c 200)"
  else
    t_bad "$name: $client failed, but not as expected (/$re/): $(tail -5 "$T_TMP/v.out")"
  fi
}
CB="$T_TMP/cosign.bundle.json"
printf 'tampered\n' | cat "$ART" - >"$T_TMP/tampered.txt"
for client in cosign python js; do
  refused "$client" "another identity" 'identity|subject alternative name|SAN|bob@example.com' \
    "$CB" "$ART" "$ROOT" "$B/trust_config.json" bob@example.com "$idp_URL"
  refused "$client" "another issuer" 'issuer' \
    "$CB" "$ART" "$ROOT" "$B/trust_config.json" alice@example.com https://issuer.invalid
  refused "$client" "a tampered artifact" 'signature|digest|hash|artifact' \
    "$CB" "$T_TMP/tampered.txt" "$ROOT" "$B/trust_config.json" alice@example.com "$idp_URL"
done

# another stack: its own CA (openssl, fileca) and CT log, the same TSA and
# Rekor log, its own trust files; its bundle must not verify with ours
ct_make_ca "$T_TMP/ca2"
mkdir -p "$T_TMP/ca2/storage"
cat "$T_TMP/ca2/inter.pem" "$T_TMP/ca2/root.pem" >"$T_TMP/ca2/chain.pem"
ct_start ct2 "$T_TMP/ca2/storage" "$T_TMP/ca2/root.pem" "$T_TMP/ca2/log.key" \
  --ext-key-usages CodeSigning --batch-max-age 200ms || t_bad "second fulcrum ctlog did not start"
ca2_port=$(t_free_port)
CA2="http://127.0.0.1:$ca2_port"
"$FULCRUM_BIN" trust --ca "url=$CA2,certificate-chain=$T_TMP/ca2/chain.pem" \
  --ct-log "url=$ct2_URL,public-key=$T_TMP/ca2/log.pub" --tsa "url=$tsa_URL" \
  --rekor "url=$rekor_URL,api-version=2,public-key=$rekor_PUB,checkpoint=$rekor_CHECKPOINT" \
  --out-dir "$T_TMP/trust2" >"$T_TMP/trust2.out" 2>&1 || t_bad "fulcrum trust (stack 2): $(cat "$T_TMP/trust2.out")"
"$FULCRUM_BIN" serve --host 127.0.0.1 --port "$ca2_port" --metrics-port 0 --ca fileca \
  --fileca-cert "$T_TMP/ca2/chain.pem" --fileca-key "$T_TMP/ca2/inter.key" --fileca-watch false \
  --config-path "$T_TMP/config.json" --ct-log-url "$ct2_URL" --ct-log-public-key-path "$T_TMP/ca2/log.pub" \
  --journal-dir "$T_TMP/ca2.journal" >"$T_TMP/ca2.serve.log" 2>&1 &
T_PIDS+=($!)
e2e_wait_url "$!" "$CA2/healthz" 20 "$T_TMP/ca2.serve.log" || t_bad "second fulcrum serve did not start"
FB="$T_TMP/foreign.bundle.json"
if run "$T_TMP/f.out" "$COSIGN" sign-blob "$ART" --yes --signing-config "$T_TMP/trust2/signing_config.json" \
    --trusted-root "$T_TMP/trust2/trusted_root.json" --identity-token "$(token)" --bundle "$FB" \
   && verify cosign "$FB" "$ART" "$T_TMP/trust2/trusted_root.json" "$T_TMP/trust2/trust_config.json" alice@example.com "$idp_URL"; then
  t_ok "another stack: a bundle signed through it verifies with its own trusted root (control)"
  for client in cosign python js; do
    refused "$client" "a bundle from another stack" 'certificate|chain|authority|trusted|SCT|root' \
      "$FB" "$ART" "$ROOT" "$B/trust_config.json" alice@example.com "$idp_URL"
  done
else
  t_bad "another stack: $(cat "$T_TMP/f.out" "$T_TMP/v.out" 2>/dev/null | tail -5)"
fi

# ===== 7. after the certificates have expired =====
latest=0
for b in "$T_TMP"/{cosign,python,js,attest}.bundle.json; do
  [ -s "$b" ] || continue
  leaf=$(jq -r '.verificationMaterial.certificate.rawBytes // .verificationMaterial.x509CertificateChain.certificates[0].rawBytes' "$b")
  na=$(base64 -d <<<"$leaf" | openssl x509 -inform DER -noout -enddate | cut -d= -f2)
  na=$(date -d "$na" +%s)
  [ "$na" -gt "$latest" ] && latest=$na
done
wait_s=$((latest - $(date +%s) + 2))
if [ "$wait_s" -gt 0 ] && [ "$wait_s" -le $((LIFETIME + 5)) ]; then
  echo "# waiting ${wait_s} s for the last certificate to expire"
  sleep "$wait_s"
fi
if [ "$latest" -gt 0 ] && [ "$(date +%s)" -gt "$latest" ]; then
  t_ok "every certificate has expired (the last at $(date -u -d "@$latest" +%TZ))"
  verify_all "expired"
else
  t_bad "certificates not expired yet (latest notAfter $latest)"
fi

# ===== 8. everything stops cleanly =====
bad_stop=""
for pid in "$ca_PID" "$ct_PID"; do
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then bad_stop+=" $pid:still-running"
  else wait "$pid"; rc=$?; [ "$rc" -eq 0 ] || bad_stop+=" $pid:exit-$rc"; fi
done
san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP"/*.log 2>/dev/null)
if [ -z "$bad_stop" ] && [ -z "$san" ]; then
  t_ok "fulcrum serve and fulcrum ctlog stopped on SIGTERM with exit 0, no sanitizer report"
else
  t_bad "stop:$bad_stop; sanitizer reports in: $san"
fi
t_done
