#!/usr/bin/env bash
# fulcrum serve against a real Certificate Transparency log on loopback, the
# log chosen by CT_TEST_LOG: "tesseract" (default; meson test ct-tesseract):
# TesseraCT POSIX (tests/tools/install-tesseract.sh), a third-party log;
# "fulcrum" (meson test ct-fulcrum-ctlog): our own `fulcrum ctlog`. Both trust
# a root made with openssl before either server starts (fulcrum runs --ca
# fileca with it); log_start below hides which log runs, and every check
# below runs against both:
#   (a) v2 and v1 certificates carry exactly one SCT from that log, checked
#       by ct-check-sct.py: pyca/cryptography rebuilds the RFC 6962 precert
#       input (tbs_precertificate_bytes, SHA-256 of the intermediate's SPKI,
#       the SCT's leaf_index extension) and verifies the signature with the
#       log key; sigstore-python's own verify_sct; and the entry at the SCT's
#       leaf_index in the log's data tiles (read from its storage directory:
#       both logs write the static-ct-api layout) holds the same TBS;
#   (b) sigstore-python: request_cert.py (FulcioClient, CSR) now succeeds, and
#       SigningContext.signer (which runs verify_sct itself) accepts the SCT;
#   (c) sigstore-js: sign with @sigstore/sign (FulcioSigner, TSA witness from
#       @sigstore/mock on loopback, no Rekor) and verify with @sigstore/verify
#       against a trusted root holding our chain, the log key and the TSA
#       (ctlogThreshold 1, tlogThreshold 0, timestampThreshold 1); a trusted
#       root with another CT key must fail with an SCT error;
#   (d) 500 simultaneous requests with a 1 s checkpoint interval (TesseraCT)
#       or batch age (fulcrum ctlog) all succeed, each with a valid, distinct
#       SCT, and fulcrum's thread count stays flat;
#   (e) --ct-log-origin sets the Host header: TesseraCT compares it with its
#       origin (a warning on a mismatch, checked both ways); fulcrum ctlog
#       ignores the Host, so there both forms must simply be accepted, and
#       the entry is in the log whose checkpoint names that origin;
#   (f) no certificate without a good SCT: log down, log not answering (a
#       socket that accepts and never answers, --ct-log-timeout; and the
#       real log frozen with SIGSTOP, then a certificate again after
#       SIGCONT), log key mismatch, root not accepted by the log.
# With fulcrum ctlog, the logs also stop on SIGTERM with exit 0 and no
# sanitizer report, as every fulcrum serve does.
# FULCRUM_BIN / FULCRUM_TEST_ISSUER as for the other integration tests;
# needs TesseraCT (CT_TEST_LOG=tesseract), node +
# tests/interop/js/node_modules and the sigstore-python venv
# (tests/tools/install-interop.sh).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
I="$repo/tests/interop"
JS="$I/js"
# ctlog-lib.sh gives ct_start (fulcrum ctlog); it is sourced before
# ct-lib.sh because both define ct_make_ca and this test wants ct-lib.sh's
# (root, int.key, chain.pem for fileca). Its CT_ORIGIN default would become
# TesseraCT's origin too, so it is kept aside for fulcrum ctlog only.
. "$here/ctlog-lib.sh"
FULCRUM_CT_ORIGIN=$CT_ORIGIN
unset CT_ORIGIN
. "$I/ct-lib.sh"
PY="$CT_DEPS/venv/bin/python"
CT_TEST_LOG=${CT_TEST_LOG:-tesseract}
case $CT_TEST_LOG in
  tesseract) LOG_NAME=TesseraCT ;;
  fulcrum) LOG_NAME="fulcrum ctlog" ;;
  *) echo "CT_TEST_LOG must be tesseract or fulcrum, not \"$CT_TEST_LOG\""; exit 1 ;;
esac
echo "CT log under test: $LOG_NAME (CT_TEST_LOG=$CT_TEST_LOG)"

