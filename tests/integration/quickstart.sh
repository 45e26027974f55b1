#!/usr/bin/env bash
# examples/quickstart.sh (the README's run command), run twice in oneshot
# mode with the test build's binaries and a fresh state directory: the first
# run creates the CA and the TSA's keys in a SoftHSM2 token, a CT log and a
# Rekor v2 log, the second reuses them all (same root, the logs keep
# growing); each run signs with sigstore-python configured from the CA
# alone and verifies with only the trusted root; each run's certificate
# chains to that root under `openssl verify` and carries a verified SCT
# from the log; the first run's bundle still verifies with the second run's
# trusted root; the quickstart exits 0 and leaves no process or listening
# port behind.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
quickstart="$root/examples/quickstart.sh"
build=${FULCRUM_BUILD_DIR:-$(dirname "$(dirname "$FULCRUM_BIN")")}

command -v node >/dev/null || t_skip "node not installed (sigstore-js)"
[ -f "$root/tests/interop/js/node_modules/@sigstore/sign/package.json" ] \
  || t_skip "sigstore-js not installed (run tests/tools/install-interop.sh)"
command -v softhsm2-util >/dev/null || t_skip "softhsm2-util not installed"
deps=${FULCRUM_DEPS:-$root/.deps}
[ -x "$deps/bin/rekor-tiles" ] || t_skip "rekor-tiles not installed (run tests/tools/install-rekor-tiles.sh)"
[ -x "$deps/venv/bin/sigstore" ] || t_skip "sigstore-python not installed (run tests/tools/install-interop.sh)"
PY=python3
$PY -c 'import cryptography' 2>/dev/null || PY="${FULCRUM_DEPS:-$root/.deps}/venv/bin/python"
$PY -c 'import cryptography' 2>/dev/null || t_skip "pyca/cryptography is needed"
[ -x "$build/cmd/fulcrum" ] && [ -x "$build/tests/test-issuer" ] \
  || { echo "no fulcrum or test-issuer in $build"; exit 1; }

state="$T_TMP/state"

# run_quickstart N: runs the quickstart once; output in $T_TMP/out.N, exit
# status in RC, and the run's certificate copied to $T_TMP/leaf.N.pem.
run_quickstart() {
  local n=$1
  FULCRUM_QUICKSTART_ONESHOT=1 FULCRUM_QUICKSTART_NO_INSTALL=1 FULCRUM_BUILD_DIR="$build" \
    timeout -k 10 200 bash "$quickstart" --state "$state" >"$T_TMP/out.$n" 2>&1 &
  T_PIDS+=($!)
  wait $!
  RC=$?
  T_PIDS=()   # reaped: nothing for t_cleanup to signal
  sed "s/^/  [run $n] /" "$T_TMP/out.$n"
  cp "$state/run/leaf.pem" "$T_TMP/leaf.$n.pem" 2>/dev/null || true
  cp "$state/run/artifact.sigstore.json" "$T_TMP/bundle.$n.json" 2>/dev/null || true
  cp "$state/run/artifact.txt" "$T_TMP/artifact.$n.txt" 2>/dev/null || true
  cp "$state/run/client-trusted-root.json" "$T_TMP/trusted_root.$n.json" 2>/dev/null || true
  cat "$state"/run/*.log >"$T_TMP/logs.$n" 2>/dev/null
}

# no_leftovers N: every process the run started (ctlog, issuer, tsa -- twice
# when the clock check made the quickstart restart it --, rekor, serve) is
# gone and its port closed.
no_leftovers() {
  local n=$1 pids urls names alive="" open="" p u
  pids=$(sed -n 's/^== [a-z]*: http[^(]*(pid \([0-9]*\),.*/\1/p' "$T_TMP/out.$n")
  urls=$(sed -n 's/^== [a-z]*: \(http:[0-9./:]*\) .*/\1/p' "$T_TMP/out.$n")
  names=$(sed -n 's/^== \([a-z]*\): http[^(]*(pid .*/\1/p' "$T_TMP/out.$n" | sort -u | tr '\n' ' ')
  for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
  for u in $urls; do curl -s -o /dev/null --max-time 2 "$u/" && open="$open $u"; done
  alive="$alive $(pgrep -f -- "$state" | tr '\n' ' ')"
  if [ "$names" = "ctlog issuer rekor serve tsa " ] && [ -z "${alive// /}" ] && [ -z "$open" ]; then
    t_ok "run $n: its 5 services ($names; pids $(echo $pids)) are gone and their ports closed"
  else
    t_bad "run $n: services '$names' pids '$(echo $pids)' urls '$(echo $urls)'; still alive:$alive; still answering:$open"
  fi
}

