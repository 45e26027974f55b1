#!/usr/bin/env bash
# fulcrum serve with two real CT logs of two operators, fulcrum ctlog (F)
# and TesseraCT (T, tests/tools/install-tesseract.sh), both on loopback
# with 250 ms batches / checkpoints, policy 1 of 2 (the defaults), stagger
# 500 ms:
#   (a) every certificate carries exactly one SCT, from F or T, and it is
#       checked by OpenSSL's own CT code (fake_ctlog check: SCT_LIST_validate
#       with both logs trusted), by pyca/cryptography against the entry in
#       that log's data tiles and by sigstore-python's verify_sct
#       (ct-check-sct.py with both logs);
#   (b) sigstore-python's own signer (SigningContext, which runs verify_sct
#       on the new certificate against a trusted root holding both logs);
#   (c) cosign (sigstore-go): sign-blob and verify-blob against a trusted
#       root holding both logs (ct-trusted-root.py with two ctlogs), with
#       fulcrum ctlog's SCT, and again with TesseraCT's once F is killed;
#   (d) with F killed (SIGKILL), then with T killed, issuance continues, and
#       the p99 latency of 60 requests (6 at a time) is no worse than that of
#       the same CA with only the healthy log plus the stagger (500 ms);
#       /metrics shows the dead log's failures and its open breaker;
#   (e) with both killed: 503, nothing issued.
# Needs TesseraCT, cosign and the sigstore-python venv under $FULCRUM_DEPS.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
I="$repo/tests/interop"
. "$here/ctlog-lib.sh"
FULCRUM_CT_ORIGIN=$CT_ORIGIN
unset CT_ORIGIN
. "$I/ct-lib.sh"
PY="$CT_DEPS/venv/bin/python"
COSIGN=${COSIGN_BIN:-$CT_DEPS/bin/cosign}
STAGGER_MS=500
: "${FULCRUM_FAKE_CTLOG:?FULCRUM_FAKE_CTLOG must name the fake_ctlog test tool (meson sets it)}"

for tool in jq curl openssl; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
ct_have_tesseract || t_skip "TesseraCT not installed at $TESSERACT_BIN (run tests/tools/install-tesseract.sh)"
[ -x "$COSIGN" ] || t_skip "cosign not installed at $COSIGN (run tests/tools/install-cosign.sh)"
[ -x "$PY" ] && "$PY" -c 'import sigstore, cryptography' 2>/dev/null \
  || t_skip "sigstore-python not installed in $CT_DEPS/venv (run tests/tools/install-interop.sh)"
