#!/usr/bin/env bash
# fulcrum trust and the trust files of fulcrum serve, without the rest of
# the stack:
#   * fulcrum trust --help tells every flag; refusals exit 1 or 2 naming the
#     cause (a private key, a chain in the wrong order, an unreachable CA, a
#     Rekor key that did not sign the log's checkpoint, a wrong origin);
#   * the chains read from a running fulcrum serve (GET /api/v2/trustBundle)
#     are the ones it was started with; several entries of a kind (an old
#     CT log key with an end, a new one) keep their own windows;
#   * the files are read by the clients' own parsers: sigstore-python's
#     TrustedRoot / SigningConfig / ClientTrustConfig (strict: unknown keys
#     refused), sigstore-js's TrustedRoot.fromJSON + toTrustMaterial and
#     bundleBuilderFromSigningConfig;
#   * fulcrum serve --trusted-root/--signing-config: refused at start when a
#     file is missing or not a trust file; GET /api/v2/trustedRoot,
#     /signingConfig, /trustConfig; 404 naming the flag when not given;
#     SIGHUP serves the new files, and keeps the old ones when the new ones
#     are broken.
here=$(cd "$(dirname "$0")" && pwd)
I=$here
IT="$here/../integration"
. "$IT/lib.sh"
. "$IT/ctlog-lib.sh"
. "$I/e2e-lib.sh"
PY=$E2E_DEPS/venv/bin/python
JS="$I/js"
for tool in jq curl openssl node; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
[ -x "$PY" ] && "$PY" -c 'import sigstore' 2>/dev/null \
  || t_skip "sigstore-python not installed in $E2E_DEPS/venv (tests/tools/install-interop.sh)"
[ -f "$JS/node_modules/@sigstore/sign/package.json" ] || t_skip "sigstore-js not installed"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# trust OUT ARGS...: fulcrum trust; exit status in RC, stderr in OUT.
trust() {
  local out=$1
  shift
  "$FULCRUM_BIN" trust "$@" >"$out.stdout" 2>"$out"
  RC=$?
}
# refused DESC RC REGEX ARGS...: fulcrum trust exits RC with REGEX on stderr.
refused() {
  local desc=$1 want=$2 re=$3
  shift 3
  trust "$T_TMP/r.err" "$@"
  if [ "$RC" = "$want" ] && grep -Eq -- "$re" "$T_TMP/r.err"; then
    t_ok "$desc: exit $RC, $(grep -E -m1 -- "$re" "$T_TMP/r.err" | head -c 200)"
  else
    t_bad "$desc: exit $RC (want $want), stderr: $(cat "$T_TMP/r.err") (want /$re/)"
  fi
}

# --- material: a CA (openssl), two CT keys, a Rekor key and its checkpoint
ct_make_ca "$T_TMP/ca"
cat "$T_TMP/ca/inter.pem" "$T_TMP/ca/root.pem" >"$T_TMP/ca/chain.pem"
cat "$T_TMP/ca/root.pem" "$T_TMP/ca/inter.pem" >"$T_TMP/ca/reversed.pem"
openssl ec -in "$T_TMP/ca/log.key" -pubout -out "$T_TMP/ct-old.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T_TMP/ct-new.key" 2>/dev/null
openssl ec -in "$T_TMP/ct-new.key" -pubout -out "$T_TMP/ct-new.pub" 2>/dev/null

# --- --help and usage
if "$FULCRUM_BIN" trust --help >"$T_TMP/help" 2>&1 \
   && grep -q -- '--ca FIELDS' "$T_TMP/help" && grep -q -- '--ct-log FIELDS' "$T_TMP/help" \
   && grep -q -- '--tsa FIELDS' "$T_TMP/help" && grep -q -- '--rekor FIELDS' "$T_TMP/help" \
   && grep -q -- '--out-dir DIR' "$T_TMP/help" && grep -q 'start-time=TIME' "$T_TMP/help" \
   && "$FULCRUM_BIN" --help | grep -q '^  trust '; then
  t_ok "fulcrum trust --help lists the entry flags, their fields and the outputs; fulcrum --help lists trust"
else
  t_bad "help: $(head -20 "$T_TMP/help")"
fi
refused "no output" 2 'say where to write' --ca "certificate-chain=$T_TMP/ca/chain.pem"
refused "unknown field" 2 'unknown field "chain"' --ca "chain=x" --trusted-root -
refused "bad time" 2 'not an RFC 3339 time' --ca "certificate-chain=$T_TMP/ca/chain.pem,start-time=yesterday" --trusted-root -
refused "a private key as a CT key" 1 'is a private key: give its public key' \
  --ct-log "url=http://127.0.0.1:1,public-key=$T_TMP/ca/log.key" --trusted-root -