# signed_and_verified N: run N signed with sigstore-python (a Rekor v2
# entry, an RFC 3161 timestamp) and verified with only the trusted root.
signed_and_verified() {
  local n=$1
  if grep -q '^   bundle .*: a certificate, a Rekor v2 hashedrekord entry (log index [0-9]*), 1 RFC 3161 timestamp' "$T_TMP/out.$n" \
     && grep -q '^   sigstore-js (@sigstore/verify): verified: SAN alice@example.com' "$T_TMP/out.$n" \
     && grep -q '^   sigstore-python: OK: ' "$T_TMP/out.$n" \
     && jq -e '(.verificationMaterial.tlogEntries | length == 1) and (.verificationMaterial.timestampVerificationData.rfc3161Timestamps | length == 1)' \
          "$T_TMP/bundle.$n.json" >/dev/null 2>&1; then
    t_ok "run $n: sigstore-python signed (Rekor v2 entry, timestamp); verified with only the trusted root by sigstore-js and sigstore-python"
  else
    t_bad "run $n: signing or verification not shown: $(grep -E '^   (bundle|sigstore)' "$T_TMP/out.$n")"
  fi
}

# sct_index N: checks the SCT of run N's certificate (exactly one, from the
# quickstart's log, its signature over the precertificate) and prints its
# leaf_index.
sct_index() {
  $PY - "$T_TMP/leaf.$1.pem" "$T_TMP/int.pem" "$state/ctlog/log.pub" <<'PY'
import datetime, hashlib, struct, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
issuer = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
key = serialization.load_pem_public_key(open(sys.argv[3], "rb").read())
der = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
scts = cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
assert len(scts) == 1, f"{len(scts)} SCTs"
sct = scts[0]
assert sct.log_id == hashlib.sha256(der(key)).digest(), "the SCT is not from the quickstart's log"
ts = int(sct.timestamp.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)
tbs = cert.tbs_precertificate_bytes
ext = sct.extension_bytes
signed = (b"\x00\x00" + struct.pack(">Q", ts) + b"\x00\x01" + hashlib.sha256(der(issuer.public_key())).digest()
          + len(tbs).to_bytes(3, "big") + tbs + struct.pack(">H", len(ext)) + ext)
key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
assert len(ext) == 8 and ext[:3] == b"\x00\x00\x05", f"no leaf_index extension: {ext.hex()}"
print(int.from_bytes(ext[3:], "big"))
PY
}

fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
printed_fp() { sed -n 's/^ *root SHA-256 fingerprint: //p' "$T_TMP/out.$1"; }
printed_index() { sed -n 's/^== leaf index \([0-9]*\) < tree size [0-9]*:.*/\1/p' "$T_TMP/out.$1"; }

# --- first run: everything is created ---
run_quickstart 1
[ "$RC" = 0 ] && t_ok "run 1: exit status 0" || t_bad "run 1: exit status $RC"
grep -q '^== CA created' "$T_TMP/out.1" && ! grep -q '^== CA reused' "$T_TMP/out.1" \
  && t_ok "run 1: says the CA was created" || t_bad "run 1: does not say 'CA created'"
[ "$(stat -c %a "$state/hsm/user-pin" 2>/dev/null)" = 600 ] \
  && t_ok "the PIN file is mode 0600" || t_bad "PIN file mode: $(stat -c %a "$state/hsm/user-pin" 2>&1)"
