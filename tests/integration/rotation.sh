#!/usr/bin/env bash
# Rotation without downtime, in a private Sigstore on loopback (the stack of
# tests/interop/e2e-private.sh: a CA in a SoftHSM2 token served by
# `fulcrum serve --ca pkcs11ca`, `fulcrum ctlog`, `fulcrum tsa` with its key
# in the same token, Rekor v2, the trust files of `fulcrum trust`):
#   * under a steady load (6 clients asking for certificates, 2 for
#     timestamps, each in a loop), three switches, one after the other:
#     a new CA intermediate (made in the token by `createca
#     --existing-root` under the root in service; serve's --hsm-chain file
#     replaced, SIGHUP), a new CT log shard (a second `fulcrum ctlog` with
#     its own key and origin; serve's --ct-log-config replaced, SIGHUP) and
#     a new TSA key (`createca --tsa --existing-root`; tsa's chain file
#     replaced, SIGHUP); every request is counted, and none may fail;
#   * the trusted root of the overlap (old and new entries, the old ones
#     with validFor.end) is served by the CA after the first SIGHUP;
#   * certificates issued after the switches chain to the new intermediate
#     (openssl verify; not to the old one) and carry an SCT of the new log
#     (pyca/cryptography and sigstore-python's own SCT verifier), and
#     timestamps are signed by the new TSA certificate (openssl ts);
#   * a bundle signed before and one signed after verify with the new
#     trusted root alone, by cosign and sigstore-python (and sigstore-js);
#   * a bundle signed after the old entries' validFor.end by a second
#     `fulcrum serve` still on the old intermediate is refused by cosign and
#     sigstore-js (and accepted with the same trusted root without that
#     end, the control); what sigstore-python does is reported.
# Prints the figures: requests and failures across each switch, the load
# average. FULCRUM_BIN / FULCRUM_TEST_ISSUER as for the other tests; the
# clients and rekor-tiles as for e2e-private.sh.
here=$(cd "$(dirname "$0")" && pwd)
I="$here/../interop"
. "$here/lib.sh"
. "$here/ctlog-lib.sh"
. "$I/e2e-lib.sh"
COSIGN=${COSIGN_BIN:-$E2E_DEPS/bin/cosign}
SIGSTORE_PY=$E2E_DEPS/venv/bin/sigstore
PY=$E2E_DEPS/venv/bin/python
JS="$I/js"
SIGNERS=6
STAMPERS=2

for tool in jq curl openssl node python3 softhsm2-util; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
softhsm_module >/dev/null || t_skip "SoftHSM2 is not installed (apt-get install softhsm2)"
[ -x "$COSIGN" ] || t_skip "cosign not installed at $COSIGN (tests/tools/install-cosign.sh)"
[ -x "$SIGSTORE_PY" ] || t_skip "sigstore-python not installed in $E2E_DEPS/venv (tests/tools/install-interop.sh)"
[ -f "$JS/node_modules/@sigstore/verify/package.json" ] \
  || t_skip "sigstore-js not installed (tests/tools/install-interop.sh)"
[ -x "$REKOR_TILES_BIN" ] || t_skip "rekor-tiles not installed at $REKOR_TILES_BIN (tests/tools/install-rekor-tiles.sh)"
e2e_have_fulcrum_tsa || t_skip "this fulcrum has no tsa command"

