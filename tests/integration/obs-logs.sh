#!/usr/bin/env bash
# fulcrum serve's logs. With --log_type prod (and -v, for the per-request
# lines) every line it writes from start to stop -- start-up, requests,
# refusals, issuance, stop -- is one JSON object with Fulcio's keys
# (severity, ts, caller, message); each issued certificate has one audit line
# whose serial is the one openssl reads in the certificate the client got,
# with its SAN, issuer, token id (jti or a hash prefix), the SHA-256 of the
# client's key (the certificate's SubjectPublicKeyInfo) and the SCT's log id
# and leaf index (those of the SCT embedded in the certificate, read with
# pyca/cryptography, and the CT log's key); no line holds the token, the
# client's private key or the HSM PIN. Refusal lines stay bounded under a flood. The server runs as
# in production: CA key in SoftHSM2 (pkcs11ca), fulcrum ctlog as its CT log,
# rate limits on; its /metrics (CT and rate-limit families included) is valid
# exposition text. Then the default dev format: human lines, a newline sent
# in a path cannot start a line of its own, the same audit fields in words.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/hsm-lib.sh"
. "$here/ctlog-lib.sh"
PY=${FULCRUM_DEPS:-$here/../../.deps}/venv/bin/python
PT=("$PY" "$here/../tools/promtext.py")
for tool in jq curl openssl python3; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
"$PY" -c 'import cryptography, prometheus_client' 2>/dev/null \
  || t_skip "the test venv (cryptography, prometheus_client) is not installed (tests/tools/install-interop.sh)"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- a CA in SoftHSM2, a CT log trusting its root, an issuer ---
hsm_init fulcio
conf="$T_TMP/crypto11.json"
crypto11_conf "$conf" fulcio
"$FULCRUM_BIN" createca --pkcs11-config-path "$conf" --hsm-caroot-id 99 --org "fulcrum logs" \
  --common-name "fulcrum logs root" --out "$T_TMP/chain.pem" >"$T_TMP/createca.log" 2>&1 \
  || { t_bad "createca: $(cat "$T_TMP/createca.log")"; t_done; exit 1; }
mkdir -p "$T_TMP/ct/storage"
openssl ecparam -name prime256v1 -genkey -noout -out "$T_TMP/ct/log.key" 2>/dev/null
openssl ec -in "$T_TMP/ct/log.key" -pubout -out "$T_TMP/ct/log.pub" 2>/dev/null
ct_start ct "$T_TMP/ct/storage" "$T_TMP/chain.pem" "$T_TMP/ct/log.key" --batch-max-age 250ms \
  || { t_bad "fulcrum ctlog did not start"; t_done; exit 1; }
log_id=$(openssl pkey -pubin -in "$T_TMP/ct/log.pub" -outform DER | openssl dgst -sha256 -binary | base64 -w0)
issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
printf 'default:\n  identity: {rate: 100/second, burst: 100}\n' >"$T_TMP/ratelimit.yaml"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
key_sha=$(openssl pkey -in "$T_TMP/client.pem" -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
tok_a=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}')
tok_b=$(mint "$idp_URL" '{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true,"jti":"obs-jti-1"}}')

MP=$(t_free_port)
export FULCRUM_PKCS11_PIN="$USER_PIN"
serve_start ca --ca pkcs11ca --pkcs11-config-path "$conf" --hsm-caroot-id 99 --config-path "$cfg" \
  --ct-log-url "$ct_URL" --ct-log-public-key-path "$T_TMP/ct/log.pub" \
  --rate-limit-config "$T_TMP/ratelimit.yaml" --metrics-port "$MP" --log_type prod -v \
  || { t_bad "fulcrum serve did not start: $(tail -5 "$T_TMP/ca.serve.log")"; t_done; exit 1; }
unset FULCRUM_PKCS11_PIN
LOG="$T_TMP/ca.serve.log"

