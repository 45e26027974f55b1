#!/usr/bin/env bash
# Crash safety of fulcrum ctlog: under a submission load (parallel curl
# loops), kill -9 the log at random moments, restart it on the same
# storage directory, and check with the independent Go reader that every
# acknowledged SCT's entry is in the tree at its leaf_index (inclusion
# proof of the leaf hash rebuilt from the chain and the SCT), and that the
# new checkpoint is consistent with the last one published before the
# kill. 20+ rounds.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/ctlog-lib.sh"

command -v openssl >/dev/null || t_skip "openssl is needed"
ct_need_reader

ROUNDS=${CTLOG_CRASH_ROUNDS:-20}
WORKERS=16
ca="$T_TMP/ca"
ct_make_ca "$ca"
store="$T_TMP/store"
acks="$T_TMP/acks.jsonl"
: >"$acks"
"$CT_READER" gen -issuer-cert "$ca/inter.pem" -issuer-key "$ca/inter.key" -root "$ca/root.pem" \
  -n $((ROUNDS * 400)) -precert -out "$T_TMP/bodies.jsonl" || { t_bad "gen"; t_done; exit 1; }

verify() { # OLD_CHECKPOINT LOG
  "$CT_READER" verify -url "$CT_URL" -log-key "$ca/log.pub" -origin "$CT_ORIGIN" \
    -subs "$acks" ${1:+-old "$1"} >"$2" 2>&1
}

fails=0
for round in $(seq "$ROUNDS"); do
  ct_start log "$store" "$ca/root.pem" "$ca/log.key" --batch-max-age 20ms --batch-max-size 64 \
    || { t_bad "round $round: the log did not restart"; fails=$((fails + 1)); break; }
  CT_URL=$log_URL
  # after a restart: everything acknowledged so far is there, and the tree
  # extends the last checkpoint published before the kill
  if [ "$round" -gt 1 ]; then
    if ! verify "$T_TMP/cp-before-kill" "$T_TMP/verify.log"; then
      t_bad "round $round: after restart: $(tail -3 "$T_TMP/verify.log")"
      fails=$((fails + 1))
      break
    fi
  fi
  # load: WORKERS curl loops over this round's bodies, each recording the
  # answers it received in full
  sed -n "$(((round - 1) * 400 + 1)),$((round * 400))p" "$T_TMP/bodies.jsonl" >"$T_TMP/round.jsonl"
  # ... plus a few already acknowledged ones (duplicates must get their SCT)
  split -n "l/$WORKERS" -d -a 2 "$T_TMP/round.jsonl" "$T_TMP/part."
  rm -f "$T_TMP/stop"
  pids=()
  for part in "$T_TMP"/part.[0-9][0-9]; do
    (
      while IFS= read -r line && [ ! -e "$T_TMP/stop" ]; do
        resp=$(curl -sS -f --max-time 5 --data-binary "$line" "$CT_URL/ct/v1/add-pre-chain" 2>/dev/null) || continue
        printf '{"precert":true,"body":%s,"sct":%s}\n' "$line" "$resp"
      done <"$part" >"$part.acks"
    ) &
    pids+=($!)
  done
  # kill -9 at a random moment between 50 ms and 1 s into the load
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.05 + (r % 950) / 1000 }')"
  kill -KILL "$log_PID"
  wait "$log_PID" 2>/dev/null
  touch "$T_TMP/stop"
  wait "${pids[@]}"
  cat "$T_TMP"/part.[0-9][0-9].acks >>"$acks"
  rm -f "$T_TMP"/part.[0-9][0-9] "$T_TMP"/part.[0-9][0-9].acks
  cp "$store/checkpoint" "$T_TMP/cp-before-kill"
  echo "round $round: killed at tree size $(sed -n 2p "$T_TMP/cp-before-kill"), $(wc -l <"$acks") acknowledged in all"
done

if [ "$fails" = 0 ]; then
  t_ok "$ROUNDS kill -9 rounds: after each restart every acknowledged SCT was included and the tree consistent"
  # a last restart and a final check
  ct_start log "$store" "$ca/root.pem" "$ca/log.key" || exit 1
  CT_URL=$log_URL
  if verify "$T_TMP/cp-before-kill" "$T_TMP/verify.log"; then
    t_ok "final: $(grep inclusion "$T_TMP/verify.log" | cut -c1-120)"
  else
    t_bad "final: $(tail -3 "$T_TMP/verify.log")"
  fi
  n=$(wc -l <"$acks")
  [ "$n" -ge $((ROUNDS * 10)) ] && t_ok "$n submissions acknowledged under load" \
    || t_bad "only $n submissions acknowledged: the load did not run"
  # duplicates of acknowledged entries get their original SCT back
  head -5 "$acks" | while IFS= read -r l; do
    body=$(jq -c .body <<<"$l")
    want=$(jq -c .sct <<<"$l")
    got=$(curl -sS -f --data-binary "$body" "$CT_URL/ct/v1/add-pre-chain" | jq -c .)
    [ "$got" = "$want" ] || echo "MISMATCH"
  done >"$T_TMP/dups.log"
  grep -q MISMATCH "$T_TMP/dups.log" && t_bad "resubmission after crashes got a different SCT" \
    || t_ok "resubmissions after the crashes get their original SCT"
fi
grep -h "cutting off\|publishing" "$T_TMP/log.ctlog.log" | sort | uniq -c | sed 's/^/  log: /' | head -5
t_done