export HOME="$T_TMP/home" TUF_ROOT="$T_TMP/home/.sigstore/root"
mkdir -p "$HOME"
for v in $(env | sed -n 's/^\(SIGSTORE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset GITHUB_ACTIONS ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

run() { local out=$1; shift; timeout 180 "$@" >"$out" 2>&1; }
last_line() { grep -v '^\s*$' "$1" | tail -1 | head -c 300; }
now_us() { echo "${EPOCHREALTIME/./}"; }
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
token() {
  mint "$idp_URL" "{\"claims\":{\"sub\":\"alice-sub\",\"email\":\"alice@example.com\",\"email_verified\":true,\"exp\":$(($(date +%s) + 3600))}}"
}
fatal() { t_bad "$*"; t_done; exit 1; }

# ===== 1. the stack, as an organisation runs it =====
D="$T_TMP/ca"
issuer_start idp
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$T_TMP/config.json"
hsm_ca_create "$D" rot || fatal "fulcrum createca in SoftHSM2"
hsm_tsa_create "$D" rot || fatal "fulcrum createca --tsa in SoftHSM2"
MOD=$(softhsm_module)
TOKEN_URI="pkcs11:token=rot?module-path=$MOD"
awk '/BEGIN/{n++} n==1' "$D/chain.pem" >"$D/int1.pem"
awk '/BEGIN/{n++} n==2' "$D/tsa-chain.pem" >"$D/tsa-root.pem"
cp "$D/chain.pem" "$D/serve-chain.pem"      # what serve reads (--hsm-chain)
cp "$D/tsa-chain.pem" "$D/tsa-live.pem"     # what tsa reads (--certificate-chain)
mkdir -p "$T_TMP/log1/storage" "$T_TMP/log2/storage"
for n in 1 2; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$T_TMP/log$n/log.key" 2>/dev/null
  openssl ec -in "$T_TMP/log$n/log.key" -pubout -out "$T_TMP/log$n/log.pub" 2>/dev/null
done
LOG1_START=$(rfc3339 $(($(date +%s) - 5)))
CT_ORIGIN=rot.test/log1 ct_start ct1 "$T_TMP/log1/storage" "$D/root.pem" "$T_TMP/log1/log.key" \
  --ext-key-usages CodeSigning --batch-max-age 100ms || fatal "fulcrum ctlog (log 1) did not start"
# the TSA finds its key by the chain's signing certificate (no object= in the URI)
tsa_start tsa "$T_TMP/tsa" "$D/tsa-live.pem" "$TOKEN_URI" "$D/user-pin" || fatal "fulcrum tsa did not start"
rekor_start rekor "$T_TMP/rekor" || fatal "rekor-tiles did not start"
ca_port=$(t_free_port)
CA="http://127.0.0.1:$ca_port"
printf 'logs:\n  - url: %s\n    public_key_path: %s\n    operator: rot\n' "$ct1_URL" "$T_TMP/log1/log.pub" >"$T_TMP/ct.yaml"

# trust files: TR1 before the rotation
REKOR_ARGS=(--rekor "url=$rekor_URL,api-version=2,public-key=$rekor_PUB,checkpoint=$rekor_CHECKPOINT" --oidc "url=$idp_URL")
"$FULCRUM_BIN" trust --ca "url=$CA,certificate-chain=$D/chain.pem" \
  --ct-log "url=$ct1_URL,public-key=$T_TMP/log1/log.pub,start-time=$LOG1_START" \
  --tsa "url=$tsa_URL,certificate-chain=$D/tsa-chain.pem" "${REKOR_ARGS[@]}" \
  --out-dir "$T_TMP/tr1" >"$T_TMP/tr1.out" 2>&1 || fatal "fulcrum trust (before): $(cat "$T_TMP/tr1.out")"
mkdir -p "$T_TMP/live"
cp "$T_TMP/tr1/trusted_root.json" "$T_TMP/tr1/signing_config.json" "$T_TMP/live/"

"$FULCRUM_BIN" serve --host 127.0.0.1 --port "$ca_port" --metrics-port 0 --ca pkcs11ca \
  --pkcs11-uri "$TOKEN_URI" --pkcs11-pin-file "$D/user-pin" --hsm-chain "$D/serve-chain.pem" \
  --config-path "$T_TMP/config.json" --ct-log-config "$T_TMP/ct.yaml" \
  --trusted-root "$T_TMP/live/trusted_root.json" --signing-config "$T_TMP/live/signing_config.json" \
  --journal-dir "$T_TMP/ca.journal" >"$T_TMP/ca.serve.log" 2>&1 &
ca_PID=$!
T_PIDS+=("$ca_PID")
e2e_wait_url "$ca_PID" "$CA/readyz" 30 "$T_TMP/ca.serve.log" || fatal "fulcrum serve did not start"
if grep -q 'pkcs11ca: .*key id "99-intermediate"' "$T_TMP/ca.serve.log"; then
  t_ok "stack up: serve (pkcs11ca, key found by its --hsm-chain certificate: id 99-intermediate), ctlog $ct1_URL, tsa $tsa_URL, Rekor v2 $rekor_URL"
else
  fatal "serve's CA key: $(grep pkcs11ca "$T_TMP/ca.serve.log")"
fi

# ===== 2. a bundle signed before the rotation =====
ART_BEFORE="$T_TMP/before.txt" ART_AFTER="$T_TMP/after.txt" ART_LATE="$T_TMP/late.txt"
echo "signed before the rotation" >"$ART_BEFORE"
echo "signed after the rotation" >"$ART_AFTER"
echo "signed by the old intermediate after its end" >"$ART_LATE"
echo warm-up >"$T_TMP/warmup.txt"   # Rekor v2's entry 0 is not read by sigstore-python
run "$T_TMP/warmup.out" "$COSIGN" sign-blob "$T_TMP/warmup.txt" --yes --signing-config "$T_TMP/tr1/signing_config.json" \
  --trusted-root "$T_TMP/tr1/trusted_root.json" --identity-token "$(token)" --bundle "$T_TMP/warmup.bundle.json" \
  || fatal "warm-up signature: $(tail -3 "$T_TMP/warmup.out")"
if run "$T_TMP/before.out" "$COSIGN" sign-blob "$ART_BEFORE" --yes --signing-config "$T_TMP/tr1/signing_config.json" \
    --trusted-root "$T_TMP/tr1/trusted_root.json" --identity-token "$(token)" --bundle "$T_TMP/before.bundle.json"; then
  t_ok "cosign sign-blob before the rotation (old intermediate, log 1, TSA key 1)"
else
  fatal "cosign sign-blob (before): $(tail -3 "$T_TMP/before.out")"
fi

# ===== 3. the load =====
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
v2_body "$(token)" "$T_TMP/client.pem" alice@example.com >"$T_TMP/body.json"
openssl ts -query -data "$ART_BEFORE" -sha256 -cert -out "$T_TMP/q.tsq" 2>/dev/null
# sign_loop I: certificates until load.stop; "code start_us end_us" per request
sign_loop() {
  local i=$1 s e code
  while [ ! -e "$T_TMP/load.stop" ]; do
    s=$(now_us)
    code=$(curl -s -o "$T_TMP/load.$i.tmp" -w '%{http_code}' --max-time 30 -X POST \
      -H 'Content-Type: application/json' --data-binary @"$T_TMP/body.json" "$CA/api/v2/signingCert")
    e=$(now_us)
    echo "$code $s $e" >>"$T_TMP/load.sign.$i"
    if [ "$code" = 200 ]; then mv -f "$T_TMP/load.$i.tmp" "$T_TMP/load.$i.last"
    else cp "$T_TMP/load.$i.tmp" "$T_TMP/load.$i.fail.$s" 2>/dev/null; fi
  done
}
stamp_loop() {
  local i=$1 s e code
  while [ ! -e "$T_TMP/load.stop" ]; do
    s=$(now_us)
    code=$(curl -s -o "$T_TMP/tsa.$i.tmp" -w '%{http_code}' --max-time 30 -X POST \
      -H 'Content-Type: application/timestamp-query' --data-binary @"$T_TMP/q.tsq" "$tsa_URL")
    e=$(now_us)
    echo "$code $s $e" >>"$T_TMP/load.tsa.$i"
    [ "$code" = 200 ] && mv -f "$T_TMP/tsa.$i.tmp" "$T_TMP/tsa.$i.last"
  done
}
LOAD_PIDS=()
read -r load_before _ </proc/loadavg
for i in $(seq "$SIGNERS"); do sign_loop "$i" & LOAD_PIDS+=($!); done
for i in $(seq "$STAMPERS"); do stamp_loop "$i" & LOAD_PIDS+=($!); done
sleep 4

# ===== 4. what the rotation needs, made while serving =====
"$FULCRUM_BIN" createca --pkcs11-uri "$TOKEN_URI" --pkcs11-pin-file "$D/user-pin" --hsm-caroot-id 99 \
  --hsm-key-label PKCS11CA --existing-root --intermediate --intermediate-key-label CA-2 \
  --intermediate-id 99-int2 --intermediate-common-name "rotation intermediate 2" \
  --out "$D/chain2.pem" >"$D/createca2.log" 2>&1 || fatal "createca --existing-root: $(cat "$D/createca2.log")"
awk '/BEGIN/{n++} n==1' "$D/chain2.pem" >"$D/int2.pem"
"$FULCRUM_BIN" createca --pkcs11-uri "$TOKEN_URI" --pkcs11-pin-file "$D/user-pin" --hsm-caroot-id 98 \
  --hsm-key-label TSA --existing-root --tsa --tsa-key-label TSA-2 --tsa-id 98-tsa2 \
  --tsa-common-name "rotation TSA 2" --out "$D/tsa-chain2.pem" >"$D/createca-tsa2.log" 2>&1 \
  || fatal "createca --tsa --existing-root: $(cat "$D/createca-tsa2.log")"
if openssl verify -CAfile "$D/root.pem" "$D/int2.pem" >/dev/null 2>&1 \
   && [ "$(openssl x509 -in "$D/int2.pem" -noout -pubkey)" != "$(openssl x509 -in "$D/int1.pem" -noout -pubkey)" ] \
   && openssl x509 -in "$D/int2.pem" -noout -ext basicConstraints | grep -q 'CA:TRUE, pathlen:0' \
   && openssl verify -CAfile "$D/tsa-root.pem" -purpose timestampsign <(awk '/BEGIN/{n++} n==1' "$D/tsa-chain2.pem") >/dev/null 2>&1; then
  t_ok "createca --existing-root: intermediate 2 (a new key in the token) under the root in service, TSA certificate 2 under the TSA root (openssl verify)"
else
  t_bad "new certificates: $(openssl verify -CAfile "$D/root.pem" "$D/int2.pem" 2>&1)"
fi
LOG2_START=$(rfc3339 $(($(date +%s) - 5)))
CT_ORIGIN=rot.test/log2 ct_start ct2 "$T_TMP/log2/storage" "$D/root.pem" "$T_TMP/log2/log.key" \
  --ext-key-usages CodeSigning --batch-max-age 100ms || fatal "fulcrum ctlog (log 2) did not start"
t_ok "a new log shard: fulcrum ctlog at $ct2_URL, its own key and origin rot.test/log2"
# The overlap: old and new entries; the old ones end at T_END.
T_END_S=$(($(date +%s) + 60))
T_END=$(rfc3339 "$T_END_S")
trust2() { # OUT_DIR OLD_CA_END_FIELD
  "$FULCRUM_BIN" trust --ca "url=$CA,certificate-chain=$D/chain.pem$2" --ca "url=$CA,certificate-chain=$D/chain2.pem" \
    --ct-log "url=$ct1_URL,public-key=$T_TMP/log1/log.pub,start-time=$LOG1_START,end-time=$T_END" \
    --ct-log "url=$ct2_URL,public-key=$T_TMP/log2/log.pub,start-time=$LOG2_START" \
    --tsa "url=$tsa_URL,certificate-chain=$D/tsa-chain.pem,end-time=$T_END" \
    --tsa "url=$tsa_URL,certificate-chain=$D/tsa-chain2.pem" "${REKOR_ARGS[@]}" --out-dir "$1"
}
trust2 "$T_TMP/tr2" ",end-time=$T_END" >"$T_TMP/tr2.out" 2>&1 || fatal "fulcrum trust (overlap): $(cat "$T_TMP/tr2.out")"
TR2="$T_TMP/tr2/trusted_root.json"
b64der() { openssl x509 -in "$1" -outform DER | base64 -w0; }
if jq -e --arg i1 "$(b64der "$D/int1.pem")" --arg i2 "$(b64der "$D/int2.pem")" --arg tend "$T_END" '
    (.certificateAuthorities | length == 2)
    and ([.certificateAuthorities[] | select(.certChain.certificates[0].rawBytes == $i1) | .validFor.end] == [$tend])
    and ([.certificateAuthorities[] | select(.certChain.certificates[0].rawBytes == $i2) | .validFor.end] == [null])
    and (.ctlogs | length == 2) and ([.ctlogs[].publicKey.validFor.end] | sort == [null, $tend])
    and (.timestampAuthorities | length == 2) and ([.timestampAuthorities[].validFor.end] | sort == [null, $tend])' "$TR2" >/dev/null; then
  t_ok "trusted root of the overlap: two CA chains, two CT logs, two TSAs; the old ones with validFor.end $T_END"
else
  t_bad "trusted root of the overlap: $(jq -c '[.certificateAuthorities[].validFor, .ctlogs[].publicKey.validFor, .timestampAuthorities[].validFor]' "$TR2")"
fi

# ===== 5. the three switches under load =====
# switch NAME PID LOGFILE PATTERN ACTION...: runs ACTION, sends SIGHUP, waits
# until one more log line matches PATTERN; records the window in switch.NAME.
switch() {
  local name=$1 pid=$2 log=$3 pat=$4 before sent done
  shift 4
  "$@"
  before=$(grep -c -- "$pat" "$log")
  sent=$(now_us)
  kill -HUP "$pid"
  for _ in $(seq 500); do
    [ "$(grep -c -- "$pat" "$log")" -gt "$before" ] && break
    sleep 0.02
  done
  done=$(now_us)
  echo "$sent $done" >"$T_TMP/switch.$name"
  [ "$(grep -c -- "$pat" "$log")" -gt "$before" ]
}
install_ca() {
  cp "$D/chain2.pem" "$D/serve-chain.new" && mv -f "$D/serve-chain.new" "$D/serve-chain.pem"
  cp "$T_TMP/tr2/trusted_root.json" "$T_TMP/live/trusted_root.new" && mv -f "$T_TMP/live/trusted_root.new" "$T_TMP/live/trusted_root.json"
  cp "$T_TMP/tr2/signing_config.json" "$T_TMP/live/signing_config.new" && mv -f "$T_TMP/live/signing_config.new" "$T_TMP/live/signing_config.json"
}
install_ct() {
  printf 'logs:\n  - url: %s\n    public_key_path: %s\n    operator: rot\n' "$ct2_URL" "$T_TMP/log2/log.pub" >"$T_TMP/ct.yaml.new"
  mv -f "$T_TMP/ct.yaml.new" "$T_TMP/ct.yaml"
}
install_tsa() { cp "$D/tsa-chain2.pem" "$D/tsa-live.new" && mv -f "$D/tsa-live.new" "$D/tsa-live.pem"; }

switch ca "$ca_PID" "$T_TMP/ca.serve.log" 'reloaded the CA key and chain' install_ca \
  && grep -q 'pkcs11ca: .*key id "99-int2"' "$T_TMP/ca.serve.log" \
  && t_ok "switch 1: serve SIGHUP, the new intermediate's key (id 99-int2) loaded in the signer" \
  || t_bad "switch 1: $(tail -5 "$T_TMP/ca.serve.log")"
sleep 5
mkdir -p "$T_TMP/snap1"
cp "$T_TMP"/load.*.last "$T_TMP/snap1/" 2>/dev/null
if curl -fsS "$CA/api/v2/trustedRoot" | cmp -s - "$TR2"; then
  t_ok "the same SIGHUP made serve hand out the trusted root of the overlap"
else
  t_bad "GET /api/v2/trustedRoot is not the new file"
fi
switch ct "$ca_PID" "$T_TMP/ca.serve.log" "reloaded the CT logs: $ct2_URL" install_ct \
  && t_ok "switch 2: serve SIGHUP, CT logs now $ct2_URL" \
  || t_bad "switch 2: $(tail -5 "$T_TMP/ca.serve.log")"
sleep 5
switch tsa "$tsa_PID" "$T_TMP/tsa/tsa.log" 'reloaded the key' install_tsa \
  && t_ok "switch 3: tsa SIGHUP, $(grep 'reloaded the key' "$T_TMP/tsa/tsa.log" | tail -1 | sed 's/.*reloaded/reloaded/' | head -c 160)" \
  || t_bad "switch 3: $(tail -5 "$T_TMP/tsa/tsa.log")"
sleep 3
# A reload that does not load keeps what serves, and says why: a chain whose
# key is not in the token, a CT configuration naming a missing key file, a
# TSA chain that is not one; still under load.
mkdir -p "$T_TMP/other"
"$FULCRUM_BIN" createca --file --intermediate --out "$T_TMP/other/chain.pem" --key-out "$T_TMP/other/int.key" \
  --root-key-out "$T_TMP/other/root.key" --org other >/dev/null 2>&1
install_bad() {
  cp "$T_TMP/other/chain.pem" "$D/serve-chain.pem"
  printf 'logs:\n  - url: %s\n    public_key_path: %s\n    operator: rot\n' "$ct2_URL" "$T_TMP/log2/missing.pub" >"$T_TMP/ct.yaml"
  cp "$D/chain2.pem" "$D/tsa-live.pem"
}
install_bad
refused_before=$(grep -c 'reload refused, keeping the current CA' "$T_TMP/ca.serve.log")
switch bad "$ca_PID" "$T_TMP/ca.serve.log" 'CT reload refused, keeping the current logs' true
kill -HUP "$tsa_PID"
sleep 2
if [ "$(grep -c 'reload refused, keeping the current CA' "$T_TMP/ca.serve.log")" -gt "$refused_before" ] \
   && grep -q 'CT reload refused, keeping the current logs: .*missing.pub' "$T_TMP/ca.serve.log" \
   && grep -q 'tsa: SIGHUP: reload refused, still stamping with the current key and chain: ' "$T_TMP/tsa/tsa.log"; then
  t_ok "bad reloads refused, the current CA, logs and TSA key kept: $(grep 'reload refused, keeping the current CA' "$T_TMP/ca.serve.log" | tail -1 | sed 's/.*: reload refused/reload refused/' | head -c 200)"
else
  t_bad "bad reloads: $(grep -hE "refused" "$T_TMP/ca.serve.log" "$T_TMP/tsa/tsa.log" | tail -4 | tr "\n" " ")"
fi
install_ca
install_ct
install_tsa
sleep 3
touch "$T_TMP/load.stop"
wait "${LOAD_PIDS[@]}"
read -r load_after _ </proc/loadavg

# ===== 6. the count =====
cat "$T_TMP"/load.sign.* >"$T_TMP/sign.all"
cat "$T_TMP"/load.tsa.* >"$T_TMP/tsa.all"
count() { # FILE -> "total failed"
  awk '{n++; if ($1 != 200) f++} END {printf "%d %d\n", n, f}' "$1"
}
across() { # FILE SWITCH -> "requests overlapping the switch window, failed among them"
  local sent done
  read -r sent done <"$T_TMP/switch.$2"
  awk -v a="$sent" -v b="$done" '$2 <= b && $3 >= a {n++; if ($1 != 200) f++} END {printf "%d %d\n", n, f}' "$1"
}
read -r sign_n sign_f < <(count "$T_TMP/sign.all")
read -r tsa_n tsa_f < <(count "$T_TMP/tsa.all")
report=""
for sw in ca:sign ct:sign tsa:tsa bad:sign; do
  read -r n f < <(across "$T_TMP/${sw#*:}.all" "${sw%%:*}")
  read -r sent done <"$T_TMP/switch.${sw%%:*}"
  report+=" ${sw%%:*}: $n requests across the switch (${f} failed, reload took $(((done - sent) / 1000)) ms);"
  eval "across_${sw%%:*}=$n fail_${sw%%:*}=$f"
done
echo "# load: $SIGNERS certificate clients ($sign_n requests, $sign_f failed), $STAMPERS timestamp clients ($tsa_n requests, $tsa_f failed); load average ${load_before} before, ${load_after} after"
echo "#${report}"
if [ "$sign_f" -eq 0 ] && [ "$tsa_f" -eq 0 ] && [ "$sign_n" -gt 0 ] && [ "$tsa_n" -gt 0 ] \
   && [ "$across_ca" -gt 0 ] && [ "$across_ct" -gt 0 ] && [ "$across_tsa" -gt 0 ] && [ "$across_bad" -gt 0 ]; then
  t_ok "0 failed requests: $sign_n certificates and $tsa_n timestamps;${report}"
else
  t_bad "failed requests: certificates $sign_f of $sign_n, timestamps $tsa_f of $tsa_n;${report} $(ls "$T_TMP"/load.*.fail.* 2>/dev/null | head -3 | xargs -r cat | head -c 400)"
fi

if grep -q 'signer: key 1 released' "$T_TMP/ca.serve.log"; then
  t_ok "the old intermediate's key was released in the signer once its requests were done"
else
  t_bad "the signer kept key 1: $(grep 'signer: key' "$T_TMP/ca.serve.log" | tail -3)"
fi

# ===== 7. what was issued after the switches =====
leaf_of() { jq -r '.signedCertificateEmbeddedSct.chain.certificates[0]' "$1"; }
check_leaf() { # ANSWER INT_PEM OTHER_INT LOG_PUB -> 0 when it chains to INT only and carries LOG's SCT
  leaf_of "$1" >"$T_TMP/leaf.pem"
  openssl verify -CAfile "$D/root.pem" -untrusted "$2" "$T_TMP/leaf.pem" >/dev/null 2>&1 \
    && ! openssl verify -CAfile "$D/root.pem" -untrusted "$3" "$T_TMP/leaf.pem" >/dev/null 2>&1 \
    && "$PY" "$I/ct-check-sct.py" "$1" --log-key "$4" --sigstore-python --quiet >"$T_TMP/sct.out" 2>&1
}
ok1=0 n1=0
for f in "$T_TMP"/snap1/load.*.last; do
  [ -s "$f" ] || continue
  n1=$((n1 + 1))
  check_leaf "$f" "$D/int2.pem" "$D/int1.pem" "$T_TMP/log1/log.pub" && ok1=$((ok1 + 1))
done
[ "$n1" -gt 0 ] && [ "$ok1" -eq "$n1" ] \
  && t_ok "after switch 1: $n1 certificates of the load chain to intermediate 2, not 1 (openssl verify), SCT of log 1 (cryptography, sigstore-python verify_sct)" \
  || t_bad "after switch 1: $ok1 of $n1 certificates as expected: $(cat "$T_TMP/sct.out" 2>/dev/null | head -c 300)"
ok2=0 n2=0
for f in "$T_TMP"/load.*.last; do
  [ -s "$f" ] || continue
  n2=$((n2 + 1))
  check_leaf "$f" "$D/int2.pem" "$D/int1.pem" "$T_TMP/log2/log.pub" && ok2=$((ok2 + 1))
done
[ "$n2" -gt 0 ] && [ "$ok2" -eq "$n2" ] \
  && t_ok "after switch 2: $n2 certificates of the load chain to intermediate 2 (openssl verify) and carry an SCT of the new log (cryptography, sigstore-python verify_sct)" \
  || t_bad "after switch 2: $ok2 of $n2 certificates as expected: $(cat "$T_TMP/sct.out" 2>/dev/null | head -c 300)"
okt=0 nt=0
for f in "$T_TMP"/tsa.*.last; do
  [ -s "$f" ] || continue
  nt=$((nt + 1))
  openssl ts -verify -in "$f" -queryfile "$T_TMP/q.tsq" -CAfile "$D/tsa-root.pem" \
      -untrusted "$D/tsa-chain2.pem" >/dev/null 2>&1 \
    && openssl ts -reply -in "$f" -text 2>/dev/null | grep -q 'TSA: .*CN *= *rotation TSA 2' \
    && okt=$((okt + 1))
done
[ "$nt" -gt 0 ] && [ "$okt" -eq "$nt" ] \
  && t_ok "after switch 3: $nt timestamps of the load are signed by TSA certificate 2 (openssl ts -verify, its TSA name)" \
  || t_bad "after switch 3: $okt of $nt timestamps as expected: $(openssl ts -reply -in "$T_TMP/tsa.1.last" -text 2>&1 | grep TSA:)"

# ===== 8. bundles before and after, verified with the new trusted root alone =====
if run "$T_TMP/after.out" "$COSIGN" sign-blob "$ART_AFTER" --yes --signing-config "$T_TMP/tr2/signing_config.json" \
    --trusted-root "$TR2" --identity-token "$(token)" --bundle "$T_TMP/after.bundle.json"; then
  t_ok "cosign sign-blob after the rotation"
else
  t_bad "cosign sign-blob (after): $(tail -3 "$T_TMP/after.out")"
fi
if run "$T_TMP/after-py.out" "$SIGSTORE_PY" --trust-config "$T_TMP/tr2/trust_config.json" sign \
    --identity-token "$(token)" --bundle "$T_TMP/after-py.bundle.json" "$ART_AFTER"; then
  t_ok "sigstore-python sign after the rotation"
else
  t_bad "sigstore-python sign (after): $(tail -3 "$T_TMP/after-py.out")"
fi
bundle_leaf() {
  jq -r '.verificationMaterial.certificate.rawBytes // .verificationMaterial.x509CertificateChain.certificates[0].rawBytes' "$1" \
    | base64 -d | openssl x509 -inform DER
}
bundle_leaf "$T_TMP/after.bundle.json" >"$T_TMP/after.leaf.pem" 2>/dev/null
bundle_leaf "$T_TMP/before.bundle.json" >"$T_TMP/before.leaf.pem" 2>/dev/null
openssl verify -CAfile "$D/root.pem" -untrusted "$D/int2.pem" "$T_TMP/after.leaf.pem" >/dev/null 2>&1 \
  && openssl verify -CAfile "$D/root.pem" -untrusted "$D/int1.pem" "$T_TMP/before.leaf.pem" >/dev/null 2>&1 \
  && t_ok "the bundle before holds a certificate of intermediate 1, the one after of intermediate 2 (openssl verify)" \
  || t_bad "bundle certificates: $(openssl verify -CAfile "$D/root.pem" -untrusted "$D/int2.pem" "$T_TMP/after.leaf.pem" 2>&1)"
# verify CLIENT BUNDLE ARTIFACT ROOT TRUST_CONFIG
verify() {
  case $1 in
    cosign) run "$T_TMP/v.out" "$COSIGN" verify-blob "$3" --bundle "$2" --trusted-root "$4" \
              --certificate-identity alice@example.com --certificate-oidc-issuer "$idp_URL" ;;
    python) run "$T_TMP/v.out" "$SIGSTORE_PY" --trust-config "$5" verify identity --bundle "$2" \
              --cert-identity alice@example.com --cert-oidc-issuer "$idp_URL" "$3" ;;
    js) run "$T_TMP/v.out" node "$JS/e2e-verify.mjs" "$2" "$3" "$4" alice@example.com "$idp_URL" ;;
  esac
}
for b in before:"$ART_BEFORE" after:"$ART_AFTER" after-py:"$ART_AFTER"; do
  for client in cosign python js; do
    if verify "$client" "$T_TMP/${b%%:*}.bundle.json" "${b#*:}" "$TR2" "$T_TMP/tr2/trust_config.json"; then
      t_ok "bundle ${b%%:*}: verified by $client with the overlap's trusted root alone: $(last_line "$T_TMP/v.out")"
    else
      t_bad "bundle ${b%%:*}: refused by $client: $(tail -3 "$T_TMP/v.out")"
    fi
  done
