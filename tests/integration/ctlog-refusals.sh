#!/usr/bin/env bash
# fulcrum ctlog refuses what it must not log (RFC 6962 4.1/4.2, c2sp.org/
# static-ct-api): each case gets a 400 with a reason, and the tree size
# stays the same. Also: the EKU and NotAfter filters, method and body
# limits, and the storage consistency check at start-up.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/ctlog-lib.sh"

command -v openssl >/dev/null || t_skip "openssl is needed"

ca="$T_TMP/ca"
ct_make_ca "$ca"
other="$T_TMP/other"
ct_make_ca "$other"
store="$T_TMP/store"
ct_make_leaf "$ca" good precert
ct_make_leaf "$ca" goodcert cert
ct_make_leaf "$ca" noncrit poison-noncritical
ct_make_leaf "$ca" badvalue poison-value
ct_make_leaf "$other" foreign precert
ct_make_leaf "$ca" byroot precert root

ct_start log "$store" "$ca/root.pem" "$ca/log.key" --batch-max-age 20ms \
  --ext-key-usages CodeSigning,EmailProtection || exit 1
CT_URL=$log_URL

# one accepted entry so that the tree is not empty
ct_submit_one "$ca/good.pem" "$ca/inter.pem"
[ "$H_STATUS" = 200 ] || t_bad "baseline submission: $H_STATUS $H_BODY"
size0=$(ct_tree_size "$CT_URL")

# refuse DESC ENDPOINT BODY REGEX
refuse() {
  local desc=$1 ep=$2 body=$3 re=$4
  http POST "$CT_URL/ct/v1/$ep" "$body"
  if [ "$H_STATUS" = 400 ] && grep -Eq -- "$re" <<<"$H_BODY"; then
    t_ok "$desc: 400 $(head -c 110 <<<"$H_BODY")"
  else
    t_bad "$desc: $H_STATUS $(head -c 300 <<<"$H_BODY") (want 400 /$re/)"
  fi
}

refuse "chain to an unknown root" add-pre-chain "$(ct_body "$ca/good.pem" "$ca/inter.pem" "$other/root.pem")" \
  'not certified|root'
refuse "leaf from another CA" add-pre-chain "$(ct_body "$other/foreign.pem" "$other/inter.pem" "$other/root.pem")" \
  'root accepted'
# a broken signature: flip one bit inside the leaf's signature value
der=$(openssl x509 -in "$ca/good.pem" -outform DER | base64 -w0)
broken=$(python3 -c 'import base64,sys; d=bytearray(base64.b64decode(sys.argv[1])); d[-5]^=1; print(base64.b64encode(bytes(d)).decode())' "$der")
refuse "broken signature in the chain" add-pre-chain "{\"chain\":[\"$broken\",\"$(ct_b64 "$ca/inter.pem")\"]}" \
  'not certified|signature'
refuse "non-critical poison" add-pre-chain "$(ct_body "$ca/noncrit.pem" "$ca/inter.pem")" 'not critical'
refuse "poison with a non-NULL value" add-pre-chain "$(ct_body "$ca/badvalue.pem" "$ca/inter.pem")" 'NULL'
refuse "wrong order" add-pre-chain "$(ct_body "$ca/good.pem" "$ca/root.pem" "$ca/inter.pem")" 'wrong order'
refuse "issuer missing" add-pre-chain "$(ct_body "$ca/good.pem" "$ca/root.pem")" 'not certified'
refuse "empty chain" add-pre-chain '{"chain":[]}' 'empty'
refuse "no chain" add-pre-chain '{"certs":[]}' 'missing'
refuse "not JSON" add-pre-chain 'hello' 'JSON'
refuse "duplicate JSON key" add-pre-chain '{"chain":[],"chain":[]}' 'JSON'
refuse "not base64" add-pre-chain '{"chain":["!!!"]}' 'base64'
refuse "not a certificate" add-pre-chain '{"chain":["aGVsbG8="]}' 'DER X.509'
refuse "a precertificate on add-chain" add-chain "$(ct_body "$ca/good.pem" "$ca/inter.pem")" 'add-pre-chain'
refuse "a certificate on add-pre-chain" add-pre-chain "$(ct_body "$ca/goodcert.pem" "$ca/inter.pem")" 'poison'
python3 -c 'import base64,os; print("{\"chain\":[\"" + base64.b64encode(os.urandom(786432)).decode() + "\"]}")' >"$T_TMP/garbage.json"
code=$(curl -sS -o "$T_TMP/garbage.out" -w '%{http_code}' --data-binary @"$T_TMP/garbage.json" "$CT_URL/ct/v1/add-pre-chain")
[ "$code" = 400 ] && t_ok "1 MB of base64 garbage: 400 $(head -c 80 "$T_TMP/garbage.out")" || t_bad "1 MB garbage: $code"
python3 -c 'import base64,os; print("{\"chain\":[\"" + base64.b64encode(os.urandom(40000)).decode() + "\"]}")' >"$T_TMP/garbage2.json"
code=$(curl -sS -o "$T_TMP/garbage.out" -w '%{http_code}' --data-binary @"$T_TMP/garbage2.json" "$CT_URL/ct/v1/add-pre-chain")
[ "$code" = 400 ] && t_ok "53 KB of base64 garbage: 400 $(head -c 80 "$T_TMP/garbage.out")" || t_bad "53 KB garbage: $code"
inter=$(ct_b64 "$ca/inter.pem")
body="{\"chain\":[\"$(ct_b64 "$ca/good.pem")\""
for i in $(seq 99); do body+=",\"$inter\""; done
body+="]}"
refuse "a chain of 100 certificates" add-pre-chain "$body" 'over the limit'