export HOME="$T_TMP/home" TUF_ROOT="$T_TMP/home/.sigstore/root"
mkdir -p "$HOME"
for v in $(env | sed -n 's/^\(SIGSTORE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- the CA, the issuer, the two logs ---
ct_make_ca "$T_TMP/ca" || { t_bad "cannot make the test CA"; t_done; exit 1; }
issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
FILECA=(--ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" --fileca-watch false)

mkdir -p "$T_TMP/F/storage"
ct_log_key "$T_TMP/F"
FL_ARGS=(--ext-key-usages CodeSigning --batch-max-age 250ms)
CT_ORIGIN=$FULCRUM_CT_ORIGIN ct_start FL "$T_TMP/F/storage" "$T_TMP/ca/root.pem" "$T_TMP/F/log.key" "${FL_ARGS[@]}" \
  || { t_bad "fulcrum ctlog did not start"; t_done; exit 1; }
FL_PUB="$T_TMP/F/log.pub" FL_STORAGE="$T_TMP/F/storage"
tesseract_start TS "$T_TMP/ca/root.pem" 250ms || { t_bad "TesseraCT did not start"; t_done; exit 1; }
t_ok "two logs: fulcrum ctlog at $FL_URL, TesseraCT $(cut -d' ' -f2 "$CT_DEPS/bin/tesseract-posix.version" 2>/dev/null) at $TS_URL"

mport=$(t_free_port)
serve_start ca "${FILECA[@]}" --metrics-port "$mport" --ct-log-timeout 10s \
  --ct-log-url "$FL_URL" --ct-log-public-key-path "$FL_PUB" --ct-log-operator "fulcrum test" \
  --ct-log-url "$TS_URL" --ct-log-public-key-path "$TS_PUB" --ct-log-operator "tesseract test" || exit 1
METRICS="http://127.0.0.1:$mport/metrics"
serve_start caF "${FILECA[@]}" --ct-log-url "$FL_URL" --ct-log-public-key-path "$FL_PUB" || exit 1
serve_start caT "${FILECA[@]}" --ct-log-url "$TS_URL" --ct-log-public-key-path "$TS_PUB" || exit 1
grep -q "CT log $FL_URL accepts our root" "$T_TMP/ca.serve.log" && grep -q "CT log $TS_URL accepts our root" "$T_TMP/ca.serve.log" \
  && t_ok "start-up get-roots: both logs accept our root" || t_bad "get-roots: $(grep 'CT log' "$T_TMP/ca.serve.log")"
curl -fsS --max-time 10 "$ca_URL/api/v2/trustBundle" | jq -r '.chains[0].certificates[] | rtrimstr("\n")' >"$T_TMP/cachain.pem"

alice='{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true,"exp":4102444800}}'
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
v2_body "$(mint "$idp_URL" "$alice")" "$T_TMP/client.pem" alice@example.com >"$T_TMP/body.json"

# check_cert FILE DESC: the v2 answer in FILE carries one SCT from F or T,
# valid for OpenSSL, pyca/cryptography (+ the log's tiles) and sigstore-python.
check_cert() {
  local f=$1 desc=$2 out
  jq -r '.signedCertificateEmbeddedSct.chain.certificates[0]' "$f" >"$T_TMP/leaf.pem"
  jq -r '.signedCertificateEmbeddedSct.chain.certificates[1]' "$f" >"$T_TMP/issuer.pem"
  if out=$("$FULCRUM_FAKE_CTLOG" check --cert "$T_TMP/leaf.pem" --issuer "$T_TMP/issuer.pem" \
      --log-key "$FL_PUB" --log-key "$TS_PUB" --scts 1 2>&1); then
    t_ok "$desc: $out"
  else
    t_bad "$desc: OpenSSL: $out"
  fi
  if out=$("$PY" "$I/ct-check-sct.py" "$f" --log-key "$FL_PUB" --log-key "$TS_PUB" --log-storage "$FL_STORAGE" \
      --log-storage "$TS_STORAGE" --leaf-index --sigstore-python 2>&1); then
    t_ok "$desc: ${out#ct-check-sct: ok: }"
  else
    t_bad "$desc: $out"
  fi
}

# ===== (a) certificates from the two-log CA =====
for i in 1 2 3; do
  http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
  echo "$H_BODY" >"$T_TMP/v2.$i.json"
  [ "$H_STATUS" = 200 ] && check_cert "$T_TMP/v2.$i.json" "certificate $i" || t_bad "certificate $i: $H_STATUS $H_BODY"
done

# ===== (b) sigstore-python's signer, trusted root with both logs =====
python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/cachain.pem" --ca-uri "$ca_URL" \
  --ct-pub "$FL_PUB" --ct-url "$FL_URL" --ct-pub "$TS_PUB" --ct-url "$TS_URL" >"$T_TMP/trusted_root.json"
[ "$(jq '.ctlogs | length' "$T_TMP/trusted_root.json")" = 2 ] && t_ok "trusted root with two ctlogs" || t_bad "trusted root"
if out=$("$PY" "$I/ct-py-signer.py" "$ca_URL" "$(mint "$idp_URL" "$alice")" "$T_TMP/trusted_root.json" 2>&1 >/dev/null); then
  t_ok "sigstore-python SigningContext.signer: certificate obtained, its SCT verified by the client"
else
  t_bad "sigstore-python signer: $out"
fi

# ===== (c) cosign (sigstore-go) =====
printf 'artifact signed by cosign through fulcrum with two CT logs\n' >"$T_TMP/artifact.txt"
# cosign_round DESC: sign-blob against the two-log CA, then verify-blob
# (sigstore-go checks the embedded SCT against the trusted root's ctlogs).
cosign_round() {
  rm -f "$T_TMP/b.json"
  if timeout 120 "$COSIGN" sign-blob "$T_TMP/artifact.txt" --yes --use-signing-config=false --fulcio-url "$ca_URL" \
      --tlog-upload=false --trusted-root "$T_TMP/trusted_root.json" --identity-token "$(mint "$idp_URL" "$alice")" \
      --bundle "$T_TMP/b.json" >"$T_TMP/sign.out" 2>&1 && [ -s "$T_TMP/b.json" ]; then
    if timeout 120 "$COSIGN" verify-blob "$T_TMP/artifact.txt" --bundle "$T_TMP/b.json" \
        --certificate-identity alice@example.com --certificate-oidc-issuer "$idp_URL" \
        --trusted-root "$T_TMP/trusted_root.json" --insecure-ignore-tlog >"$T_TMP/verify.out" 2>&1 \
       && grep -q 'Verified OK' "$T_TMP/verify.out"; then
      t_ok "$1: cosign sign-blob and verify-blob (sigstore-go verifies the embedded SCT)"
    else
      t_bad "$1: cosign verify-blob: $(cat "$T_TMP/verify.out")"
    fi
  else
    t_bad "$1: cosign sign-blob: $(cat "$T_TMP/sign.out")"
  fi
}
cosign_round "both logs up"

# ===== (d) either log killed: p99 no worse than the healthy log's + stagger =====
# p99 URL: 60 requests, 6 at a time; prints "OK P99_MS" (OK = answers 200).
p99() {
  seq 60 | xargs -P 6 -I{} curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 \
    -H 'Content-Type: application/json' --data-binary "@$T_TMP/body.json" "$1/api/v2/signingCert" >"$T_TMP/times"
  awk '$1 == 200 {ok++} {print $2 * 1000}' "$T_TMP/times" | sort -n | awk '{v[NR] = $1} END {printf "%d", v[int(NR * 0.99 + 0.5)]}' >"$T_TMP/p99"
  echo "$(grep -c '^200 ' "$T_TMP/times") $(cat "$T_TMP/p99")"
}
read -r okF baseF < <(p99 "$caF_URL")
read -r okT baseT < <(p99 "$caT_URL")
echo "# p99 with one healthy log alone: fulcrum ctlog ${baseF} ms ($okF ok), TesseraCT ${baseT} ms ($okT ok); uptime: $(uptime)"

# F killed
kill -KILL "$FL_PID"; wait "$FL_PID" 2>/dev/null
read -r ok p < <(p99 "$ca_URL")
if [ "$ok" = 60 ] && [ "$p" -le $((baseT + STAGGER_MS)) ]; then
  t_ok "fulcrum ctlog killed: 60/60 issued, p99 ${p} ms <= TesseraCT alone ${baseT} + ${STAGGER_MS} ms"
else
  t_bad "fulcrum ctlog killed: $ok/60 issued, p99 ${p} ms (TesseraCT alone ${baseT} ms + ${STAGGER_MS})"
fi
m=$(curl -fsS --max-time 5 "$METRICS")
grep -qF "fulcrum_ct_breaker_state{log=\"$FL_URL\"} 1" <<<"$m" && t_ok "metrics: the dead log's breaker is open" \
  || t_bad "breaker of the dead log: $(grep "breaker_state" <<<"$m")"
n=$(grep -F "fulcrum_ct_failures_total{log=\"$FL_URL\",kind=\"unreachable\"}" <<<"$m" | awk '{print $2}')
[ "${n:-0}" -ge 3 ] && t_ok "metrics: $n unreachable failures of the dead log" || t_bad "unreachable failures: $n"
http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
echo "$H_BODY" >"$T_TMP/killedF.json"
[ "$H_STATUS" = 200 ] && check_cert "$T_TMP/killedF.json" "fulcrum ctlog killed" || t_bad "with F killed: $H_STATUS"
cosign_round "fulcrum ctlog killed (TesseraCT's SCT)"

# F back on the same port, then T killed
port=${FL_URL##*:}
"$FULCRUM_BIN" ctlog --listen "127.0.0.1:$port" --storage-dir "$FL_STORAGE" --roots "$T_TMP/ca/root.pem" \
  --private-key "$T_TMP/F/log.key" --origin "$FULCRUM_CT_ORIGIN" "${FL_ARGS[@]}" >>"$T_TMP/FL.ctlog.log" 2>&1 &
FL_PID=$!
T_PIDS+=("$FL_PID")
t_wait_http "$FL_URL/healthz" 10 && t_ok "fulcrum ctlog restarted on $FL_URL" || t_bad "fulcrum ctlog did not restart"
# its breaker is still open (its backoff doubled at each failed probe):
# certificates go on being issued through TesseraCT until a probe succeeds
for i in $(seq 140); do
  curl -fsS --max-time 5 "$METRICS" | grep -qF "fulcrum_ct_breaker_state{log=\"$FL_URL\"} 0" && break
  curl -sS -o /dev/null --max-time 10 -H 'Content-Type: application/json' --data-binary "@$T_TMP/body.json" \
    "$ca_URL/api/v2/signingCert"
  sleep 0.5
done
curl -fsS --max-time 5 "$METRICS" | grep -qF "fulcrum_ct_breaker_state{log=\"$FL_URL\"} 0" \
  && t_ok "fulcrum ctlog back: a probe succeeded, its breaker closed (after about $((i / 2)) s)" \
  || t_bad "the breaker of the restarted fulcrum ctlog did not close"
kill -KILL "$TS_PID"; wait "$TS_PID" 2>/dev/null
read -r ok p < <(p99 "$ca_URL")
if [ "$ok" = 60 ] && [ "$p" -le $((baseF + STAGGER_MS)) ]; then
  t_ok "TesseraCT killed: 60/60 issued, p99 ${p} ms <= fulcrum ctlog alone ${baseF} + ${STAGGER_MS} ms"
else
  t_bad "TesseraCT killed: $ok/60 issued, p99 ${p} ms (fulcrum ctlog alone ${baseF} ms + ${STAGGER_MS})"
fi
http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
echo "$H_BODY" >"$T_TMP/killedT.json"
[ "$H_STATUS" = 200 ] && check_cert "$T_TMP/killedT.json" "TesseraCT killed" || t_bad "with T killed: $H_STATUS"

# ===== (e) both killed =====
kill -KILL "$FL_PID"; wait "$FL_PID" 2>/dev/null
n0=$(grep -c 'issued serial=' "$T_TMP/ca.serve.log")
http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")"
if [ "$H_STATUS" = 503 ] && [ "$(grep -c 'issued serial=' "$T_TMP/ca.serve.log")" = "$n0" ] \
   && ! grep -q 'BEGIN CERTIFICATE' <<<"$H_BODY"; then
  t_ok "both logs killed: 503, nothing issued ($(jq -r .message <<<"$H_BODY" | head -c 250))"
else
  t_bad "both logs killed: $H_STATUS $H_BODY"
fi

bad=""
for n in ca caF caT; do
  pid_var="${n}_PID"
  kill -TERM "${!pid_var}"
  for _ in $(seq 150); do kill -0 "${!pid_var}" 2>/dev/null || break; sleep 0.1; done
  wait "${!pid_var}" 2>/dev/null || bad+=" $n:exit-$?"
done
san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP"/*.serve.log "$T_TMP"/*.ctlog.log 2>/dev/null)
[ -z "$bad$san" ] && t_ok "every fulcrum stopped on SIGTERM with exit 0, no sanitizer report" \
  || t_bad "stop:$bad; sanitizer: $san $(for f in $san; do grep -m3 -E 'ERROR|runtime error' "$f"; done)"
t_done