# --- requests of every kind ---
http GET "$ca_URL/healthz"
http GET "$ca_URL/no/such%0Apath"
http POST "$ca_URL/api/v2/signingCert" "$(v2_body not-a-jwt "$T_TMP/client.pem" alice@example.com)"
[ "$H_STATUS" = 400 ] && t_ok "a bad token is refused (400)" || t_bad "bad token: $H_STATUS $H_BODY"
http POST "$ca_URL/api/v2/signingCert" "$(v2_body "$tok_a" "$T_TMP/client.pem" alice@example.com)"
jq -r '.signedCertificateEmbeddedSct.chain.certificates[0]' <<<"$H_BODY" >"$T_TMP/leaf-v2.pem"
[ "$H_STATUS" = 200 ] && openssl x509 -in "$T_TMP/leaf-v2.pem" -noout 2>/dev/null \
  && t_ok "v2: a certificate with an embedded SCT" || t_bad "v2: $H_STATUS $H_BODY"
v1=$(jq -n --arg k "$(openssl pkey -in "$T_TMP/client.pem" -pubout -outform DER 2>/dev/null | base64 -w0)" \
  --arg p "$(pop_b64 "$T_TMP/client.pem" alice@example.com)" '{publicKey: {content: $k}, signedEmailAddress: $p}')
http POST "$ca_URL/api/v1/signingCert" "$v1" -H "Authorization: Bearer $tok_b"
awk '/BEGIN/{n++} n==1' <<<"$H_BODY" >"$T_TMP/leaf-v1.pem"
[ "$H_STATUS" = 201 ] && openssl x509 -in "$T_TMP/leaf-v1.pem" -noout 2>/dev/null \
  && t_ok "v1: a certificate (201)" || t_bad "v1: $H_STATUS $H_BODY"
# a flood of refusals: bounded lines
t0=$(date +%s.%N)
curl -s -o /dev/null --max-time 30 "$ca_URL/flood/[1-60]"
t1=$(date +%s.%N)
http GET "http://127.0.0.1:$MP/metrics"
printf '%s\n' "$H_BODY" >"$T_TMP/metrics.txt"
if "${PT[@]}" summary "$T_TMP/metrics.txt" >"$T_TMP/metrics.json" 2>"$T_TMP/metrics.err" \
  && jq -e 'has("fulcrum_ct_scts_total") and has("fulcrum_rate_limited_total") and has("fulcio_api_latency")' "$T_TMP/metrics.json" >/dev/null; then
  t_ok "/metrics with CT and rate-limit families is valid exposition text"
else
  t_bad "/metrics: $(cat "$T_TMP/metrics.err") $(jq -c keys "$T_TMP/metrics.json" 2>/dev/null)"
fi
[ "$("${PT[@]}" value "$T_TMP/metrics.txt" fulcrum_ct_scts_total "log=$ct_URL")" = 2 ] \
  && t_ok "fulcrum_ct_scts_total{log=...} 2" || t_bad "CT metrics: $(grep fulcrum_ct_scts "$T_TMP/metrics.txt")"
kill -TERM "$ca_PID"
for _ in $(seq 100); do kill -0 "$ca_PID" 2>/dev/null || break; sleep 0.1; done
wait "$ca_PID"
[ $? = 0 ] && t_ok "fulcrum serve stopped cleanly" || t_bad "fulcrum serve exit status"

# --- every line, the audit lines, the secrets ---
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# the SHA-256 of a certificate's SubjectPublicKeyInfo, in hex
cert_key_sha() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
# the SCTs embedded in a certificate, as JSON: [{"logID": base64, "index":
# the static CT API leaf_index extension (type 0, 5 bytes)}]
cert_scts() {
  "$PY" - "$1" <<'EOF'
import base64, json, sys
from cryptography import x509
cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
out = []
for sct in cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value:
    ext, index = sct.extension_bytes, None
    while len(ext) >= 3:
        typ, n = ext[0], int.from_bytes(ext[1:3], "big")
        if typ == 0 and n == 5:
            index = int.from_bytes(ext[3:8], "big")
        ext = ext[3 + n:]
    out.append({"logID": base64.b64encode(sct.log_id).decode(), "index": index})
print(json.dumps(out))
EOF
}
[ "$(cert_key_sha "$T_TMP/leaf-v2.pem")" = "$key_sha" ] && [ "$(cert_key_sha "$T_TMP/leaf-v1.pem")" = "$key_sha" ] \
  && t_ok "both certificates hold the client's key (SHA-256 $key_sha)" || t_bad "certificate keys"