# log_start NAME ROOTS_PEM INTERVAL: the log under test on a free loopback
# port with a fresh storage directory and its own P-256 key, trusting
# ROOTS_PEM, accepting only codeSigning leaves, answering an SCT once a
# checkpoint published at most INTERVAL (1s, 250ms) after the submission
# covers the entry (TesseraCT's --checkpoint_interval, fulcrum ctlog's
# --batch-max-age). Sets ${NAME}_URL, _PID, _PUB (log public key PEM), _KEY,
# _STORAGE (the static-ct-api directory: checkpoint, tile/data/...), _LOG
# and _ORIGIN (CT_ORIGIN overrides the origin).
log_start() {
  local name=$1 roots=$2 interval=$3 d origin
  if [ "$CT_TEST_LOG" = tesseract ]; then
    tesseract_start "$name" "$roots" "$interval"
    return
  fi
  d="$T_TMP/$name"
  rm -rf "$d"
  mkdir -p "$d/storage"
  ct_log_key "$d" || { echo "log_start: cannot make a log key" >&2; return 1; }
  origin=${CT_ORIGIN:-$FULCRUM_CT_ORIGIN}
  printf -v "${name}_PUB" '%s' "$d/log.pub"
  printf -v "${name}_KEY" '%s' "$d/log.key"
  printf -v "${name}_STORAGE" '%s' "$d/storage"
  printf -v "${name}_LOG" '%s' "$T_TMP/$name.ctlog.log"
  printf -v "${name}_ORIGIN" '%s' "$origin"
  CT_ORIGIN=$origin ct_start "$name" "$d/storage" "$roots" "$d/log.key" \
    --ext-key-usages CodeSigning --batch-max-age "$interval" || return 1
  # a fresh log publishes its empty checkpoint before it listens
  [ -s "$d/storage/checkpoint" ] || { echo "fulcrum ctlog ($name): no checkpoint in $d/storage" >&2; return 1; }
}

for tool in jq curl openssl node; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
if [ "$CT_TEST_LOG" = tesseract ]; then
  ct_have_tesseract || t_skip "TesseraCT not installed at $TESSERACT_BIN (run tests/tools/install-tesseract.sh)"
fi
[ -f "$JS/node_modules/@sigstore/sign/package.json" ] \
  || t_skip "sigstore-js not installed in $JS/node_modules (run tests/tools/install-interop.sh)"
[ -x "$PY" ] && "$PY" -c 'import sigstore, cryptography' 2>/dev/null \
  || t_skip "sigstore-python not installed in $CT_DEPS/venv (run tests/tools/install-interop.sh)"
# (the help is read whole first: grep -q would close the pipe under a longer text)
serve_help=$("$FULCRUM_BIN" serve --help 2>&1)
grep -q -- '--ct-log-public-key-path' <<<"$serve_help" \
  || t_skip "this fulcrum serve has no CT submission (--ct-log-public-key-path not in --help)"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- a CA, an OIDC issuer, the log (1 s checkpoints), fulcrum ---