# filters: EKU and NotAfter
openssl ecparam -name prime256v1 -genkey -noout -out "$T_TMP/tls.key" 2>/dev/null
openssl req -new -key "$T_TMP/tls.key" -subj /CN=tls -out "$T_TMP/tls.csr" 2>/dev/null
printf 'extendedKeyUsage=serverAuth\n1.3.6.1.4.1.11129.2.4.3=critical,ASN1:NULL\nauthorityKeyIdentifier=keyid\n' >"$T_TMP/tls.ext"
openssl x509 -req -in "$T_TMP/tls.csr" -CA "$ca/inter.pem" -CAkey "$ca/inter.key" -set_serial 7 -days 1 \
  -extfile "$T_TMP/tls.ext" -out "$T_TMP/tls.pem" 2>/dev/null
refuse "a serverAuth leaf when only CodeSigning/EmailProtection are accepted" add-pre-chain \
  "$(ct_body "$T_TMP/tls.pem" "$ca/inter.pem")" 'extended key usage'

sleep 0.1
[ "$(ct_tree_size "$CT_URL")" = "$size0" ] && t_ok "nothing was logged (tree size still $size0)" \
  || t_bad "tree size changed: $size0 -> $(ct_tree_size "$CT_URL")"
ls "$store/issuer" | grep -q . && [ "$(ls "$store/issuer" | wc -l)" = 2 ] && t_ok "no issuer of a refused chain was published" \
  || t_bad "issuers: $(ls "$store/issuer")"

# methods and paths
code=$(curl -sS -o /dev/null -w '%{http_code}' "$CT_URL/ct/v1/add-chain")
[ "$code" = 405 ] && t_ok "GET add-chain: 405" || t_bad "GET add-chain: $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$CT_URL/ct/v1/get-sth")
[ "$code" = 404 ] && t_ok "get-sth (not in the Static CT API): 404" || t_bad "get-sth: $code"
ct_stop "$log_PID"

# NotAfter window: the leaves expire in a day
ct_start win "$T_TMP/store-win" "$ca/root.pem" "$ca/log.key" --batch-max-age 20ms \
  --not-after-start "$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)" || exit 1
CT_URL=$win_URL
refuse "NotAfter before --not-after-start" add-pre-chain "$(ct_body "$ca/good.pem" "$ca/inter.pem")" 'not-after-start'
ct_stop "$win_PID"
ct_start win "$T_TMP/store-win" "$ca/root.pem" "$ca/log.key" --batch-max-age 20ms \
  --not-after-limit "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" || exit 1
CT_URL=$win_URL
refuse "NotAfter not before --not-after-limit" add-pre-chain "$(ct_body "$ca/good.pem" "$ca/inter.pem")" 'not-after-limit'
ct_stop "$win_PID"

# start-up consistency check: damaged storage is refused with a reason
start_fails() { # DESC STORE REGEX [ARGS]
  local desc=$1 st=$2 re=$3
  shift 3
  "$FULCRUM_BIN" ctlog --listen 127.0.0.1:0 --storage-dir "$st" --roots "$ca/root.pem" \
    --private-key "${KEY:-$ca/log.key}" --origin "${ORIGIN:-$CT_ORIGIN}" "$@" >"$T_TMP/start.log" 2>&1 &
  local pid=$! i
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"; wait "$pid" 2>/dev/null
    t_bad "$desc: the log started"
    return
  fi
  wait "$pid"
  local rc=$?
  if [ "$rc" = 1 ] && grep -Eq -- "$re" "$T_TMP/start.log"; then
    t_ok "$desc: refused to start: $(grep -E -- "$re" "$T_TMP/start.log" | head -1 | cut -c1-140)"
  else
    t_bad "$desc: rc=$rc $(cat "$T_TMP/start.log")"
  fi
}
fresh_copy() { rm -rf "$T_TMP/dmg"; cp -a "$store" "$T_TMP/dmg"; }

fresh_copy
truncate -s 100 "$T_TMP/dmg/entries.log"
cp "$T_TMP/dmg/entries.log" "$T_TMP/elog.before"
start_fails "truncated entry log" "$T_TMP/dmg" 'truncated or damaged'
cmp -s "$T_TMP/dmg/entries.log" "$T_TMP/elog.before" && t_ok "the damaged entry log was left untouched" \
  || t_bad "the damaged entry log was modified"
fresh_copy
sed -i '2s/.*/5/' "$T_TMP/dmg/checkpoint"
start_fails "checkpoint size edited" "$T_TMP/dmg" 'signature'
fresh_copy
rm -f "$T_TMP/dmg/tile/0/000.p/1"
start_fails "level-0 tile missing" "$T_TMP/dmg" 'tile .* missing'
fresh_copy
printf 'x' | dd of="$T_TMP/dmg/tile/0/000.p/1" bs=1 seek=3 conv=notrunc 2>/dev/null
start_fails "level-0 tile altered" "$T_TMP/dmg" 'does not match'
fresh_copy
rm -f "$T_TMP/dmg/checkpoint"
start_fails "checkpoint missing" "$T_TMP/dmg" 'no checkpoint'
fresh_copy
ORIGIN=elsewhere/log start_fails "another origin" "$T_TMP/dmg" 'origin'
fresh_copy
KEY="$other/log.key" start_fails "another log key" "$T_TMP/dmg" 'no signature by this log'
fresh_copy
python3 - "$T_TMP/dmg/entries.log" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[200] ^= 0xff
open(p, 'wb').write(b)
PY
# the only batch is the last one: a damaged last batch reads as torn, and
# then the log is shorter than the checkpoint
start_fails "corrupted entry log" "$T_TMP/dmg" 'truncated or damaged'
t_done