refused "a chain root first" 1 'is not issued by certificate 2.*issuing CA first, root last' \
  --ca "certificate-chain=$T_TMP/ca/reversed.pem" --trusted-root -
refused "signing config without a CA URL" 1 'needs a CA URL' \
  --ca "certificate-chain=$T_TMP/ca/chain.pem" --signing-config -
refused "Rekor without api-version" 1 'api-version=1 \(Rekor\) or api-version=2' \
  --rekor "url=http://127.0.0.1:1,public-key=$T_TMP/ct-new.pub" --trusted-root -
port=$(t_free_port)
refused "an unreachable CA" 1 "GET http://127.0.0.1:$port/api/v2/trustBundle: " \
  --ca "url=http://127.0.0.1:$port" --trusted-root - --fetch-timeout 2s

# Rekor v2: the checkpoint must be signed by the key, under the URL's host
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/rekor.key" 2>/dev/null
openssl pkey -in "$T_TMP/rekor.key" -pubout -out "$T_TMP/rekor.pub"
body=$(printf '127.0.0.1\n5\n%s\n' "$(head -c 32 /dev/zero | base64)")
printf '%s\n' "$body" >"$T_TMP/note.body"
kid=$(openssl pkey -pubin -in "$T_TMP/rekor.pub" -outform DER | openssl dgst -sha256 -binary | head -c 4 | base64)
sig=$( { openssl pkey -pubin -in "$T_TMP/rekor.pub" -outform DER | openssl dgst -sha256 -binary | head -c 4;
         openssl dgst -sha256 -sign "$T_TMP/rekor.key" "$T_TMP/note.body"; } | base64 -w0)
printf '%s\n\n\xe2\x80\x94 127.0.0.1 %s\n' "$body" "$sig" >"$T_TMP/checkpoint"
trust "$T_TMP/ok.err" --rekor "url=http://127.0.0.1:3001,api-version=2,public-key=$T_TMP/rekor.pub,checkpoint=$T_TMP/checkpoint" \
  --trusted-root "$T_TMP/rekor-root.json" -v
if [ "$RC" = 0 ] && grep -q "checkpoint has the URL's host as origin and is signed by public-key" "$T_TMP/ok.err"; then
  t_ok "Rekor v2: the checkpoint's origin and signature (key id $kid) agree with url= and public-key="
else
  t_bad "Rekor v2 checkpoint check: exit $RC $(cat "$T_TMP/ok.err")"
fi
refused "Rekor v2: another key" 1 'has no signature by public-key' \
  --rekor "url=http://127.0.0.1:3001,api-version=2,public-key=$T_TMP/ct-new.pub,checkpoint=$T_TMP/checkpoint" --trusted-root -
refused "Rekor v2: another host" 1 'origin is "127.0.0.1", but clients take the origin from the URL.s host, "localhost"' \
  --rekor "url=http://localhost:3001,api-version=2,public-key=$T_TMP/rekor.pub,checkpoint=$T_TMP/checkpoint" --trusted-root -
refused "Rekor v2: origin= not the host" 1 'origin=rekor.example.com: clients take' \
  --rekor "url=http://127.0.0.1:3001,api-version=2,public-key=$T_TMP/rekor.pub,origin=rekor.example.com" --trusted-root -

# --- from a running CA; two CT keys with their windows
issuer_start idp
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$T_TMP/config.json"
serve_start ca --ca fileca --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/inter.key" \
  --fileca-watch false --config-path "$T_TMP/config.json" || { t_bad "fulcrum serve"; t_done; exit 1; }
OUT="$T_TMP/out"
trust "$T_TMP/t.err" --ca "url=$ca_URL" \
  --ct-log "url=https://ct.example.com/2025,public-key=$T_TMP/ct-old.pub,start-time=2025-01-01T00:00:00Z,end-time=2026-01-01T00:00:00Z" \
  --ct-log "url=https://ct.example.com/2026,public-key=$T_TMP/ct-new.pub,start-time=2025-12-01T00:00:00Z" \
  --rekor "url=http://127.0.0.1:3001,api-version=2,public-key=$T_TMP/rekor.pub,checkpoint=$T_TMP/checkpoint" \
  --oidc "url=$idp_URL" --out-dir "$OUT"