ct_make_ca "$T_TMP/ca" || { t_bad "cannot make the test CA"; t_done; exit 1; }
issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
FILECA=(--ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" --fileca-watch false)

log_start ct "$T_TMP/ca/root.pem" 1s || { t_bad "$LOG_NAME did not start"; t_done; exit 1; }
if [ "$CT_TEST_LOG" = tesseract ]; then
  t_ok "TesseraCT $(cut -d' ' -f2 "$CT_DEPS/bin/tesseract-posix.version" 2>/dev/null) up at $ct_URL (1 s checkpoints, codeSigning only)"
else
  t_ok "fulcrum ctlog up at $ct_URL (origin $ct_ORIGIN, 1 s batches, codeSigning only)"
fi
fulcrum_ct_start ca "$ct_URL" "$ct_PUB" "${FILECA[@]}" --ct-log-timeout 10s \
  || { t_bad "fulcrum serve with --ct-log-url did not start"; t_done; exit 1; }
API=$ca_URL
curl -fsS --max-time 10 "$API/api/v2/trustBundle" >"$T_TMP/bundle.json"
jq -r '.chains[0].certificates[] | rtrimstr("\n")' "$T_TMP/bundle.json" >"$T_TMP/bundle.pem"
ct_log_key "$T_TMP/other"   # a CT key no log uses

alice='{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}'
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
# alice_body TOKEN: a v2 body for the client key, PoP over alice's email.
alice_body() { v2_body "$1" "$T_TMP/client.pem" alice@example.com; }
# sct_check NAME FILE [LOG]: ct-check-sct.py against the key and storage of
# the log started as LOG (default ct).
sct_check() {
  local name=$1 file=$2 pub="${3:-ct}_PUB" store="${3:-ct}_STORAGE" out
  if out=$("$PY" "$I/ct-check-sct.py" "$file" --log-key "${!pub}" --leaf-index --sigstore-python \
      --log-storage "${!store}" 2>&1); then
    t_ok "$name: ${out#ct-check-sct: ok: }"
  else
    t_bad "$name: $out"
  fi
}

# ===== (a) the SCT of a v2 certificate, checked three ways =====
tok=$(mint "$idp_URL" "$alice")
t0=$(date +%s%N)
http POST "$API/api/v2/signingCert" "$(alice_body "$tok")"
ms=$((($(date +%s%N) - t0) / 1000000))
echo "$H_BODY" >"$T_TMP/v2.json"
if [ "$H_STATUS" = 200 ] && jq -e '.signedCertificateEmbeddedSct.chain.certificates | length == 3' "$T_TMP/v2.json" >/dev/null \
   && ! jq -e 'has("signedCertificateDetachedSct")' "$T_TMP/v2.json" >/dev/null; then
  t_ok "v2 signingCert: 200, signedCertificateEmbeddedSct with leaf, intermediate, root (${ms} ms)"
else
  t_bad "v2 signingCert with CT: status $H_STATUS body $(head -c 400 "$T_TMP/v2.json")"
fi
sct_check "v2 certificate" "$T_TMP/v2.json"
if out=$("$PY" "$I/ct-check-sct.py" "$T_TMP/v2.json" --log-key "$T_TMP/other/log.pub" --sigstore-python 2>&1); then
  t_bad "the SCT check accepted another log's key: $out"
else
  t_ok "the SCT check refuses another log's key (log ID and signature)"
fi
jq '{chain: .signedCertificateEmbeddedSct.chain.certificates}' "$T_TMP/v2.json" >"$T_TMP/v2chain.json"
if out=$("$PY" "$I/check_cert.py" "$T_TMP/v2chain.json" --ca "$T_TMP/bundle.json" --openssl-verify \
    --public-key <(pubkey_pem "$T_TMP/client.pem") --san-type email --san alice@example.com \
    --issuer "$idp_URL" --ext 24 utf8string alice-sub --only-expected 2>&1); then
  t_ok "v2 certificate: identity, profile and chain check out (check_cert.py, openssl verify)"
else
  t_bad "v2 certificate profile: $out"
fi
# the CA chain is the one the log was given the root of
if [ "$(jq -r '.signedCertificateEmbeddedSct.chain.certificates[2] | rtrimstr("\n")' "$T_TMP/v2.json")" = "$(cat "$T_TMP/ca/root.pem")" ]; then
  t_ok "chain ends with the fileca root $LOG_NAME trusts"
else
  t_bad "chain root differs from $T_TMP/ca/root.pem"
fi

# v1 API (cosign v2's form): the PEM leaf carries the embedded SCT too
pop=$(pop_b64 "$T_TMP/client.pem" alice@example.com)
jq -n --arg c "$(openssl pkey -in "$T_TMP/client.pem" -pubout -outform DER 2>/dev/null | base64 -w0)" --arg p "$pop" \
  '{publicKey: {content: $c, algorithm: "ecdsa"}, signedEmailAddress: $p}' >"$T_TMP/v1.req"
st=$(curl -sS --max-time 30 -o "$T_TMP/v1.pem" -D "$T_TMP/v1.hdr" -w '%{http_code}' -H "Authorization: Bearer $tok" \
  -H 'Content-Type: application/json' --data-binary @"$T_TMP/v1.req" "$API/api/v1/signingCert")
if [ "$st" = 201 ]; then
  t_ok "v1 signingCert: 201"
  sct_check "v1 certificate" "$T_TMP/v1.pem"
else
  t_bad "v1 signingCert with CT: status $st body $(head -c 300 "$T_TMP/v1.pem")"
fi

# ===== (b) sigstore-python =====
tok=$(mint "$idp_URL" "$alice")
if "$PY" "$I/py/request_cert.py" "$API" "$tok" >"$T_TMP/py.json" 2>"$T_TMP/py.err"; then
  t_ok "sigstore-python request_cert.py: exit 0 (the client accepts the embedded-SCT answer)"
  sct_check "sigstore-python CSR certificate" "$T_TMP/py.json"
else
  t_bad "sigstore-python request_cert.py: exit $?: $(cat "$T_TMP/py.err")"
fi
python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/bundle.pem" --ca-uri "$API" --ct-pub "$ct_PUB" --ct-url "$ct_URL" >"$T_TMP/root-py.json"
tok=$(mint "$idp_URL" "$alice")
if out=$("$PY" "$I/ct-py-signer.py" "$API" "$tok" "$T_TMP/root-py.json" 2>&1 >/dev/null); then
  t_ok "sigstore-python SigningContext.signer: certificate obtained and its SCT verified by the client"
else
  t_bad "sigstore-python signer: $out"
fi
python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/bundle.pem" --ca-uri "$API" --ct-pub "$T_TMP/other/log.pub" --ct-url "$ct_URL" >"$T_TMP/root-py-bad.json"
tok=$(mint "$idp_URL" "$alice")
if out=$("$PY" "$I/ct-py-signer.py" "$API" "$tok" "$T_TMP/root-py-bad.json" 2>&1 >/dev/null); then
  t_bad "sigstore-python signer accepted the SCT with another CT key in its trusted root"
elif grep -q 'SCT verify failed' <<<"$out"; then
  t_ok "sigstore-python signer with another CT key: $(head -c 120 <<<"$out")"
else
  t_bad "sigstore-python signer with another CT key: want 'SCT verify failed', got: $out"
fi

# ===== (c) sigstore-js: sign (TSA, no Rekor), verify with a private trusted root =====
tok=$(mint "$idp_URL" "$alice")
if node "$JS/ct-sign.mjs" "$API" "$tok" "$T_TMP/js" >"$T_TMP/js.out" 2>"$T_TMP/js.err"; then
  t_ok "sigstore-js: bundle signed ($(jq -r .mediaType "$T_TMP/js.out"), TSA timestamp, no tlog entry)"
  python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/bundle.pem" --ca-uri "$API" --ct-pub "$ct_PUB" --ct-url "$ct_URL" \
    --tsa "$T_TMP/js/tsa.json" >"$T_TMP/root-js.json"
  if out=$(node "$JS/ct-verify.mjs" "$T_TMP/js/bundle.json" "$T_TMP/js/artifact.txt" "$T_TMP/root-js.json" \
      alice@example.com "$idp_URL" 2>&1); then
    t_ok "sigstore-js Verifier (ctlogThreshold 1, tlogThreshold 0, timestampThreshold 1): $out"
  else
    t_bad "sigstore-js verify: $out"
  fi
  python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/bundle.pem" --ca-uri "$API" --ct-pub "$T_TMP/other/log.pub" --ct-url "$ct_URL" \
    --tsa "$T_TMP/js/tsa.json" >"$T_TMP/root-js-bad.json"
  python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/bundle.pem" --ca-uri "$API" --ct-pub "$T_TMP/other/log.pub" \
    --ct-log-id-from "$ct_PUB" --ct-url "$ct_URL" --tsa "$T_TMP/js/tsa.json" >"$T_TMP/root-js-bad2.json"
  for v in "root-js-bad:another CT key" "root-js-bad2:$LOG_NAME's log ID with another key"; do
    if out=$(node "$JS/ct-verify.mjs" "$T_TMP/js/bundle.json" "$T_TMP/js/artifact.txt" "$T_TMP/${v%%:*}.json" 2>&1); then
      t_bad "sigstore-js verified with ${v#*:} in the trusted root"
    elif grep -q 'SCT verification failed' <<<"$out"; then
      t_ok "sigstore-js with ${v#*:}: $out"
    else
      t_bad "sigstore-js with ${v#*:}: want an SCT error, got: $out"
    fi
  done
else
  t_bad "sigstore-js sign: $(cat "$T_TMP/js.err")"
fi

# ===== (d) 500 simultaneous requests, 1 s checkpoints (batches) =====
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true,"exp":4102444800}}')
alice_body "$tok" >"$T_TMP/load.body"
th_before=$(threads_of "$ca_PID")
node "$JS/ct-load.mjs" "$API" "$T_TMP/load.body" 500 --timeout-ms 60000 --save "$T_TMP/load.jsonl" >"$T_TMP/load.out" 2>&1 &
load=$!
th_max=0
: >"$T_TMP/threads.txt"
while kill -0 "$load" 2>/dev/null; do
  n=$(threads_of "$ca_PID"); echo "$n" >>"$T_TMP/threads.txt"
  [ -n "$n" ] && [ "$n" -gt "$th_max" ] && th_max=$n
  sleep 0.2
