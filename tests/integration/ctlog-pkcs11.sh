#!/usr/bin/env bash
# fulcrum ctlog with its log key inside a PKCS#11 token: a P-256 key pair
# generated in a SoftHSM2 token by pkcs11-tool (never extractable), named
# by an RFC 7512 URI (object= with --pkcs11-pin-file, then id= with
# pin-source=). Chains made with openssl are submitted directly, and
# fulcrum serve --ca pkcs11ca (its CA key in a second token) logs its
# precertificates to it. Every SCT and the checkpoint are verified with the
# log's public key exported from the token by pkcs11-tool, not by fulcrum:
# by the Go reader (SCT signatures, the checkpoint's RFC 6962 note
# signature, inclusion at each leaf_index) and by pyca/cryptography (the
# embedded SCT over tbs_precertificate_bytes). Also: a wrong PIN or a
# missing PIN file refuses to start, with a message that holds no PIN; the
# PIN is in no output; and once started, the PIN (read from a file) is not
# in the memory of the running log or CA (/proc/PID/mem).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/hsm-lib.sh"
. "$here/ctlog-lib.sh"

command -v pkcs11-tool >/dev/null || t_skip "pkcs11-tool not installed (apt-get install opensc)"
command -v openssl >/dev/null || t_skip "openssl is needed"
PY=python3
$PY -c 'import cryptography' 2>/dev/null || PY="$here/../../.deps/venv/bin/python"
$PY -c 'import cryptography' 2>/dev/null || t_skip "pyca/cryptography is needed"
ct_need_reader

all_out="$T_TMP/all-output.txt" # every output of fulcrum, searched for the PIN
: >"$all_out"
p11() { pkcs11-tool --module "$SOFTHSM_MODULE" "$@"; }

# --- the log key, generated inside the token ---
hsm_init ctlog
keygen=$(p11 --token-label ctlog --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 \
  --label ctlog-key --id 4c4f47 2>&1)
if grep -A4 'Private Key Object; EC' <<<"$keygen" | grep -q 'never extractable'; then
  t_ok "pkcs11-tool: P-256 key pair generated in the token (private key sensitive, never extractable)"
else
  t_bad "keygen: $keygen"
  t_done
  exit 1
fi
# the public half, exported from the token independently of fulcrum
p11 --token-label ctlog --read-object --type pubkey --label ctlog-key -o "$T_TMP/log.pub.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$T_TMP/log.pub.der" -out "$T_TMP/log.pub" 2>/dev/null \
  && openssl pkey -pubin -in "$T_TMP/log.pub" -noout -text 2>/dev/null | grep -q 'NIST CURVE: P-256' \
  && t_ok "the log's public key exported from the token (pkcs11-tool --read-object)" \
  || t_bad "cannot export the public key: $(openssl pkey -pubin -inform DER -in "$T_TMP/log.pub.der" -noout 2>&1)"
printf '%s\n' "$USER_PIN" >"$T_TMP/pin"
chmod 600 "$T_TMP/pin"

# the CA whose chains are submitted directly (openssl; ct_make_ca's own
# log.key is not used)
ca="$T_TMP/ca"
ct_make_ca "$ca"

# --- start-up refusals: wrong PIN, missing PIN file ---
uri="pkcs11:token=ctlog;object=ctlog-key?module-path=$SOFTHSM_MODULE"
refuse() { # DESC REGEX ARGS...
  local desc=$1 re=$2 out rc
  shift 2
  out=$(timeout 20 "$FULCRUM_BIN" ctlog --listen 127.0.0.1:0 --storage-dir "$T_TMP/refused" \
    --roots "$ca/root.pem" --origin "$CT_ORIGIN" "$@" 2>&1)
  rc=$?
  echo "$out" >>"$all_out"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -Eq -- "$re" <<<"$out" \
     && ! grep -qF -e "$USER_PIN" -e "wrong-PIN-0badc0de" <<<"$out"; then
    t_ok "refused, $desc: $(grep -E -- "$re" <<<"$out" | head -1 | cut -c1-200)"
  else
    t_bad "$desc: rc=$rc out=$out (want /$re/, no PIN)"
  fi
}
printf 'wrong-PIN-0badc0de-9876\n' >"$T_TMP/badpin"
refuse "wrong PIN in --pkcs11-pin-file" 'login refused: the PIN is wrong' \
  --private-key "$uri" --pkcs11-pin-file "$T_TMP/badpin"
