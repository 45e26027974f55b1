#!/usr/bin/env bash
# fulcrum tsa with the real Sigstore clients' own timestamp code:
# (a) sigstore-python 4.5.1: its TSA client (DER query with a nonce) and its
#     Verifier's check of a signed timestamp against a trusted root with the
#     TSA chain (tests/interop/tsa-py-verify.py), for both genTime
#     precisions, and refused against another TSA;
# (b) sigstore-js: its TSA client (the JSON form) and @sigstore/verify's
#     RFC 3161 verification, 100 timestamps at millisecond precision
#     (@sigstore/core accepts exactly three fractional digits or none);
# (c) sigstore-js end to end without Rekor: a bundle signed with a
#     certificate from fulcrum serve (fileca, every certificate logged to
#     fulcrum ctlog, SCT embedded) and fulcrum tsa as the only witness,
#     verified by @sigstore/verify's Verifier (ctlogThreshold 1,
#     tlogThreshold 0, timestampThreshold 1) with a trusted root naming the
#     CA, the log and the TSA; refused with another TSA in the root.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/tsa-lib.sh"
repo=$(cd "$here/../.." && pwd)
I="$repo/tests/interop"
JS="$I/js"
. "$here/ctlog-lib.sh"
CTLOG_ORIGIN=$CT_ORIGIN
. "$I/ct-lib.sh"
PY="$CT_DEPS/venv/bin/python"

for tool in jq curl openssl node; do
  command -v "$tool" >/dev/null || t_skip "$tool not installed"
done
[ -f "$JS/node_modules/@sigstore/sign/package.json" ] \
  || t_skip "sigstore-js not installed in $JS/node_modules (run tests/tools/install-interop.sh)"
[ -x "$PY" ] && "$PY" -c 'import sigstore, rfc3161_client' 2>/dev/null \
  || t_skip "sigstore-python not installed in $CT_DEPS/venv (run tests/tools/install-interop.sh)"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# tsa_json CHAIN URL: the {uri, subject, certificates} ct-trusted-root.py reads.
tsa_json() {
  python3 - "$1" "$2" <<'PYEOF'
import base64, json, re, sys
text = open(sys.argv[1]).read()
certs = ["".join(m.split()) for m in re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)]
print(json.dumps({"uri": sys.argv[2] + "/api/v1/timestamp",
                  "subject": {"organization": "fulcrum test", "commonName": "fulcrum tsa"},
                  "certificates": certs}))
PYEOF
}

tsa_make_chain "$T_TMP/tsa" || { t_bad "createca --tsa --file failed"; t_done; exit 1; }
tsa_make_chain "$T_TMP/other" || { t_bad "createca --tsa --file (other) failed"; t_done; exit 1; }
tsa_start s --certificate-chain "$T_TMP/tsa/chain.pem" --private-key "$T_TMP/tsa/tsa.key" --no-clock-check \
  || { t_bad "fulcrum tsa did not start"; t_done; exit 1; }
tsa_start ms --certificate-chain "$T_TMP/tsa/chain.pem" --private-key "$T_TMP/tsa/tsa.key" --no-clock-check \
  --time-precision ms || { t_bad "fulcrum tsa (ms) did not start"; t_done; exit 1; }

# ===== (a) sigstore-python =====
for inst in s ms; do
  url_var="${inst}_URL"
  if out=$("$PY" "$I/tsa-py-verify.py" "${!url_var}" "$T_TMP/tsa/chain.pem" --other-chain "$T_TMP/other/chain.pem" 2>&1); then
    t_ok "sigstore-python ($inst genTime): $(tr '\n' ' ' <<<"$out" | head -c 400)"
  else
    t_bad "sigstore-python ($inst genTime): $out"
  fi
done