done
wait "$load"
load_rc=$?
sleep 2
th_after=$(threads_of "$ca_PID")
echo "load: $(cat "$T_TMP/load.out")"
echo "fulcrum threads: before $th_before, during max $th_max ($(sort -n "$T_TMP/threads.txt" | uniq -c | awk '{printf "%s×%s ", $2, $1}')), after $th_after"
if [ "$load_rc" -eq 0 ] && jq -e '.ok == 500' "$T_TMP/load.out" >/dev/null 2>&1; then
  t_ok "500 simultaneous requests: all 200 ($(jq -r '"wall \(.wallMs) ms, p50 \(.p50Ms) ms, p99 \(.p99Ms) ms"' "$T_TMP/load.out"))"
else
  t_bad "500 simultaneous requests: $(cat "$T_TMP/load.out")"
fi
if out=$("$PY" "$I/ct-check-sct.py" --jsonl "$T_TMP/load.jsonl" --log-key "$ct_PUB" --leaf-index --log-storage "$ct_STORAGE" 2>&1); then
  t_ok "load: ${out#ct-check-sct: ok: }"
else
  t_bad "load SCTs: $out"
fi
if [ -n "$th_before" ] && [ "$th_max" -le $((th_before + 2)) ] && [ "$th_after" -le "$th_before" ]; then
  t_ok "fulcrum threads flat under load: before $th_before, max during $th_max, after $th_after"
