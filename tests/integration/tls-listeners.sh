#!/usr/bin/env bash
# TLS on every listener (docs/http.md, "TLS"), with curl and openssl as the
# clients, trusting only a test root (the served chain: leaf, intermediate):
#   * fulcrum serve: the API and its metrics port over HTTPS with the same
#     certificate; a certificate issued over HTTPS; plain HTTP on either
#     port gets no HTTP answer and the server goes on;
#   * versions and ciphers: TLS 1.1 refused (while the same openssl client
#     completes TLS 1.1 with openssl s_server), TLS 1.2 and 1.3 accepted
#     with ECDHE and an AEAD cipher only (a CBC suite refused, while s_server
#     accepts it); --tls-min-version 1.3 refuses a TLS 1.2-only client;
#   * fulcrum ctlog over HTTPS, and fulcrum serve submitting to it over
#     HTTPS (--ct-log-url https://..., --ct-log.tls-ca-cert): the certificate
#     carries the SCT; without --ct-log.tls-ca-cert the log is not trusted
#     and nothing is issued;
#   * fulcrum tsa over HTTPS: a timestamp openssl ts -verify accepts;
#   * start-up refusals (exit 2, the reason on stderr): an encrypted key
#     without its passphrase or with a wrong one, a key of another
#     certificate, a chain out of order, --tls-cert alone, a bad
#     --tls-min-version; an encrypted key with FULCRUM_TLS_KEY_PASSWD
#     serves, and the passphrase is not left in the process's environment;
#   * every server stops with exit 0 and no sanitizer report.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/tls-lib.sh"
. "$here/tsa-lib.sh"
. "$here/../interop/ct-lib.sh"

for tool in curl openssl jq python3; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done

P="$T_TMP/pki"
tls_make_pki "$P" || { t_bad "cannot make the test PKI"; t_done; exit 1; }
ROOT="$P/root.pem"
issuer_start idp
CFG="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$CFG"
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/p256.pem" 2>/dev/null
v2_body "$tok" "$T_TMP/p256.pem" alice@example.com >"$T_TMP/body.json"
serial_a=$(tls_serial_of "$P/a.pem")

# ===== 1. fulcrum serve: API and metrics over HTTPS =====
mport=$(t_free_port)
tls_start ca /healthz "$ROOT" serve --host 127.0.0.1 --port 0 --metrics-port "$mport" \
  --ct-log-url "" --ca ephemeralca --config-path "$CFG" \
  --tls-cert "$P/a.chain.pem" --tls-key "$P/a.key" \
  || { t_bad "fulcrum serve with TLS did not start"; t_done; exit 1; }
t_ok "fulcrum serve --tls-cert up at $ca_URL (curl trusts only the test root)"
if grep -q "httpd: tls: serving certificate serial=$serial_a .*TLS 1.2 minimum" "$T_TMP/ca.log"; then
  t_ok "the log names the served certificate: $(grep -o 'serial=[0-9a-f]*' "$T_TMP/ca.log" | head -1)"
else
  t_bad "no 'serving certificate serial=$serial_a' line: $(head -5 "$T_TMP/ca.log")"
fi
got=$(tls_served_serial "127.0.0.1:$ca_PORT")
n=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$ca_PORT" -showcerts 2>/dev/null | grep -c 'BEGIN CERTIFICATE')
[ "$got" = "$serial_a" ] && [ "$n" = 2 ] \
  && t_ok "API: serves leaf a (serial $got) and the intermediate ($n certificates)" \
  || t_bad "API: served serial '$got' ($n certificates), want $serial_a and 2"
if curl -fsS --max-time 10 --cacert "$ROOT" "https://localhost:$mport/metrics" | grep -q '^# TYPE'; then
  t_ok "metrics port over HTTPS with the same certificate: serial $(tls_served_serial "127.0.0.1:$mport")"
else
  t_bad "GET https://localhost:$mport/metrics failed"
fi
[ "$(tls_served_serial "127.0.0.1:$mport")" = "$serial_a" ] || t_bad "metrics port serves another certificate"
http POST "$ca_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")" --cacert "$ROOT"
if [ "$H_STATUS" = 200 ] && jq -e '.signedCertificateDetachedSct.chain.certificates | length == 2' >/dev/null <<<"$H_BODY"; then
  t_ok "POST /api/v2/signingCert over HTTPS: 200, a chain of 2"
else
  t_bad "signingCert over HTTPS: $H_STATUS $(head -c 300 <<<"$H_BODY")"