# ===== (b) sigstore-js, the TSA alone =====
ct_log_key "$T_TMP/dummyct"
tsa_json "$T_TMP/tsa/chain.pem" "$s_URL" >"$T_TMP/tsa.json"
tsa_json "$T_TMP/other/chain.pem" "$s_URL" >"$T_TMP/other.json"
for w in tsa other; do
  python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/$w/chain.pem" --ca-uri http://127.0.0.1:1 \
    --ct-pub "$T_TMP/dummyct/log.pub" --ct-url http://127.0.0.1:1 --tsa "$T_TMP/$w.json" >"$T_TMP/root-$w.json"
done
for inst in s ms; do
  url_var="${inst}_URL"
  n=20
  [ "$inst" = ms ] && n=100
  if out=$(node "$JS/tsa-verify.mjs" "${!url_var}" "$T_TMP/root-tsa.json" "$n" "$T_TMP/root-other.json" 2>&1); then
    t_ok "sigstore-js TSAClient + verifyRFC3161Timestamp ($inst genTime): $out; refused against another TSA"
  else
    t_bad "sigstore-js ($inst genTime): $out"
  fi
done

# ===== (c) sigstore-js end to end: fulcrum serve + fulcrum ctlog + fulcrum tsa =====
ct_make_ca "$T_TMP/ca" || { t_bad "cannot make the test CA"; t_done; exit 1; }
issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
mkdir -p "$T_TMP/log/storage"
ct_log_key "$T_TMP/log"
CT_ORIGIN=$CTLOG_ORIGIN ct_start log "$T_TMP/log/storage" "$T_TMP/ca/root.pem" "$T_TMP/log/log.key" \
  --ext-key-usages CodeSigning --batch-max-age 250ms || { t_bad "fulcrum ctlog did not start"; t_done; exit 1; }
fulcrum_ct_start ca "$log_URL" "$T_TMP/log/log.pub" --ca fileca --config-path "$cfg" \
  --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" --fileca-watch false \
  --ct-log-timeout 10s || { t_bad "fulcrum serve did not start"; t_done; exit 1; }
curl -fsS --max-time 10 "$ca_URL/api/v2/trustBundle" | jq -r '.chains[0].certificates[] | rtrimstr("\n")' >"$T_TMP/bundle.pem"
alice='{"claims":{"sub":"alice-sub","email":"alice@example.com","email_verified":true}}'
for inst in s ms; do
  url_var="${inst}_URL"
  tok=$(mint "$idp_URL" "$alice")
  if out=$(node "$JS/tsa-sign.mjs" "$ca_URL" "$tok" "${!url_var}" "$T_TMP/js-$inst" 2>&1); then
    t_ok "sigstore-js ($inst genTime): bundle signed with fulcrum tsa as the only witness ($out)"
  else
    t_bad "sigstore-js sign ($inst genTime): $out"
    continue
  fi
  for w in tsa other; do
    python3 "$I/ct-trusted-root.py" --ca-chain "$T_TMP/bundle.pem" --ca-uri "$ca_URL" --ct-pub "$T_TMP/log/log.pub" \
      --ct-url "$log_URL" --tsa "$T_TMP/$w.json" >"$T_TMP/full-$w.json"
  done
  if out=$(node "$JS/ct-verify.mjs" "$T_TMP/js-$inst/bundle.json" "$T_TMP/js-$inst/artifact.txt" "$T_TMP/full-tsa.json" \
      alice@example.com "$idp_URL" 2>&1); then
    t_ok "sigstore-js Verifier (timestampThreshold 1, no Rekor), $inst genTime: $out"
  else
    t_bad "sigstore-js verify ($inst genTime): $out"
  fi
  if out=$(node "$JS/ct-verify.mjs" "$T_TMP/js-$inst/bundle.json" "$T_TMP/js-$inst/artifact.txt" "$T_TMP/full-other.json" 2>&1); then
    t_bad "sigstore-js verified a bundle against a trusted root with another TSA"
  elif grep -q 'TIMESTAMP_ERROR' <<<"$out"; then
    t_ok "sigstore-js with another TSA in the trusted root: $out"
  else
    t_bad "sigstore-js with another TSA: want TIMESTAMP_ERROR, got: $out"
  fi
done
t_done