else
  t_bad "fulcrum threads: before $th_before, max during $th_max, after $th_after (want flat)"
fi
kill -0 "$ca_PID" 2>/dev/null && t_ok "fulcrum still running after the load" || t_bad "fulcrum died under load: $(tail -5 "$T_TMP/ca.serve.log")"

# ===== (e) --ct-log-origin: the Host header of the submission =====
CT_ORIGIN=ct-origin.fulcrum.test log_start cto "$T_TMP/ca/root.pem" 250ms || t_bad "second $LOG_NAME did not start"
warn='not prefixed with the configured origin'
if fulcrum_ct_start cao "$cto_URL" "$cto_PUB" "${FILECA[@]}" --ct-log-origin "$cto_ORIGIN"; then
  http POST "$cao_URL/api/v2/signingCert" "$(alice_body "$(mint "$idp_URL" "$alice")")"
  echo "$H_BODY" >"$T_TMP/origin.json"
  if [ "$CT_TEST_LOG" = tesseract ]; then
    if [ "$H_STATUS" = 200 ] && ! grep -q "$warn" "$cto_LOG"; then
      t_ok "--ct-log-origin $cto_ORIGIN: certificate issued, TesseraCT saw its origin as the Host"
    else
      t_bad "--ct-log-origin: status $H_STATUS $(head -c 200 <<<"$H_BODY"); TesseraCT: $(grep -c "$warn" "$cto_LOG") origin warnings"
    fi
  else
    # fulcrum ctlog does not compare the Host with its origin: the
    # equivalent is that a Host set to the origin is accepted and the entry
    # lands in the log whose checkpoint names that origin (sct_check below)
    if [ "$H_STATUS" = 200 ] && [ "$(head -1 "$cto_STORAGE/checkpoint")" = "$cto_ORIGIN" ]; then
      t_ok "--ct-log-origin $cto_ORIGIN: certificate issued by way of the fulcrum ctlog whose checkpoint origin it is"
    else
      t_bad "--ct-log-origin: status $H_STATUS $(head -c 200 <<<"$H_BODY"); checkpoint origin $(head -1 "$cto_STORAGE/checkpoint")"
    fi
  fi
  [ "$H_STATUS" = 200 ] && sct_check "--ct-log-origin certificate" "$T_TMP/origin.json" cto
