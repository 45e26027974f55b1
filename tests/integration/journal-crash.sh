#!/usr/bin/env bash
# The issuance journal survives kill -9 of the whole service: 20 rounds of
# `fulcrum serve` (in its own process group: network process, supervisor
# and signer) under 8 concurrent clients, every round killed with SIGKILL
# after a second or two; odd rounds without CT, even rounds through a
# `fulcrum ctlog` (precertificate, then final certificate). After each
# round `fulcrum journal verify` passes, and every certificate a client
# received has its intent and its outcome (the SHA-256 of its DER) in the
# journal. The rounds share one journal directory: the chain goes on
# across restarts.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
# ct_start (fulcrum ctlog) from ctlog-lib.sh, ct_make_ca (root, int.key,
# chain.pem for fileca) and ct_log_key from ct-lib.sh, sourced after.
. "$here/ctlog-lib.sh"
. "$here/../interop/ct-lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"
command -v setsid >/dev/null || t_skip "setsid not installed"
ROUNDS=${JOURNAL_CRASH_ROUNDS:-20}

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
ct_make_ca "$T_TMP/ca" || { t_bad "cannot make the test CA"; t_done; exit 1; }
mkdir -p "$T_TMP/log/storage"
ct_log_key "$T_TMP/log" || { t_bad "cannot make a CT log key"; t_done; exit 1; }
ct_start ct "$T_TMP/log/storage" "$T_TMP/ca/root.pem" "$T_TMP/log/log.key" --batch-max-age 50ms \
  || { t_bad "fulcrum ctlog did not start"; t_done; exit 1; }
tok=$(mint "$idp_URL" '{"claims":{"sub":"alice","email":"alice@example.com","email_verified":true}}')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/client.pem" 2>/dev/null
v2_body "$tok" "$T_TMP/client.pem" alice@example.com >"$T_TMP/body.json"
J="$T_TMP/journal"

# The clients: POST in a loop; each certificate received goes, as the
# SHA-256 of its DER, to received.txt at once.
cat >"$T_TMP/client.py" <<'PY'
import base64, hashlib, json, sys, threading, urllib.request
url, body_path, out_path = sys.argv[1:4]
body = open(body_path, "rb").read()
out = open(out_path, "a", buffering=1)
lock = threading.Lock()
def run():
    while True:
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:
                doc = json.loads(r.read())
        except Exception:
            return  # the service is gone
        chain = (doc.get("signedCertificateEmbeddedSct") or doc["signedCertificateDetachedSct"])["chain"]
        pem = chain["certificates"][0]
        der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
        with lock:
            out.write(hashlib.sha256(der).hexdigest() + "\n")
threads = [threading.Thread(target=run) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
PY

verified=0 missing=0 received=0
for round in $(seq "$ROUNDS"); do
  pf="$T_TMP/r$round.port"
  if [ $((round % 2)) = 1 ]; then ct=(--ct-log-url ""); else ct=(--ct-log-url "$ct_URL" --ct-log-public-key-path "$T_TMP/log/log.pub"); fi
  setsid "$FULCRUM_BIN" serve --host 127.0.0.1 --port 0 --port-file "$pf" --metrics-port 0 --journal-dir "$J" \
    --ca fileca --config-path "$cfg" --fileca-cert "$T_TMP/ca/chain.pem" --fileca-key "$T_TMP/ca/int.key" \
    --fileca-watch false "${ct[@]}" >"$T_TMP/r$round.log" 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  for _ in $(seq 200); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || { t_bad "round $round: serve did not start: $(tail -3 "$T_TMP/r$round.log")"; continue; }
  : >"$T_TMP/received.$round"
  python3 "$T_TMP/client.py" "http://127.0.0.1:$(cat "$pf")/api/v2/signingCert" "$T_TMP/body.json" \
    "$T_TMP/received.$round" &
  client=$!
  sleep "1.$((RANDOM % 10))"
  kill -KILL -- "-$pid"       # the whole service: its process group
  wait "$pid" 2>/dev/null
  wait "$client"
  out=$("$FULCRUM_BIN" journal verify "$J" 2>&1)
  if [ $? = 0 ]; then verified=$((verified + 1)); else t_bad "round $round: journal verify: $(grep -v '^intent without' <<<"$out" | tail -5)"; fi
  # every certificate received: an outcome with its hash, answering an intent
  python3 - "$J" "$T_TMP/received.$round" >"$T_TMP/check.$round" <<'PY'
import glob, json, sys
outcomes, intents = {}, set()
for f in sorted(glob.glob(sys.argv[1] + "/*.jsonl")):
    for line in open(f):
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a torn last line
        if r["type"] == "intent":
            intents.add(r["seq"])
        elif r["type"] == "outcome" and r["ok"]:
            outcomes[r["cert_sha256"]] = r
got = [l.strip() for l in open(sys.argv[2]) if l.strip()]
bad = [h for h in got if h not in outcomes or outcomes[h]["kind"] != "cert" or outcomes[h]["intent"] not in intents]
print(len(got), len(bad))
PY
  read -r n nbad <"$T_TMP/check.$round"
  received=$((received + n)); missing=$((missing + nbad))
  [ "$nbad" = 0 ] || t_bad "round $round: $nbad of $n certificates received are not in the journal"
done
[ "$verified" = "$ROUNDS" ] && t_ok "$ROUNDS rounds of kill -9 under load: journal verify passed after each" \
  || t_bad "journal verify passed after $verified of $ROUNDS rounds"
[ "$missing" = 0 ] && [ "$received" -ge "$ROUNDS" ] \
  && t_ok "$received certificates received by clients, every one with its intent and outcome in the journal" \
  || t_bad "$missing of $received received certificates missing from the journal"
out=$("$FULCRUM_BIN" journal verify "$J")
files=$(ls "$J"/*.jsonl | wc -l)
[ "$files" -ge "$ROUNDS" ] && t_ok "one chain across $files files: $(tail -1 <<<"$out" | cut -d: -f2-)" \
  || t_bad "files: $files"
t_done