pem_b64s() { awk '/BEGIN/{b=""; next} /END/{print b; next} {b=b $0}' "$1" | jq -R . | jq -sc .; }
if [ "$RC" = 0 ] && jq -e --argjson chain "$(pem_b64s "$T_TMP/ca/chain.pem")" --arg u "$ca_URL" '
    [.certificateAuthorities[0].certChain.certificates[].rawBytes] == $chain
    and .certificateAuthorities[0].uri == $u
    and (.ctlogs | length == 2)
    and .ctlogs[0].publicKey.validFor == {start: "2025-01-01T00:00:00Z", end: "2026-01-01T00:00:00Z"}
    and .ctlogs[1].publicKey.validFor == {start: "2025-12-01T00:00:00Z"}
    and .ctlogs[0].logId.keyId != .ctlogs[1].logId.keyId' "$OUT/trusted_root.json" >/dev/null; then
  t_ok "from the running CA: its chain (GET /api/v2/trustBundle); two CT log keys, each with its window"
else
  t_bad "trust from the running CA: exit $RC $(cat "$T_TMP/t.err") $(cat "$OUT/trusted_root.json" 2>/dev/null | head -c 800)"
fi

# --- the clients' own parsers
if out=$("$PY" - "$OUT" <<'PY' 2>&1
import sys
from sigstore.models import ClientTrustConfig, SigningConfig, TrustedRoot
from sigstore._internal.trust import KeyringPurpose
d = sys.argv[1]
root = TrustedRoot.from_file(f"{d}/trusted_root.json")
sc = SigningConfig.from_file(f"{d}/signing_config.json")
tc = ClientTrustConfig.from_json(open(f"{d}/trust_config.json").read())
assert len(root.get_fulcio_certs()) == 2
root.ct_keyring(KeyringPurpose.VERIFY)
root.rekor_keyring(KeyringPurpose.VERIFY)
print(f"fulcio {sc.get_fulcio().url}, rekor {[t.url for t in sc.get_tlogs()]}, oidc {sc.get_oidc_url()}, "
      f"trust config {tc.signing_config.get_fulcio().url}")
PY
); then
  t_ok "sigstore-python reads the three files (strict models): $out"
else
  t_bad "sigstore-python: $out"
fi
cat >"$T_TMP/parse.mjs" <<'JS'
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const require = createRequire(process.argv[2] + '/');
const { TrustedRoot, SigningConfig } = require('@sigstore/protobuf-specs');
const { toTrustMaterial } = require('@sigstore/verify');
const { bundleBuilderFromSigningConfig } = require('@sigstore/sign');
const d = process.argv[3];
const tm = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(readFileSync(`${d}/trusted_root.json`, 'utf8'))));
const sc = SigningConfig.fromJSON(JSON.parse(readFileSync(`${d}/signing_config.json`, 'utf8')));
bundleBuilderFromSigningConfig({ signingConfig: sc, identityProvider: { getToken: async () => '' }, bundleType: 'messageSignature' });
console.log(`${tm.certificateAuthorities.length} CA, ${tm.ctlogs.length} CT logs, ${tm.tlogs.length} tlog; signing with ${sc.caUrls[0].url}`);
JS
if out=$(node "$T_TMP/parse.mjs" "$JS" "$OUT" 2>&1); then
  t_ok "sigstore-js reads them (TrustedRoot + toTrustMaterial, bundleBuilderFromSigningConfig): $out"
else
  t_bad "sigstore-js: $out"
fi

# --- fulcrum serve --trusted-root / --signing-config
start_refused() { # DESC REGEX ARGS...
  local desc=$1 re=$2
  shift 2
  timeout 20 "$FULCRUM_BIN" serve --host 127.0.0.1 --port 0 --metrics-port 0 --ca ephemeralca \
    --ct-log-url "" --journal-dir "$T_TMP/sr.journal" --config-path "$T_TMP/config.json" "$@" >"$T_TMP/sr.out" 2>&1
  local rc=$?
  if [ "$rc" = 2 ] && grep -Eq -- "$re" "$T_TMP/sr.out"; then
    t_ok "serve refuses $desc: $(grep -E -m1 -- "$re" "$T_TMP/sr.out" | head -c 200)"
  else
    t_bad "serve with $desc: exit $rc $(cat "$T_TMP/sr.out")"
  fi
}
start_refused "a missing trusted root" "trust files: .*$T_TMP/none.json" --trusted-root "$T_TMP/none.json"
start_refused "a signing config given as trusted root" 'mediaType "application/vnd.dev.sigstore.signingconfig.v0.2\+json", want' \
  --trusted-root "$OUT/signing_config.json"