"$PY" - "$LOG" "$(serial_of "$T_TMP/leaf-v2.pem")" "$(serial_of "$T_TMP/leaf-v1.pem")" "$idp_URL" \
  "$key_sha" "$log_id" "$t0" "$t1" "$(cert_scts "$T_TMP/leaf-v2.pem")" "$(cert_scts "$T_TMP/leaf-v1.pem")" \
  >"$T_TMP/check.out" 2>&1 <<'EOF'
import json, re, sys
log, serial_v2, serial_v1, issuer, key_sha, log_id, t0, t1, scts_v2, scts_v1 = sys.argv[1:]
cert_scts = {"v2": json.loads(scts_v2), "v1": json.loads(scts_v1)}
lines = open(log, encoding="utf-8").read().split("\n")
assert lines[-1] == "", "the log does not end with a newline"
objs, bad = [], 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what)
    bad += not ok
for i, line in enumerate(lines[:-1], 1):
    try:
        o = json.loads(line)
    except ValueError as e:
        check(False, "line %d is not JSON (%s): %r" % (i, e, line[:200]))
        continue
    keys = list(o)[:4]
    good = (keys == ["severity", "ts", "caller", "message"]
            and o["severity"] in ("debug", "info", "warn", "error")
            and isinstance(o["ts"], float) and float(t0) - 600 < o["ts"] < float(t1) + 600
            and re.fullmatch(r"[\w.-]+/[\w.-]+\.c:\d+", o["caller"])
            and isinstance(o["message"], str))
    if not good:
        check(False, "line %d lacks Fulcio's keys: %r" % (i, line[:200]))
    objs.append(o)
check(len(objs) == len(lines) - 1, "all %d lines are JSON objects with severity, ts, caller, message" % len(objs))
msg = lambda pat: [o for o in objs if re.search(pat, o["message"])]
check(len(msg(r"^ca: fulcrum \S+ listening on http at 127\.0\.0\.1:\d+")) == 1, "the start-up line")
check(len(msg(r"^serve: stopping$")) == 1, "the stop line")
reqs = [o for o in msg(r"^api: req=\S+ GET /healthz: 200 in \d+ ms$") if o["severity"] == "debug"]
check(len(reqs) >= 1 and reqs[-1].get("status") == 200 and reqs[-1].get("path") == "/healthz",
      "a debug line per request (-v), with its fields")
nl = [o for o in objs if "/no/such\npath" in json.dumps(o, ensure_ascii=False) or "such\npath" in o["message"]]
check(len(nl) >= 1, "a path with a newline: one line, the newline escaped inside the JSON")
ref = [o for o in msg(r"POST /api/v2/signingCert: 400 There was an error processing the identity token")]
check(len(ref) == 1 and ref[0]["severity"] == "warn" and ref[0].get("code") == "InvalidArgument"
      and ref[0].get("status") == 400 and ref[0].get("requestID")
      and ref[0].get("clientMessage", "").startswith("There was an error processing the identity token"),
      "the refusal: warn, with requestID, code InvalidArgument, clientMessage, status 400")
flood = [o for o in objs if "/flood/" in o["message"] and o["severity"] == "warn"]
secs = float(t1) - float(t0)
check(0 < len(flood) <= 10 * (int(secs) + 2) and len(flood) < 60,
      "60 refusals in %.1f s: %d lines (at most 10 a second)" % (secs, len(flood)))
