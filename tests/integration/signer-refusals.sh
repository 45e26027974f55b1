#!/usr/bin/env bash
# The signer process checks what it signs. tests/tools/signer_probe takes
# the place of a compromised network process: it stops `fulcrum serve`'s
# network process, takes a copy of its end of the signer socket and sends
# hand-made TBS certificates, one per rule of the leaf profile broken (and
# with a CT log the precertificate / final certificate rules): each must be
# refused with its reason, logged at LOG_CRIT and counted on /metrics,
# while a valid one is signed and its serial then refused. A fileca key
# file that others can read is refused unless it is encrypted.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"
: "${FULCRUM_SIGNER_PROBE:?FULCRUM_SIGNER_PROBE must name the signer_probe test tool}"
[ "$(id -u)" = 0 ] || t_skip "the probe needs root (pidfd_getfd of another user's process)"

# make_ca DIR: a P-256 root and intermediate (openssl); the intermediate's
# key unencrypted, mode 0600.
make_ca() {
  local d=$1
  mkdir -p "$d"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/root.key" 2>/dev/null
  openssl req -new -x509 -key "$d/root.key" -subj "/O=fulcrum test/CN=Probe Root" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:1" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$d/root.pem" 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/int.key" 2>/dev/null
  openssl req -new -key "$d/int.key" -subj "/O=fulcrum test/CN=Probe Intermediate" -out "$d/int.csr"
  printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$d/int.ext"
  openssl x509 -req -in "$d/int.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -CAcreateserial -days 20 \
    -extfile "$d/int.ext" -out "$d/int.pem" 2>/dev/null
  cat "$d/int.pem" "$d/root.pem" >"$d/chain.pem"
}
make_ca "$T_TMP/ca"
issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
body=$(v2_body "$tok" "$T_TMP/client.pem" alice@example.com)

# --- a key file others can read
chmod 644 "$T_TMP/ca/int.key"
out=$(timeout 20 "$FULCRUM_BIN" serve --host 127.0.0.1 --port 0 --metrics-port 0 --ct-log-url "" \
  --journal-dir "$T_TMP/refused.journal" --config-path "$cfg" --ca fileca \
  --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" 2>&1)
rc=$?
[ "$rc" = 2 ] && grep -q 'can be read by others (mode 644)' <<<"$out" \
  && t_ok "fileca refuses a key file of mode 0644: $(grep -o 'fileca: key file.*' <<<"$out" | head -c 160)" \
  || t_bad "mode 0644 key: rc=$rc $out"
openssl pkcs8 -topk8 -in "$T_TMP/ca/int.key" -passout pass:probe-pass -v2 aes-256-cbc -out "$T_TMP/ca/enc.key"
chmod 644 "$T_TMP/ca/enc.key"
chmod 600 "$T_TMP/ca/int.key"
serve_start enc --ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca/chain.pem" \
  --fileca-key "$T_TMP/ca/enc.key" --fileca-key-passwd probe-pass --fileca-watch false \
  && t_ok "an encrypted key file of mode 0644 is accepted with its passphrase" \
  || t_bad "encrypted 0644 key: $(cat "$T_TMP/enc.serve.log")"

# probe NAME ARGS...: run the probe against NAME's network process.
probe() {
  local name=$1 pid_var="$1_PID"
  shift
  "$FULCRUM_SIGNER_PROBE" --pid "${!pid_var}" "$@" >"$T_TMP/probe.out" 2>&1
  PROBE_RC=$?
  sed 's/^/#   /' "$T_TMP/probe.out"
}

# --- without a CT log: every rule, over the socket
mport=$(t_free_port)
serve_start ca --ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca/chain.pem" \
  --fileca-key "$T_TMP/ca/int.key" --fileca-watch false --metrics-port "$mport" || exit 1
http POST "$ca_URL/api/v2/signingCert" "$body"
[ "$H_STATUS" = 200 ] && t_ok "serve --ca fileca issues through its signer process" || t_bad "issue: $H_STATUS $H_BODY"
probe ca --chain "$T_TMP/ca/chain.pem" --lifetime 600 rules
n_ok=$(grep -c '^ok - ' "$T_TMP/probe.out")
n_rules=$(grep -c ': refused (' "$T_TMP/probe.out")
[ "$PROBE_RC" = 0 ] && [ "$n_rules" -ge 28 ] \
  && t_ok "$n_rules hand-made TBS certificates refused, each with its reason; a valid one signed ($n_ok checks)" \
  || t_bad "probe without CT: rc=$PROBE_RC $(grep '^FAIL' "$T_TMP/probe.out" | head -5)"
crit=$(grep -c 'crit\]: signer: REFUSED to sign' "$T_TMP/ca.serve.log")
[ "$crit" -ge 28 ] && t_ok "each refusal logged at LOG_CRIT ($crit lines)" || t_bad "LOG_CRIT lines: $crit"
metrics=$(curl -fsS --max-time 10 "http://127.0.0.1:$mport/metrics")
for r in ca serial serial_reused issuer validity not_before subject public_key extension criticality \
         key_usage ext_key_usage san authority_key_id subject_key_id sigstore_extension ct token_id kind der; do
  v=$(grep -E "^fulcrum_signer_refusals_total\{reason=\"$r\"\} " <<<"$metrics" | awk '{print $2}')
  [ "${v:-0}" -ge 1 ] || { t_bad "metric reason=$r: ${v:-absent}"; r=; break; }
done
[ -n "$r" ] && t_ok "/metrics: fulcrum_signer_refusals_total counts every reason ($(grep -c '^fulcrum_signer_refusals_total' <<<"$metrics") series)"
http POST "$ca_URL/api/v2/signingCert" "$body"
[ "$H_STATUS" = 200 ] && t_ok "the server issues again once resumed" || t_bad "after the probe: $H_STATUS $H_BODY"

# --- with a CT log: precertificates, and final certificates only for them
ct_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/log.key" 2>/dev/null
  openssl pkey -in "$T_TMP/log.key" -pubout -out "$T_TMP/log.pub"; }
ct_key
serve_start cact --ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca/chain.pem" \
  --fileca-key "$T_TMP/ca/int.key" --fileca-watch false --ct-log-url "http://127.0.0.1:$(t_free_port)" \
  --ct-log-public-key-path "$T_TMP/log.pub" || exit 1
probe cact --chain "$T_TMP/ca/chain.pem" --lifetime 600 --ct rules
grep -q '^ok - its final certificate' "$T_TMP/probe.out" && grep -q '^ok - the final certificate again: refused (ct)' "$T_TMP/probe.out" \
  && [ "$PROBE_RC" = 0 ] \
  && t_ok "with a CT log: every rule refused; a precertificate and then its final certificate signed, once" \
  || t_bad "probe with CT: rc=$PROBE_RC $(grep '^FAIL' "$T_TMP/probe.out" | head -5)"
"$FULCRUM_BIN" journal verify "$T_TMP/cact.journal" >"$T_TMP/verify.out" 2>&1 \
  && grep -q '2 intent(s), 2 outcome(s)' "$T_TMP/verify.out" \
  && t_ok "the journal holds the two signatures and nothing of the refusals: $(tail -1 "$T_TMP/verify.out" | cut -d: -f2-)" \
  || t_bad "journal: $(cat "$T_TMP/verify.out")"
t_done