cp "$OUT/trusted_root.json" "$T_TMP/served_root.json"
serve_start s1 --ca ephemeralca --config-path "$T_TMP/config.json" --trusted-root "$T_TMP/served_root.json" \
  || { t_bad "serve with --trusted-root"; t_done; exit 1; }
http GET "$s1_URL/api/v2/trustedRoot"
if [ "$H_STATUS" = 200 ] && [ "$H_TYPE" = application/json ] && cmp -s "$T_TMP/http.body" "$T_TMP/served_root.json"; then
  t_ok "GET /api/v2/trustedRoot: 200 application/json, the file byte for byte"
else
  t_bad "trustedRoot: $H_STATUS $H_TYPE $(head -c 200 <<<"$H_BODY")"
fi
http GET "$s1_URL/api/v2/trustConfig"
if [ "$H_STATUS" = 404 ] && jq -e '.code == 5 and (.message | contains("--trusted-root and --signing-config"))' <<<"$H_BODY" >/dev/null; then
  t_ok "GET /api/v2/trustConfig without --signing-config: 404 $(jq -r .message <<<"$H_BODY")"
else
  t_bad "trustConfig: $H_STATUS $H_BODY"
fi
http POST "$s1_URL/api/v2/trustedRoot" '{}'
[ "$H_STATUS" = 501 ] && t_ok "POST /api/v2/trustedRoot: 501 (GET only)" || t_bad "POST trustedRoot: $H_STATUS"
# SIGHUP: a new file is served; a broken one is refused and the last kept
jq '.ctlogs = []' "$OUT/trusted_root.json" >"$T_TMP/served_root.json.new" && mv "$T_TMP/served_root.json.new" "$T_TMP/served_root.json"
kill -HUP "$s1_PID"
sleep 1
http GET "$s1_URL/api/v2/trustedRoot"
if [ "$H_STATUS" = 200 ] && [ "$(jq '.ctlogs | length' <<<"$H_BODY")" = 0 ] \
   && grep -q 'reloaded the trust files' "$T_TMP/s1.serve.log"; then
  t_ok "SIGHUP: the new trusted root is served"
else
  t_bad "SIGHUP reload: $H_STATUS $(jq -c '.ctlogs' <<<"$H_BODY") $(tail -3 "$T_TMP/s1.serve.log")"
fi
echo '{"mediaType": "something else"}' >"$T_TMP/served_root.json"
kill -HUP "$s1_PID"
sleep 1
http GET "$s1_URL/api/v2/trustedRoot"
if [ "$H_STATUS" = 200 ] && [ "$(jq -r '.mediaType' <<<"$H_BODY")" = "application/vnd.dev.sigstore.trustedroot+json;version=0.1" ] \
   && grep -q 'reload of the trust files refused, still serving the previous ones: .*mediaType "something else"' "$T_TMP/s1.serve.log"; then
  t_ok "SIGHUP with a broken file: refused (logged), the previous trusted root still served"
else
  t_bad "SIGHUP broken: $H_STATUS $(head -c 200 <<<"$H_BODY") $(tail -3 "$T_TMP/s1.serve.log")"
fi
serve_start s2 --ca ephemeralca --config-path "$T_TMP/config.json" \
  --trusted-root "$OUT/trusted_root.json" --signing-config "$OUT/signing_config.json" || t_bad "serve s2"
http GET "$s2_URL/api/v2/trustConfig"
if [ "$H_STATUS" = 200 ] && jq -e --slurpfile r "$OUT/trusted_root.json" --slurpfile s "$OUT/signing_config.json" '
    .mediaType == "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
    and .trustedRoot == $r[0] and .signingConfig == $s[0]' <<<"$H_BODY" >/dev/null; then
  t_ok "GET /api/v2/trustConfig: the ClientTrustConfig of both files"
else
  t_bad "trustConfig: $H_STATUS $(head -c 300 <<<"$H_BODY")"
fi
http GET "$s2_URL/api/v2/signingConfig"
[ "$H_STATUS" = 200 ] && cmp -s "$T_TMP/http.body" "$OUT/signing_config.json" \
  && t_ok "GET /api/v2/signingConfig: the file" || t_bad "signingConfig: $H_STATUS"
san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP"/*.log 2>/dev/null)
[ -z "$san" ] && t_ok "no sanitizer report" || t_bad "sanitizer reports in $san"
t_done