else
  t_bad "fulcrum serve --ct-log-origin did not start: $(tail -3 "$T_TMP/cao.serve.log")"
fi
if fulcrum_ct_start canoo "$cto_URL" "$cto_PUB" "${FILECA[@]}"; then
  http POST "$canoo_URL/api/v2/signingCert" "$(alice_body "$(mint "$idp_URL" "$alice")")"
  if [ "$CT_TEST_LOG" = tesseract ]; then
    if [ "$H_STATUS" = 200 ] && grep -q "$warn" "$cto_LOG"; then
      t_ok "without --ct-log-origin the Host is the URL's (control: TesseraCT warns about its origin)"
    else
      t_bad "control without --ct-log-origin: status $H_STATUS, $(grep -c "$warn" "$cto_LOG") origin warnings"
    fi
  else
    echo "not checked against fulcrum ctlog: that a Host other than the origin is noticed (fulcrum ctlog ignores the Host header; TesseraCT only warns)"
    if [ "$H_STATUS" = 200 ]; then
      t_ok "without --ct-log-origin (Host 127.0.0.1:port, not the origin): certificate issued too"
    else
      t_bad "without --ct-log-origin: status $H_STATUS $(head -c 200 <<<"$H_BODY")"
    fi
  fi
fi

# ===== (f) no certificate without a verified SCT =====
# refused DESC NAME: a v2 request to ${NAME}_URL must not yield a certificate.
refused() {
  local desc=$1 url_var="${2}_URL" t0 ms
  t0=$(date +%s%N)
  rm -f "$T_TMP/http.body"
  http POST "${!url_var}/api/v2/signingCert" "$(alice_body "$(mint "$idp_URL" "$alice")")"
  ms=$((($(date +%s%N) - t0) / 1000000))
  LAST_MS=$ms
  if [ "$H_STATUS" != 200 ] && [ "$H_STATUS" != 201 ] && ! grep -q 'BEGIN CERTIFICATE' <<<"$H_BODY"; then
    t_ok "$desc: no certificate ($H_STATUS $(head -c 150 <<<"$H_BODY"), ${ms} ms)"
  else
    t_bad "$desc: status $H_STATUS body $(head -c 200 <<<"$H_BODY")"
  fi
}
# log key mismatch: fulcrum is told another key than the log's
if fulcrum_ct_start cakey "$ct_URL" "$T_TMP/other/log.pub" "${FILECA[@]}"; then
  refused "CT public key that is not the log's" cakey
fi
# the log does not accept our root
ct_make_ca "$T_TMP/ca2"
log_start ctother "$T_TMP/ca2/root.pem" 250ms || t_bad "third $LOG_NAME did not start"
if fulcrum_ct_start caroot "$ctother_URL" "$ctother_PUB" "${FILECA[@]}"; then
  refused "log that does not accept our root (400 from add-pre-chain)" caroot
