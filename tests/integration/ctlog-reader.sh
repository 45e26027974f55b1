#!/usr/bin/env bash
# fulcrum ctlog against an independent reader: chains made with openssl (a
# root, an intermediate, leaf certificates and precertificates) are
# submitted; duplicates get the same SCT; then the Go reader (our program
# over golang.org/x/mod/sumdb/tlog and note) checks the checkpoint's RFC
# 6962 note signature, every SCT, the inclusion of every entry at its
# leaf_index, the data tiles and issuers, and consistency between an early
# and a late checkpoint. Also: cache headers, get-roots, restart.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/ctlog-lib.sh"

command -v openssl >/dev/null || t_skip "openssl is needed"
ct_need_reader

ca="$T_TMP/ca"
ct_make_ca "$ca"
store="$T_TMP/store"
CT_SUBS="$T_TMP/subs.jsonl"
: >"$CT_SUBS"

ct_start log "$store" "$ca/root.pem" "$ca/log.key" --batch-max-age 50ms \
  --ext-key-usages CodeSigning || exit 1
CT_URL=$log_URL

# get-roots
http GET "$CT_URL/ct/v1/get-roots"
if [ "$H_STATUS" = 200 ] && [ "$(jq -r '.certificates[0]' <<<"$H_BODY")" = "$(ct_b64 "$ca/root.pem")" ]; then
  t_ok "get-roots lists the configured root"
else
  t_bad "get-roots: $H_STATUS $H_BODY"
fi

# an empty log has a signed checkpoint of size 0
"$CT_READER" verify -url "$CT_URL" -log-key "$ca/log.pub" -origin "$CT_ORIGIN" \
  -save "$T_TMP/cp0" >"$T_TMP/r0.log" 2>&1 && grep -q 'size 0' "$T_TMP/r0.log" \
  && t_ok "empty log: checkpoint of size 0 verifies" || t_bad "empty log: $(cat "$T_TMP/r0.log")"

# certificates and precertificates made by openssl
for i in 1 2 3; do
  ct_make_leaf "$ca" "cert$i" cert
  ct_make_leaf "$ca" "pre$i" precert
done
ct_submit_one "$ca/cert1.pem" "$ca/inter.pem"
[ "$H_STATUS" = 200 ] && t_ok "add-chain (leaf, intermediate)" || t_bad "add-chain: $H_STATUS $H_BODY"
SCT_CERT1=$H_BODY
ct_submit_one "$ca/cert2.pem" "$ca/inter.pem" "$ca/root.pem"
[ "$H_STATUS" = 200 ] && t_ok "add-chain (leaf, intermediate, root)" || t_bad "add-chain: $H_STATUS $H_BODY"
ct_submit_one "$ca/pre1.pem" "$ca/inter.pem"
[ "$H_STATUS" = 200 ] && t_ok "add-pre-chain (precert, intermediate)" || t_bad "add-pre-chain: $H_STATUS $H_BODY"
SCT_PRE1=$H_BODY
ct_submit_one "$ca/pre2.pem" "$ca/inter.pem" "$ca/root.pem"
[ "$H_STATUS" = 200 ] && t_ok "add-pre-chain (precert, intermediate, root)" || t_bad "add-pre-chain: $H_STATUS $H_BODY"
idx=$(jq -r .extensions <<<"$SCT_PRE1" | base64 -d | od -An -tx1 | tr -d ' \n')
[ "$idx" = "0000050000000002" ] && t_ok "SCT carries the leaf_index extension (00 00 05 + index 2)" \
  || t_bad "SCT extensions: $idx"

# the early checkpoint, checked with the first submissions
if "$CT_READER" verify -url "$CT_URL" -log-key "$ca/log.pub" -origin "$CT_ORIGIN" \
  -subs "$CT_SUBS" -old "$T_TMP/cp0" -save "$T_TMP/cp-early" >"$T_TMP/r1.log" 2>&1; then
  t_ok "reader: early checkpoint, 4 entries included ($(tail -1 "$T_TMP/r1.log" | cut -c1-60)...)"