fi
for port in "$ca_PORT" "$mport"; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/healthz" 2>/dev/null)
  if [ "$code" = 000 ] && curl -fsS -o /dev/null --max-time 10 --cacert "$ROOT" "https://localhost:$port/healthz"; then
    t_ok "plain HTTP to the TLS port $port: no HTTP answer (curl: $code); HTTPS still served"
  else
    t_bad "plain HTTP to the TLS port $port answered $code"
  fi
done

# ===== 2. versions and ciphers =====
sport=$(t_free_port)
OPENSSL_CONF=/dev/null openssl s_server -accept "127.0.0.1:$sport" -cert "$P/a.pem" -key "$P/a.key" \
  -cipher 'ALL:@SECLEVEL=0' -quiet >"$T_TMP/s_server.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$sport") 2>/dev/null && break; sleep 0.1; done
legacy=(-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
if ! tls_handshake "127.0.0.1:$sport" "${legacy[@]}"; then
  t_bad "control: openssl s_client -tls1_1 cannot complete TLS 1.1 even with openssl s_server: $(tail -3 "$T_TMP/s_client.out")"
elif tls_handshake "127.0.0.1:$ca_PORT" "${legacy[@]}"; then
  t_bad "TLS 1.1 accepted: $(grep -E 'Protocol|Cipher is' "$T_TMP/s_client.out" | head -2)"
else
  t_ok "TLS 1.1 refused (the same client completes TLS 1.1 with openssl s_server)"
fi
cbc=(-tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA')
if ! tls_handshake "127.0.0.1:$sport" "${cbc[@]}"; then
  t_bad "control: a CBC suite fails with openssl s_server too: $(tail -3 "$T_TMP/s_client.out")"
elif tls_handshake "127.0.0.1:$ca_PORT" "${cbc[@]}"; then
  t_bad "a CBC suite accepted: $(grep 'Cipher is' "$T_TMP/s_client.out")"
else
  t_ok "TLS 1.2 with a CBC suite (ECDHE-ECDSA-AES128-SHA) refused (s_server accepts it)"
fi
for v in tls1_2 tls1_3; do
  if tls_handshake "127.0.0.1:$ca_PORT" "-$v" && c=$(grep -m1 -o 'Cipher is .*' "$T_TMP/s_client.out") \
     && grep -Eq 'Cipher is (ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)|TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256))$' "$T_TMP/s_client.out"; then
    t_ok "-$v accepted: $c"
  else
    t_bad "-$v: $(grep -E 'Cipher is|alert|error' "$T_TMP/s_client.out" | head -3)"
  fi
done
tls_start ca13 /healthz "$ROOT" serve --host 127.0.0.1 --port 0 --metrics-port 0 \
  --ct-log-url "" --ca ephemeralca --config-path "$CFG" \
  --tls-cert "$P/c.chain.pem" --tls-key "$P/c.key" --tls-min-version 1.3 \
  || t_bad "fulcrum serve --tls-min-version 1.3 did not start"
if tls_handshake "127.0.0.1:$ca13_PORT" -tls1_2; then
  t_bad "--tls-min-version 1.3: a TLS 1.2-only client got in: $(grep 'Cipher is' "$T_TMP/s_client.out")"
elif tls_handshake "127.0.0.1:$ca13_PORT" -tls1_3; then
  t_ok "--tls-min-version 1.3 (P-384 leaf): openssl s_client -tls1_2 refused, -tls1_3 accepted ($(grep -m1 -o 'Cipher is .*' "$T_TMP/s_client.out"))"
else
  t_bad "--tls-min-version 1.3: -tls1_3 refused too: $(tail -3 "$T_TMP/s_client.out")"
fi
tls_stop "$ca13_PID" && t_ok "fulcrum serve --tls-min-version 1.3 stopped, exit 0" \
  || t_bad "fulcrum serve --tls-min-version 1.3: exit status $?"

# ===== 3. fulcrum ctlog over HTTPS; fulcrum serve submits to it over HTTPS =====
ct_make_ca "$T_TMP/ca" 2>/dev/null || { t_bad "cannot make the fileca CA"; t_done; exit 1; }
ct_log_key "$T_TMP/log" || { t_bad "cannot make a log key"; t_done; exit 1; }
mkdir -p "$T_TMP/log/storage"
tls_start log /healthz "$ROOT" ctlog --listen 127.0.0.1:0 --storage-dir "$T_TMP/log/storage" \
  --roots "$T_TMP/ca/root.pem" --private-key "$T_TMP/log/log.key" --origin localhost/tls-test \
  --ext-key-usages CodeSigning --batch-max-age 100ms \
  --tls-cert "$P/b.chain.pem" --tls-key "$P/b.key" \
  || { t_bad "fulcrum ctlog with TLS did not start"; t_done; exit 1; }
if curl -fsS --max-time 10 --cacert "$ROOT" "$log_URL/ct/v1/get-roots" | jq -e '.certificates | length == 1' >/dev/null \
   && [ "$(tls_served_serial "127.0.0.1:$log_PORT")" = "$(tls_serial_of "$P/b.pem")" ]; then
  t_ok "fulcrum ctlog over HTTPS (RSA leaf b): GET /ct/v1/get-roots"
else
  t_bad "fulcrum ctlog: GET $log_URL/ct/v1/get-roots over HTTPS failed"
fi
fileca=(--ca fileca --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" --fileca-watch false
  --config-path "$CFG" --ct-log-url "$log_URL" --ct-log-public-key-path "$T_TMP/log/log.pub" --ct-log-timeout 10s)
tls_start cact /healthz "$ROOT" serve --host 127.0.0.1 --port 0 --metrics-port 0 "${fileca[@]}" \
  --ct-log.tls-ca-cert "$ROOT" --tls-cert "$P/a.chain.pem" --tls-key "$P/a.key" \
  || { t_bad "fulcrum serve with CT over HTTPS did not start"; t_done; exit 1; }
http POST "$cact_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")" --cacert "$ROOT"
leaf=$(jq -r '.signedCertificateEmbeddedSct.chain.certificates[0] // empty' <<<"$H_BODY")
if [ "$H_STATUS" = 200 ] && [ -n "$leaf" ] \
   && printf '%s\n' "$leaf" | openssl x509 -noout -text 2>/dev/null | grep -q 'CT Precertificate SCTs'; then
  t_ok "fulcrum serve -> fulcrum ctlog over HTTPS (--ct-log.tls-ca-cert): 200, the leaf embeds the SCT"
else
  t_bad "issuance with CT over HTTPS: $H_STATUS $(head -c 300 <<<"$H_BODY"); $(tail -3 "$T_TMP/cact.log")"
fi
size=$(curl -fsS --max-time 10 --cacert "$ROOT" "$log_URL/checkpoint" | sed -n 2p)
[ "${size:-0}" -ge 1 ] && t_ok "the log's checkpoint over HTTPS: tree size $size" \
  || t_bad "checkpoint over HTTPS: size '$size'"
tls_start cactbad /healthz "$ROOT" serve --host 127.0.0.1 --port 0 --metrics-port 0 "${fileca[@]}" \
  --tls-cert "$P/a.chain.pem" --tls-key "$P/a.key" \
  || t_bad "fulcrum serve (log not trusted) did not start"
http POST "$cactbad_URL/api/v2/signingCert" "$(cat "$T_TMP/body.json")" --cacert "$ROOT"
if [ "$H_STATUS" != 200 ] && [ "$(curl -fsS --max-time 10 --cacert "$ROOT" "$log_URL/checkpoint" | sed -n 2p)" = "$size" ]; then
  t_ok "without --ct-log.tls-ca-cert the log's certificate is not trusted: $H_STATUS, nothing logged or issued"
else
  t_bad "log not trusted, yet: $H_STATUS $(head -c 200 <<<"$H_BODY")"
fi
for n in cact cactbad; do
  pid_var="${n}_PID"
  tls_stop "${!pid_var}" || t_bad "fulcrum serve ($n): exit status $?"
done

# ===== 4. fulcrum tsa over HTTPS =====
tsa_make_chain "$T_TMP/tsa" || { t_bad "cannot make a TSA chain"; t_done; exit 1; }
tls_start tsa /ping "$ROOT" tsa --listen 127.0.0.1:0 --certificate-chain "$T_TMP/tsa/chain.pem" \
  --private-key "$T_TMP/tsa/tsa.key" --no-clock-check --tls-cert "$P/c.chain.pem" --tls-key "$P/c.key" \
  || { t_bad "fulcrum tsa with TLS did not start"; t_done; exit 1; }
printf 'data stamped over HTTPS\n' >"$T_TMP/data.txt"
openssl ts -query -data "$T_TMP/data.txt" -sha256 -cert -out "$T_TMP/q.tsq" 2>/dev/null
code=$(curl -sS -o "$T_TMP/r.tsr" -w '%{http_code}' --max-time 10 --cacert "$ROOT" \
  -H 'Content-Type: application/timestamp-query' --data-binary @"$T_TMP/q.tsq" "$tsa_URL/api/v1/timestamp")
if [ "$code" = 200 ] && out=$(openssl ts -verify -in "$T_TMP/r.tsr" -queryfile "$T_TMP/q.tsq" \
    -CAfile "$T_TMP/tsa/root.pem" 2>&1) && grep -q '^Verification: OK' <<<"$out"; then
  t_ok "fulcrum tsa over HTTPS (P-384 leaf c): 200, openssl ts -verify OK"
else
  t_bad "fulcrum tsa over HTTPS: $code $out"
fi
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$tsa_PORT/ping" 2>/dev/null)
[ "$code" = 000 ] && t_ok "fulcrum tsa: plain HTTP gets no HTTP answer" || t_bad "fulcrum tsa: plain HTTP answered $code"

# ===== 5. start-up refusals; an encrypted key =====
# refused DESC REGEX ENV... -- FLAGS...: fulcrum serve exits 2 with REGEX on stderr.
refused() {
  local desc=$1 re=$2 envs=() rc
  shift 2
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" timeout 20 "$FULCRUM_BIN" serve --host 127.0.0.1 --port 0 --metrics-port 0 --ct-log-url "" \
    --journal-dir "$T_TMP/refused.journal" --ca ephemeralca --config-path "$CFG" "$@" >"$T_TMP/refused.out" 2>&1
  rc=$?
  if [ "$rc" = 2 ] && grep -Eq -- "$re" "$T_TMP/refused.out"; then
    t_ok "$desc: exit 2: $(grep -E -m1 -- "$re" "$T_TMP/refused.out")"
  else
    t_bad "$desc: exit $rc: $(head -c 400 "$T_TMP/refused.out") (want /$re/)"
  fi
}
cat "$P/int.pem" "$P/a.pem" >"$P/a.reversed.pem"
refused "encrypted key without its passphrase" 'the key is encrypted: give its passphrase in FULCRUM_TLS_KEY_PASSWD' \
  -- --tls-cert "$P/a.chain.pem" --tls-key "$P/a.enc.key"
refused "encrypted key, wrong passphrase" 'cannot decrypt it' FULCRUM_TLS_KEY_PASSWD=wrong \
  -- --tls-cert "$P/a.chain.pem" --tls-key "$P/a.enc.key"
refused "the key of another certificate" 'does not match the certificate' \
  -- --tls-cert "$P/a.chain.pem" --tls-key "$P/b.key"
refused "a chain out of order" 'the chain is not in order' \
  -- --tls-cert "$P/a.reversed.pem" --tls-key "$P/a.key"
refused "--tls-cert alone" 'tls-cert and --tls-key go together' -- --tls-cert "$P/a.chain.pem"
refused "--tls-min-version 1.1" 'bad value "1.1" for --tls-min-version' \
  -- --tls-cert "$P/a.chain.pem" --tls-key "$P/a.key" --tls-min-version 1.1
refused "a missing certificate file" 'tls-cert .*nonexistent' -- --tls-cert "$T_TMP/nonexistent.pem" --tls-key "$P/a.key"
FULCRUM_TLS_KEY_PASSWD="tls test passphrase" tls_start enc /healthz "$ROOT" serve --host 127.0.0.1 --port 0 \
  --metrics-port 0 --ct-log-url "" --ca ephemeralca --config-path "$CFG" \
  --tls-cert "$P/a.chain.pem" --tls-key "$P/a.enc.key" \
  || t_bad "fulcrum serve with an encrypted key did not start"
# every process of the service: the network process, the supervisor and
# the signer process (they may be unreadable for a moment while starting)
tree() {
  local todo=("$1") p
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    echo "$p"
    # shellcheck disable=SC2207
    todo+=($(cat /proc/"$p"/task/*/children 2>/dev/null))
  done
}
leaks=""
if [ -n "${enc_PID:-}" ]; then
  procs=$(tree "$enc_PID" | tr '\n' ' ')
  for p in $procs; do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q 'tls test passphrase' && leaks="$leaks $p"
  done
fi
if [ -n "${enc_PID:-}" ] && [ "$(tls_served_serial "127.0.0.1:$enc_PORT")" = "$serial_a" ] && [ -z "$leaks" ]; then
  t_ok "encrypted key with FULCRUM_TLS_KEY_PASSWD: serves leaf a; the passphrase is in the /proc/PID/environ of none of the service's processes ($procs)"
else
  t_bad "encrypted key: served '$(tls_served_serial "127.0.0.1:${enc_PORT:-0}")', the passphrase in the environment of:${leaks:- -}"
fi

# ===== 6. clean stops =====
for n in ca enc log tsa; do
  pid_var="${n}_PID"
  if tls_stop "${!pid_var}" && tls_sanitizer_clean "$T_TMP/$n.log"; then
    t_ok "$n stopped: exit 0, no sanitizer report"
  else
    t_bad "$n: exit status or sanitizer report: $(grep -E -m3 'ERROR|runtime error' "$T_TMP/$n.log")"
  fi
done
t_done