fi
# a log that accepts connections and never answers: --ct-log-timeout 2s
bh_port=$(t_free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512); conns=[]
while True: c,_=s.accept(); conns.append(c)' "$bh_port" &
T_PIDS+=($!)
if fulcrum_ct_start cahang "http://127.0.0.1:$bh_port" "$ct_PUB" "${FILECA[@]}" --ct-log-timeout 2s; then
  refused "log that never answers, --ct-log-timeout 2s" cahang
  [ "$LAST_MS" -lt 8000 ] && t_ok "gave up after ${LAST_MS} ms (timeout 2 s)" || t_bad "took ${LAST_MS} ms with --ct-log-timeout 2s"
fi
# the real log frozen (SIGSTOP: the kernel still accepts connections, the log
# answers nothing), --ct-log-timeout 2s; after SIGCONT the same fulcrum
# issues again (its connection to the log must not be stuck)
if fulcrum_ct_start cafrz "$ct_URL" "$ct_PUB" "${FILECA[@]}" --ct-log-timeout 2s; then
  http POST "$cafrz_URL/api/v2/signingCert" "$(alice_body "$(mint "$idp_URL" "$alice")")"
  [ "$H_STATUS" = 200 ] || t_bad "before SIGSTOP: status $H_STATUS $(head -c 200 <<<"$H_BODY")"
  kill -STOP "$ct_PID"
  refused "$LOG_NAME frozen by SIGSTOP, --ct-log-timeout 2s" cafrz
  [ "$LAST_MS" -lt 8000 ] && t_ok "gave up on the frozen log after ${LAST_MS} ms (timeout 2 s)" || t_bad "took ${LAST_MS} ms with the log frozen and --ct-log-timeout 2s"
  kill -CONT "$ct_PID"
  t0=$(date +%s%N)
  http POST "$cafrz_URL/api/v2/signingCert" "$(alice_body "$(mint "$idp_URL" "$alice")")"
  ms=$((($(date +%s%N) - t0) / 1000000))
  echo "$H_BODY" >"$T_TMP/thawed.json"
  if [ "$H_STATUS" = 200 ]; then
    t_ok "after SIGCONT: certificate issued again (${ms} ms)"
    sct_check "after SIGCONT" "$T_TMP/thawed.json"
  else
    t_bad "after SIGCONT: status $H_STATUS $(head -c 200 <<<"$H_BODY") (${ms} ms)"
  fi
fi
# the log goes away
kill -TERM "$ct_PID"; wait "$ct_PID" 2>/dev/null
ct_rc=$?
refused "CT log stopped (connection refused)" ca
kill -0 "$ca_PID" 2>/dev/null && t_ok "fulcrum still running with its CT log gone" || t_bad "fulcrum died when the CT log went away"

# ===== every fulcrum stops cleanly on SIGTERM, without sanitizer reports =====
# (with CT_TEST_LOG=fulcrum the logs too: ct was stopped above)
stopped=0 bad_stop="" names="ca cao canoo cakey caroot cahang cafrz"
if [ "$CT_TEST_LOG" = fulcrum ]; then
  names+=" cto ctother"
  [ "$ct_rc" -eq 0 ] && stopped=$((stopped + 1)) || bad_stop+=" ct:exit-$ct_rc"
fi
for n in $names; do
  pid_var="${n}_PID"
  pid=${!pid_var:-}
  [ -n "$pid" ] || continue
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    bad_stop+=" $n:still-running"
  else
    wait "$pid"; rc=$?
    [ "$rc" -eq 0 ] && stopped=$((stopped + 1)) || bad_stop+=" $n:exit-$rc"
  fi
done
san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP"/*.serve.log "$T_TMP"/*.ctlog.log 2>/dev/null)
if [ -z "$bad_stop" ] && [ -z "$san" ]; then
  t_ok "$stopped fulcrum $([ "$CT_TEST_LOG" = fulcrum ] && echo "servers and logs" || echo servers) stopped on SIGTERM with exit 0, no sanitizer report"
else
  t_bad "stop:$bad_stop; sanitizer reports in: $san $(for f in $san; do grep -m3 -E 'ERROR|runtime error' "$f"; done)"
fi

t_done