else
  t_bad "reader (early): $(cat "$T_TMP/r1.log")"
fi

# duplicates: the same SCT, no new entry
size_before=$(ct_tree_size "$CT_URL")
ct_submit_one "$ca/pre1.pem" "$ca/inter.pem"
[ "$H_STATUS" = 200 ] && [ "$H_BODY" = "$SCT_PRE1" ] && t_ok "add-pre-chain twice: the same SCT" \
  || t_bad "duplicate precert: $H_STATUS $H_BODY vs $SCT_PRE1"
ct_submit_one "$ca/pre1.pem" "$ca/inter.pem" "$ca/root.pem"
[ "$H_STATUS" = 200 ] && [ "$H_BODY" = "$SCT_PRE1" ] && t_ok "same precert with the root appended: the same SCT" \
  || t_bad "duplicate precert (longer chain): $H_STATUS $H_BODY"
ct_submit_one "$ca/cert1.pem" "$ca/inter.pem"
[ "$H_STATUS" = 200 ] && [ "$H_BODY" = "$SCT_CERT1" ] && t_ok "add-chain twice: the same SCT" \
  || t_bad "duplicate cert: $H_STATUS $H_BODY"
sleep 0.2
[ "$(ct_tree_size "$CT_URL")" = "$size_before" ] && t_ok "duplicates added no entry (size $size_before)" \
  || t_bad "duplicates changed the tree size: $size_before -> $(ct_tree_size "$CT_URL")"

# the same new precert from 8 clients at once: one entry, one SCT
ct_body "$ca/pre3.pem" "$ca/inter.pem" >"$T_TMP/pre3.json"
pids=()
for i in $(seq 8); do
  curl -sS -f --max-time 10 --data-binary @"$T_TMP/pre3.json" "$CT_URL/ct/v1/add-pre-chain" >"$T_TMP/dup.$i" &
  pids+=($!)
done
wait "${pids[@]}"
if [ "$(cat "$T_TMP"/dup.* | sort -u | wc -l)" = 1 ] && [ "$(ct_tree_size "$CT_URL")" = $((size_before + 1)) ]; then
  t_ok "8 concurrent identical submissions: one SCT, one entry"
else
  t_bad "concurrent duplicates: $(cat "$T_TMP"/dup.* | sort -u | wc -l) distinct answers, size $(ct_tree_size "$CT_URL")"
fi
printf '{"precert":true,"body":%s,"sct":%s}\n' "$(cat "$T_TMP/pre3.json")" "$(cat "$T_TMP/dup.1")" >>"$CT_SUBS"

# enough entries for full tiles at level 0 and a level-1 tile
"$CT_READER" gen -issuer-cert "$ca/inter.pem" -issuer-key "$ca/inter.key" -n 300 -precert \
  -out "$T_TMP/gen-pre.jsonl" || t_bad "gen"
"$CT_READER" gen -issuer-cert "$ca/inter.pem" -issuer-key "$ca/inter.key" -root "$ca/root.pem" \
  -n 40 -out "$T_TMP/gen-cert.jsonl" || t_bad "gen"
ct_submit_lines "$T_TMP/gen-pre.jsonl" true "$CT_URL" 16 "$CT_SUBS"
ct_submit_lines "$T_TMP/gen-cert.jsonl" false "$CT_URL" 8 "$CT_SUBS"
n=$(wc -l <"$CT_SUBS")
# 4 + 3 duplicates + 1 + 300 + 40 answers
[ "$n" = 348 ] && t_ok "348 submissions acknowledged" || t_bad "acknowledged $n of 348"

if "$CT_READER" verify -url "$CT_URL" -log-key "$ca/log.pub" -origin "$CT_ORIGIN" \
  -subs "$CT_SUBS" -old "$T_TMP/cp-early" -save "$T_TMP/cp-late" >"$T_TMP/r2.log" 2>&1; then
  t_ok "reader: late checkpoint consistent with the early one; every entry included: $(grep -E 'consistency|inclusion' "$T_TMP/r2.log" | tr '\n' ' ' | cut -c1-150)"