done

# ===== 9. the old intermediate after its validFor.end =====
wait_s=$((T_END_S - $(date +%s) + 2))
if [ "$wait_s" -gt 0 ]; then echo "# waiting ${wait_s} s for the old entries' end ($T_END)"; sleep "$wait_s"; fi
ca2_port=$(t_free_port)
CA2="http://127.0.0.1:$ca2_port"
"$FULCRUM_BIN" serve --host 127.0.0.1 --port "$ca2_port" --metrics-port 0 --ca pkcs11ca \
  --pkcs11-uri "$TOKEN_URI" --pkcs11-pin-file "$D/user-pin" --hsm-chain "$D/chain.pem" \
  --config-path "$T_TMP/config.json" --ct-log-url "$ct2_URL" --ct-log-public-key-path "$T_TMP/log2/log.pub" \
  --journal-dir "$T_TMP/ca2.journal" >"$T_TMP/ca2.serve.log" 2>&1 &
T_PIDS+=($!)
e2e_wait_url "$!" "$CA2/readyz" 30 "$T_TMP/ca2.serve.log" || t_bad "second fulcrum serve did not start"
"$FULCRUM_BIN" trust --ca "url=$CA2,certificate-chain=$D/chain.pem" \
  --ct-log "url=$ct2_URL,public-key=$T_TMP/log2/log.pub,start-time=$LOG2_START" \
  --tsa "url=$tsa_URL,certificate-chain=$D/tsa-chain2.pem" "${REKOR_ARGS[@]}" \
  --out-dir "$T_TMP/tr-old" >"$T_TMP/tr-old.out" 2>&1 || t_bad "fulcrum trust (old CA): $(cat "$T_TMP/tr-old.out")"