check(len(msg(r"^api: refusals: \d+ more suppressed")) >= 1, "the suppressed ones are counted in a line")
audit = msg(r"^api: req=\S+ issued serial=")
check(len(audit) == 2, "one audit line per certificate (%d)" % len(audit))
norm = lambda s: s.upper().lstrip("0")
for serial, kind in ((serial_v2, "v2"), (serial_v1, "v1")):
    a = [o for o in audit if norm(o.get("serial", "")) == norm(serial)]
    if not a:
        check(False, "%s: no audit line for serial %s" % (kind, serial))
        continue
    a = a[0]
    check(a["severity"] == "info" and a.get("san") == "alice@example.com" and a.get("issuer") == issuer
          and a.get("issuerType") == "email" and a.get("publicKeySHA256") == key_sha
          and a.get("ttlSeconds") == 600 and a.get("requestID")
          and ("serial=" + a["serial"]) in a["message"],
          "%s: audit line of serial %s: SAN, issuer, key SHA-256, lifetime, request id" % (kind, serial))
    want_tok = (a.get("tokenID") == "obs-jti-1") if kind == "v1" else re.fullmatch(r"sha256:[0-9a-f]{16}", a.get("tokenID", ""))
    check(bool(want_tok), "%s: token id %s (the jti, or a hash prefix)" % (kind, a.get("tokenID")))
    scts = a.get("scts") or []
    check(len(scts) == 1 and scts[0].get("logID") == log_id and isinstance(scts[0].get("index"), int)
          and scts == cert_scts[kind],
          "%s: the SCT's log id and leaf index %s, as in the certificate's SCT %s" % (kind, scts, cert_scts[kind]))
idx = sorted(o["scts"][0]["index"] for o in audit if o.get("scts"))
check(idx == [0, 1], "the log's leaf indexes of the two certificates: %s" % idx)
sys.exit(1 if bad else 0)
EOF
rc=$?
cat "$T_TMP/check.out"
[ "$rc" = 0 ] && t_ok "prod log: every line JSON with Fulcio's keys, the audit lines match the certificates" \
  || t_bad "prod log (above)"
leaks=0
for secret in "$tok_a" "$tok_b" "$USER_PIN" $(grep -v -- '-----' "$T_TMP/client.pem"); do
  grep -qF -- "$secret" "$LOG" && leaks=$((leaks + 1))
done
# a token's signature part alone, too
for secret in "${tok_a##*.}" "${tok_b##*.}"; do grep -qF -- "$secret" "$LOG" && leaks=$((leaks + 1)); done
[ "$leaks" = 0 ] && t_ok "no token, no client private key, no PIN in any line" || t_bad "$leaks secrets found in the log"
sanitizer_clean() { ! grep -Eq 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$1"; }

# --- the dev format (the default) ---
serve_start dev --ca ephemeralca --config-path "$cfg" \
  || { t_bad "fulcrum serve (dev) did not start"; t_done; exit 1; }
curl -sg -o /dev/null --max-time 10 "$dev_URL/a%0Afulcrum[crit]:%20forged"
http POST "$dev_URL/api/v2/signingCert" "$(v2_body "$tok_a" "$T_TMP/client.pem" alice@example.com)"
jq -r '.signedCertificateDetachedSct.chain.certificates[0]' <<<"$H_BODY" >"$T_TMP/leaf-dev.pem"
kill -TERM "$dev_PID"
for _ in $(seq 100); do kill -0 "$dev_PID" 2>/dev/null || break; sleep 0.1; done
wait "$dev_PID"
DLOG="$T_TMP/dev.serve.log"
[ "$(grep -cv '^fulcrum\[[a-z]*\]: ' "$DLOG")" = 0 ] && ! grep -q '^fulcrum\[crit\]: forged' "$DLOG" \
  && grep -qF '/a\x0afulcrum[crit]: forged' "$DLOG" \
  && t_ok "dev: every line is fulcrum[level]: ..., a newline in a path is escaped (\\x0a)" \
  || t_bad "dev lines: $(grep -v '^fulcrum\[[a-z]*\]: ' "$DLOG" | head -3)"
grep -qE "^fulcrum\[info\]: api: req=[0-9a-f]+ issued serial=$(serial_of "$T_TMP/leaf-dev.pem") san=alice@example.com issuer=$idp_URL token=sha256:[0-9a-f]{16} key=sha256:$key_sha ttl=600s$" "$DLOG" \
  && t_ok "dev: the audit line in words, with the certificate's serial" \
  || t_bad "dev audit line: $(grep 'issued' "$DLOG")"
! grep -q '^{' "$DLOG" && t_ok "dev: no JSON" || t_bad "dev: JSON lines"
grep -qF -- "$tok_a" "$DLOG" && t_bad "dev: the token is in the log" || t_ok "dev: no token in the log"
for f in "$LOG" "$DLOG"; do
  sanitizer_clean "$f" || t_bad "sanitizer report in $(basename "$f")"
done
t_done