refuse "missing PIN file" "pkcs11 PIN file $T_TMP/nopin: No such file" \
  --private-key "$uri" --pkcs11-pin-file "$T_TMP/nopin"
refuse "no such key" 'no private key with label "no-such-key"' \
  --private-key "pkcs11:token=ctlog;object=no-such-key?module-path=$SOFTHSM_MODULE" \
  --pkcs11-pin-file "$T_TMP/pin"

# --- the log, its key named by object= and the PIN in --pkcs11-pin-file ---
store="$T_TMP/store"
CT_SUBS="$T_TMP/subs.jsonl"
: >"$CT_SUBS"
ct_start log "$store" "$ca/root.pem" "$uri" --pkcs11-pin-file "$T_TMP/pin" --batch-max-age 50ms \
  --ext-key-usages CodeSigning || { t_bad "ctlog with a pkcs11: key did not start"; t_done; exit 1; }
CT_URL=$log_URL
t_ok "fulcrum ctlog started with --private-key pkcs11:...;object=ctlog-key"

ct_make_leaf "$ca" cert1 cert
ct_make_leaf "$ca" pre1 precert
ct_submit_one "$ca/cert1.pem" "$ca/inter.pem"
[ "$H_STATUS" = 200 ] && t_ok "add-chain (leaf, intermediate): SCT" || t_bad "add-chain: $H_STATUS $H_BODY"
ct_submit_one "$ca/pre1.pem" "$ca/inter.pem" "$ca/root.pem"
[ "$H_STATUS" = 200 ] && t_ok "add-pre-chain (precert, intermediate, root): SCT" || t_bad "add-pre-chain: $H_STATUS $H_BODY"
# one SCT checked with openssl alone: RFC 6962 3.2 digitally-signed data
# over the X.509 entry, ECDSA P-256 SHA-256, with the exported key
sct=$(head -1 "$CT_SUBS" | jq -c .sct)
{
  printf '\x00\x00'                                                   # v1, certificate_timestamp
  printf '%016x' "$(jq -r .timestamp <<<"$sct")" | xxd -r -p          # timestamp
  printf '\x00\x00'                                                   # x509_entry
  openssl x509 -in "$ca/cert1.pem" -outform DER >"$T_TMP/cert1.der"
  printf '%06x' "$(stat -c %s "$T_TMP/cert1.der")" | xxd -r -p        # opaque ASN.1Cert<1..2^24-1>
  cat "$T_TMP/cert1.der"
  ext=$(jq -r .extensions <<<"$sct" | base64 -d | xxd -p | tr -d '\n')
  printf '%04x' $((${#ext} / 2)) | xxd -r -p                          # CtExtensions
  xxd -r -p <<<"$ext"
} >"$T_TMP/sct1.tbs"
jq -r .signature <<<"$sct" | base64 -d | tail -c +5 >"$T_TMP/sct1.sig" # after hash, sig alg, length
if [ "$(jq -r .signature <<<"$sct" | base64 -d | head -c 2 | xxd -p)" = 0403 ] \
   && [ "$(jq -r .id <<<"$sct" | base64 -d | xxd -p -c 64)" = "$(openssl pkey -pubin -in "$T_TMP/log.pub" -outform DER | sha256sum | cut -c1-64)" ] \
   && openssl dgst -sha256 -verify "$T_TMP/log.pub" -signature "$T_TMP/sct1.sig" "$T_TMP/sct1.tbs" >/dev/null 2>&1; then
  t_ok "openssl: the add-chain SCT (log ID = SHA-256 of the token's key) verifies with the exported key"
else
  t_bad "openssl: SCT does not verify: $sct"
fi

# --- fulcrum serve --ca pkcs11ca (its own token, crypto11 JSON with the Pin) as a client ---
softhsm2-util --init-token --free --label fulcio --so-pin "$SO_PIN" --pin "$USER_PIN" >/dev/null \
  || { t_bad "softhsm2-util --init-token fulcio"; t_done; exit 1; }
crypto11_conf "$T_TMP/crypto11.json" fulcio
out=$("$FULCRUM_BIN" createca --pkcs11-config-path "$T_TMP/crypto11.json" --hsm-caroot-id 1 \
  --org "fulcrum test" --common-name "ctlog-pkcs11 CA" --out "$T_TMP/fulcio-root.pem" 2>&1) \
  || { t_bad "createca: $out"; t_done; exit 1; }
echo "$out" >>"$all_out"
ct_stop "$log_PID"
cat "$ca/root.pem" "$T_TMP/fulcio-root.pem" >"$T_TMP/roots.pem"

# restart: the key named by id= and the PIN from pin-source=; the log
# reopens its storage (the checkpoint must verify with the token key)
uri_id="pkcs11:token=ctlog;id=%4c%4f%47?module-path=$SOFTHSM_MODULE&pin-source=file:$T_TMP/pin"
ct_start log2 "$store" "$T_TMP/roots.pem" "$uri_id" --batch-max-age 50ms --ext-key-usages CodeSigning \
  || { t_bad "ctlog restart with id= and pin-source= did not start"; t_done; exit 1; }
CT_URL=$log2_URL
t_ok "restart with --private-key pkcs11:...;id=%4c%4f%47?...&pin-source=file:...: storage reopened"

issuer_start idp
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$T_TMP/config.json"
serve_start ca --ca pkcs11ca --config-path "$T_TMP/config.json" --pkcs11-config-path "$T_TMP/crypto11.json" \
  --hsm-caroot-id 1 --ct-log-url "$CT_URL" --ct-log-public-key-path "$T_TMP/log.pub" \
  || { t_bad "serve --ca pkcs11ca with --ct-log-url: $(cat "$T_TMP/ca.serve.log")"; t_done; exit 1; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
for who in alice bob; do
  tok=$(mint "$idp_URL" "{\"claims\":{\"sub\":\"$who\",\"email\":\"$who@example.com\",\"email_verified\":true}}")
  body=$(v2_body "$tok" "$T_TMP/client.pem" "$who@example.com")
  http POST "$ca_URL/api/v2/signingCert" "$body"
  if [ "$H_STATUS" != 200 ]; then
    t_bad "$who: signingCert: $H_STATUS $H_BODY"
    continue
  fi
  jq -r '(.signedCertificateEmbeddedSct // .signedCertificateDetachedSct).chain.certificates[0]' <<<"$H_BODY" >"$T_TMP/$who.pem"
  # pyca/cryptography: the embedded SCT over the precert signed data
  if out=$($PY "$here/../interop/embedded-sct.py" "$T_TMP/$who.pem" "$T_TMP/fulcio-root.pem" "$T_TMP/log.pub" 2>"$T_TMP/sct.err"); then
    t_ok "$who: pkcs11ca certificate, its embedded SCT verifies with the token's log key (pyca, leaf_index $(jq .index <<<"$out"))"
    jq -c -n --argjson o "$out" --arg c "$(ct_b64 "$T_TMP/$who.pem")" --arg i "$(ct_b64 "$T_TMP/fulcio-root.pem")" \
      '{precert: true, final: true, body: {chain: [$c, $i]}, sct: $o.sct}' >>"$CT_SUBS"
  else
    t_bad "$who: SCT verification: $out $(cat "$T_TMP/sct.err")"
  fi
done

# every SCT, the checkpoint's note signature and inclusion, with the exported key
if "$CT_READER" verify -url "$CT_URL" -log-key "$T_TMP/log.pub" -origin "$CT_ORIGIN" -subs "$CT_SUBS" \
  >"$T_TMP/reader.log" 2>&1 && [ "$(wc -l <"$CT_SUBS")" = 4 ]; then
  t_ok "reader: checkpoint signature (exported key), 4 SCTs and their inclusion at leaf_index ($(tail -1 "$T_TMP/reader.log" | cut -c1-60))"
else
  t_bad "reader: $(wc -l <"$CT_SUBS") subs; $(cat "$T_TMP/reader.log")"
fi
cp=$(curl -fsS --max-time 5 "$CT_URL/checkpoint")
[ "$(sed -n 1p <<<"$cp")" = "$CT_ORIGIN" ] && [ "$(sed -n 2p <<<"$cp")" = 4 ] \
  && t_ok "checkpoint: origin and size 4" || t_bad "checkpoint: $cp"

# --- the PIN is not in the memory of the running processes ---
# Every readable mapping of /proc/PID/mem (mappings over 512 MiB, i.e. the
# sanitizer's shadow memory, are left out) searched for the PIN's last 12
# characters (found in any whole copy, and in what a freed, partly
# overwritten copy leaves). Exit 0:
# absent, 1: found (with where), 2: the memory cannot be read here.
cat >"$T_TMP/memscan.py" <<'PY'
import sys
pid, needle = int(sys.argv[1]), sys.argv[2].encode()[-12:]
hits, scanned = [], 0
try:
    maps = open(f"/proc/{pid}/maps").read().splitlines()
    mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    mem.seek(int(maps[0].split("-")[0], 16))
    mem.read(1)
except OSError as e:
    print(f"cannot read the memory of {pid}: {e}")
    sys.exit(2)
for line in maps:
    f = line.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    name = f[5] if len(f) > 5 else "[anon]"
    if f[1][0] != "r" or name in ("[vvar]", "[vvar_vclock]", "[vsyscall]") or hi - lo > 512 << 20:
        continue
    off, tail = lo, b""
    while off < hi:
        n = min(1 << 20, hi - off)
        try:
            mem.seek(off)
            buf = mem.read(n)
        except OSError:
            buf = b""
        data = tail + buf
        i = data.find(needle)
        while i >= 0:
            hits.append(f"{off - len(tail) + i:#x} {f[1]} {name}")
            i = data.find(needle, i + 1)
        tail = buf[-(len(needle) - 1):] if buf else b""
        scanned += len(buf)
        off += n
if scanned == 0:
    print("nothing could be read")
    sys.exit(2)
print(f"{scanned >> 20} MiB scanned; found at: {', '.join(hits)}" if hits else f"{scanned >> 20} MiB scanned")
sys.exit(1 if hits else 0)
PY
memcheck() { # DESC PID
  local out rc
  out=$(python3 "$T_TMP/memscan.py" "$2" "$USER_PIN")
  rc=$?
  case $rc in
    0) t_ok "$1: the PIN is not in its memory ($out)" ;;
    2) if [ "${CI:-}" = true ]; then t_bad "$1: memory not checked (CI=true): $out"
       else echo "# note: $1: memory not checked: $out"; fi ;;
    *) t_bad "$1: the PIN is in its memory: $out" ;;
  esac
}
# sign once more so that the processes are past start-up in every respect
ct_make_leaf "$ca" cert2 cert
ct_submit_one "$ca/cert2.pem" "$ca/inter.pem"
memcheck "fulcrum ctlog (PIN from pin-source=file:)" "$log2_PID"
memcheck "fulcrum serve --ca pkcs11ca (Pin in the crypto11 JSON file)" "$ca_PID"
# control: a PIN given as a literal cannot be read again, so it stays
# (on a locked page) in the process that holds the key, the signer process
# (the network process's supervisor's child): the same scan must find it
ct_stop "$log2_PID"
FULCRUM_PKCS11_PIN=$USER_PIN ct_start lit "$store" "$T_TMP/roots.pem" "$uri" --batch-max-age 50ms \
  || t_bad "ctlog with FULCRUM_PKCS11_PIN did not start"
if [ -n "${lit_PID:-}" ]; then
  memcheck "fulcrum ctlog's network process (PIN from FULCRUM_PKCS11_PIN)" "$lit_PID"
  lit_sup=$(awk '{print $1}' "/proc/$lit_PID/task/$lit_PID/children")
  lit_signer=$(awk '{print $1}' "/proc/$lit_sup/task/$lit_sup/children")
  out=$(python3 "$T_TMP/memscan.py" "$lit_signer" "$USER_PIN")
  case $? in
    1) t_ok "control: a literal PIN (FULCRUM_PKCS11_PIN) is found by the same scan (${out%%;*})" ;;
    2) echo "# note: control not run: $out" ;;
    *) t_bad "control: the scan did not find a literal PIN: $out" ;;
  esac
fi

cat "$T_TMP"/*.ctlog.log "$T_TMP/ca.serve.log" >>"$all_out"
grep -qF "$USER_PIN" "$all_out" && t_bad "the PIN appears in fulcrum's output" || t_ok "the PIN appears in no output"
t_done