trust2 "$T_TMP/tr2-noend" "" >"$T_TMP/tr2-noend.out" 2>&1 || t_bad "fulcrum trust (control): $(cat "$T_TMP/tr2-noend.out")"
LB="$T_TMP/late.bundle.json"
if run "$T_TMP/late.out" "$COSIGN" sign-blob "$ART_LATE" --yes --signing-config "$T_TMP/tr-old/signing_config.json" \
    --trusted-root "$T_TMP/tr-old/trusted_root.json" --identity-token "$(token)" --bundle "$LB" \
   && bundle_leaf "$LB" >"$T_TMP/late.leaf.pem" 2>/dev/null \
   && openssl verify -CAfile "$D/root.pem" -untrusted "$D/int1.pem" "$T_TMP/late.leaf.pem" >/dev/null 2>&1; then
  t_ok "a bundle signed after $T_END through a serve still on intermediate 1 (openssl verify: it chains to it)"
  for client in cosign js; do
    if verify "$client" "$LB" "$ART_LATE" "$T_TMP/tr2-noend/trusted_root.json" "$T_TMP/tr2-noend/trust_config.json"; then
      t_ok "control: without the old CA's validFor.end $client verifies it: $(last_line "$T_TMP/v.out")"
    else
      t_bad "control: $client refuses it even without the end: $(tail -3 "$T_TMP/v.out")"
    fi
    if verify "$client" "$LB" "$ART_LATE" "$TR2" "$T_TMP/tr2/trust_config.json"; then
      t_bad "the old intermediate after its validFor.end: $client accepted it: $(last_line "$T_TMP/v.out")"
    else
      t_ok "the old intermediate after its validFor.end: refused by $client: $(grep -v '^\s*$' "$T_TMP/v.out" | grep -iE 'error|fail|certificate|authority' | head -1 | head -c 200)"
    fi
  done
  if verify python "$LB" "$ART_LATE" "$TR2" "$T_TMP/tr2/trust_config.json"; then
    echo "# note: sigstore-python 4.5.1 accepts it: it checks a CA's validFor.start but not its end (TrustedRoot.get_fulcio_certs)"
  else
    t_ok "the old intermediate after its validFor.end: refused by sigstore-python: $(last_line "$T_TMP/v.out")"
  fi
else
  t_bad "the late bundle: $(tail -3 "$T_TMP/late.out")"
fi

# ===== 10. clean stop, nothing leaked =====
bad_stop=""
for pid in "$ca_PID" "$tsa_PID" "$ct1_PID" "$ct2_PID"; do
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then bad_stop+=" $pid:still-running"
  else wait "$pid"; rc=$?; [ "$rc" -eq 0 ] || bad_stop+=" $pid:exit-$rc"; fi
done
san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T_TMP"/*.log "$T_TMP"/*/*.log 2>/dev/null)
if [ -z "$bad_stop" ] && [ -z "$san" ]; then
  t_ok "serve, tsa and both logs stopped on SIGTERM with exit 0, no sanitizer report"
else
  t_bad "stop:$bad_stop; sanitizer reports in: $san $(cat $san 2>/dev/null | head -20)"
fi
t_done