else
  t_bad "reader (late): $(cat "$T_TMP/r2.log")"
fi

# the read path: content types and cache headers (static-ct-api)
hdr() { curl -sS -D - -o /dev/null "$CT_URL/$1" | tr -d '\r'; }
h=$(hdr checkpoint)
grep -qi '^content-type: text/plain; charset=utf-8' <<<"$h" && grep -qi '^cache-control: public, max-age=1$' <<<"$h" \
  && t_ok "checkpoint: text/plain, short max-age" || t_bad "checkpoint headers: $h"
h=$(hdr tile/0/000)
grep -q '^HTTP/1.1 200' <<<"$h" && grep -qi '^cache-control:.*immutable' <<<"$h" && grep -qi '^content-type: application/octet-stream' <<<"$h" \
  && t_ok "full tile: immutable, octet-stream" || t_bad "tile headers: $h"
[ "$(curl -sS "$CT_URL/tile/0/000" | wc -c)" = 8192 ] && t_ok "full level-0 tile is 8192 bytes" || t_bad "full tile size"
h=$(hdr "issuer/$(openssl x509 -in "$ca/inter.pem" -outform DER | sha256sum | cut -d' ' -f1)")
grep -qi '^content-type: application/pkix-cert' <<<"$h" && t_ok "issuer: application/pkix-cert" || t_bad "issuer headers: $h"
for bad in tile/0/x000/000 tile/6/000 tile/0/000.p/0 tile/0/000.p/256 tile/0/0000 "issuer/../checkpoint" entries.log .lock; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' --path-as-is "$CT_URL/$bad")
  [ "$code" = 404 ] || t_bad "GET /$bad: $code, want 404"
done
t_ok "non-canonical tile paths and private files are 404"
# the storage directory is the URL layout
cmp -s "$store/checkpoint" <(curl -sS "$CT_URL/checkpoint") && [ -f "$store/tile/data/000" ] \
  && t_ok "storage directory = URL layout" || t_bad "layout"

# restart: same tree, duplicates still answered with their SCT
size=$(ct_tree_size "$CT_URL")
ct_stop "$log_PID"
ct_start log "$store" "$ca/root.pem" "$ca/log.key" --batch-max-age 50ms || exit 1
CT_URL=$log_URL
[ "$(ct_tree_size "$CT_URL")" = "$size" ] && t_ok "restart: tree size $size kept" || t_bad "restart: size $(ct_tree_size "$CT_URL")"
ct_submit_one "$ca/pre1.pem" "$ca/inter.pem"
[ "$H_BODY" = "$SCT_PRE1" ] && t_ok "after restart, a duplicate gets the original SCT" || t_bad "after restart: $H_BODY"
ct_submit_one "$ca/cert3.pem" "$ca/inter.pem"
[ "$H_STATUS" = 200 ] && t_ok "after restart, a new entry is accepted" || t_bad "after restart: $H_STATUS $H_BODY"
"$CT_READER" verify -url "$CT_URL" -log-key "$ca/log.pub" -origin "$CT_ORIGIN" \
  -subs "$CT_SUBS" -old "$T_TMP/cp-late" >"$T_TMP/r3.log" 2>&1 \
  && t_ok "reader after restart: consistent, all included" || t_bad "reader after restart: $(cat "$T_TMP/r3.log")"

# a second instance on the same directory is refused
"$FULCRUM_BIN" ctlog --listen 127.0.0.1:0 --storage-dir "$store" --roots "$ca/root.pem" \
  --private-key "$ca/log.key" --origin "$CT_ORIGIN" >"$T_TMP/second.log" 2>&1
[ $? = 1 ] && grep -q 'cannot lock' "$T_TMP/second.log" && t_ok "a second log on the same directory is refused" \
  || t_bad "second instance: $(cat "$T_TMP/second.log")"
t_done