awk '/BEGIN/{n++} n==1' "$state/ca/chain.pem" >"$T_TMP/int.pem"
awk '/BEGIN/{n++} n==2' "$state/ca/chain.pem" >"$T_TMP/root.pem"
root_fp=$(fp "$T_TMP/root.pem")
[ -n "$root_fp" ] && [ "$(printed_fp 1)" = "$root_fp" ] \
  && t_ok "run 1: prints the root's fingerprint ($root_fp)" \
  || t_bad "run 1: printed fingerprint '$(printed_fp 1)', root in $state/ca/chain.pem '$root_fp'"
no_leftovers 1
signed_and_verified 1
if jq -e '.mediaType == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    and (.certificateAuthorities | length == 1) and (.ctlogs | length == 1)
    and (.timestampAuthorities | length == 1) and (.tlogs | length == 1)' "$T_TMP/trusted_root.1.json" >/dev/null 2>&1; then
  t_ok "run 1: the CA serves the trusted root fulcrum trust wrote (CA, CT log, TSA, Rekor v2)"
else
  t_bad "run 1: trusted root: $(head -c 300 "$T_TMP/trusted_root.1.json" 2>&1)"
fi

# --- second run: everything is reused ---
run_quickstart 2
[ "$RC" = 0 ] && t_ok "run 2: exit status 0" || t_bad "run 2: exit status $RC"
grep -q '^== CA reused' "$T_TMP/out.2" && ! grep -q '^== CA created' "$T_TMP/out.2" \
  && t_ok "run 2: says the CA was reused" || t_bad "run 2: does not say 'CA reused'"
[ "$(printed_fp 2)" = "$root_fp" ] && [ "$(fp "$state/ca/root.pem")" = "$root_fp" ] \
  && t_ok "run 2: the same root certificate" \
  || t_bad "run 2: root fingerprint '$(printed_fp 2)', want '$root_fp'"
no_leftovers 2
signed_and_verified 2
# the first run's bundle, with the second run's trusted root (new ports, the
# same keys: the logs' windows start when their keys were made)
iss1=$(sed -n 's/^ *1\.3\.6\.1\.4\.1\.57264\.1\.8: //p' "$T_TMP/out.1" | head -1)
if out=$(node "$root/tests/interop/js/e2e-verify.mjs" "$T_TMP/bundle.1.json" "$T_TMP/artifact.1.txt" \
    "$T_TMP/trusted_root.2.json" alice@example.com "$iss1" 2>&1); then
  t_ok "run 1's bundle verifies with run 2's trusted root: $out"
else
  t_bad "run 1's bundle with run 2's trusted root (issuer '$iss1'): $out"
fi

# --- both certificates: chain to the first run's root, SCT from the log ---
for n in 1 2; do
  if out=$(openssl verify -CAfile "$T_TMP/root.pem" -untrusted "$T_TMP/int.pem" "$T_TMP/leaf.$n.pem" 2>&1); then
    t_ok "run $n: openssl verify: leaf <- intermediate <- the token's root"
  else
    t_bad "run $n: openssl verify: $out"
  fi
  if idx=$(sct_index "$n" 2>"$T_TMP/sct.err"); then
    printf -v "index_$n" '%s' "$idx"
    [ "$(printed_index "$n")" = "$idx" ] \
      && t_ok "run $n: one SCT from the log, signature verified, leaf_index $idx (as printed)" \
      || t_bad "run $n: leaf_index $idx, quickstart printed '$(printed_index "$n")'"
  else
    t_bad "run $n: SCT: $(cat "$T_TMP/sct.err")"
  fi
done
[ -n "${index_1:-}" ] && [ -n "${index_2:-}" ] && [ "$index_2" -gt "$index_1" ] \
  && t_ok "the log was reused: leaf index $index_2 (run 2) > $index_1 (run 1)" \
  || t_bad "leaf indexes: run 1 '${index_1:-}', run 2 '${index_2:-}'"

pin=$(cat "$state/hsm/user-pin")
grep -qF -- "$pin" "$T_TMP/out.1" "$T_TMP/out.2" "$T_TMP/logs.1" "$T_TMP/logs.2" \
  && t_bad "the PIN appears in the quickstart's output or logs" || t_ok "the PIN appears in no output or log"
t_done
