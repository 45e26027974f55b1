#!/usr/bin/env bash
# fulcrum ctlog survives its signer process dying under load: kill -9 the
# signer (the supervisor starts another) several times while parallel
# curl loops submit precertificates. The batches whose SCTs could not be
# signed are answered 503 and their indices given again, so the log keeps
# taking submissions: after each kill it answers 200 again within a few
# seconds, and at the end the independent Go reader finds every
# acknowledged SCT's entry in the tree at its leaf_index, with a tree
# consistent with the checkpoint taken before the kills.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/ctlog-lib.sh"

command -v openssl >/dev/null || t_skip "openssl is needed"
ct_need_reader

KILLS=${CTLOG_SIGNER_KILLS:-5}
WORKERS=8
ca="$T_TMP/ca"
ct_make_ca "$ca"
store="$T_TMP/store"
acks="$T_TMP/acks.jsonl"
: >"$acks"
"$CT_READER" gen -issuer-cert "$ca/inter.pem" -issuer-key "$ca/inter.key" -root "$ca/root.pem" \
  -n $(((KILLS + 1) * 300)) -precert -out "$T_TMP/bodies.jsonl" || { t_bad "gen"; t_done; exit 1; }

ct_start log "$store" "$ca/root.pem" "$ca/log.key" --batch-max-age 20ms --batch-max-size 32 \
  || { t_bad "the log did not start"; t_done; exit 1; }
CT_URL=$log_URL

# signer_pid: the signer process (a child of the supervisor, a child of the
# log's network process).
signer_pid() {
  local c g
  for c in $(pgrep -P "$log_PID"); do
    for g in $(pgrep -P "$c"); do
      [ "$(cat "/proc/$g/comm" 2>/dev/null)" = fulcrum-signer ] && { echo "$g"; return 0; }
    done
  done
  return 1
}

# wait_accepting: one new submission gets its SCT within 15 s.
wait_accepting() {
  local line=$1 i
  for i in $(seq 150); do
    if resp=$(curl -sS -f --max-time 5 --data-binary "$line" "$CT_URL/ct/v1/add-pre-chain" 2>/dev/null); then
      printf '{"precert":true,"body":%s,"sct":%s}\n' "$line" "$resp" >>"$acks"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

first=$(signer_pid) || { t_bad "no signer process under the log"; t_done; exit 1; }
curl -fsS --max-time 5 "$CT_URL/checkpoint" >"$T_TMP/cp-start"
head -n $((KILLS * 300)) "$T_TMP/bodies.jsonl" >"$T_TMP/load.jsonl"
split -n "l/$WORKERS" -d -a 2 "$T_TMP/load.jsonl" "$T_TMP/part."
pids=()
for part in "$T_TMP"/part.[0-9][0-9]; do
  (
    while IFS= read -r line; do
      resp=$(curl -sS -f --max-time 5 --data-binary "$line" "$CT_URL/ct/v1/add-pre-chain" 2>/dev/null) || continue
      printf '{"precert":true,"body":%s,"sct":%s}\n' "$line" "$resp"
    done <"$part" >"$part.acks"
  ) &
  pids+=($!)
done

spare=$((KILLS * 300))
recovered=0
for k in $(seq "$KILLS"); do
  sleep 0.7
  pid=$(signer_pid) || { t_bad "kill $k: no signer process"; break; }
  kill -KILL "$pid"
  spare=$((spare + 1))
  if wait_accepting "$(sed -n "${spare}p" "$T_TMP/bodies.jsonl")"; then
    recovered=$((recovered + 1))
  else
    t_bad "kill $k: the log took no submission within 15 s: $(tail -3 "$T_TMP/log.ctlog.log")"
  fi
done
wait "${pids[@]}"
cat "$T_TMP"/part.[0-9][0-9].acks >>"$acks"
[ "$recovered" = "$KILLS" ] && t_ok "$KILLS kill -9 of the signer under load: each time the log took submissions again"
now=$(signer_pid) && [ "$now" != "$first" ] && t_ok "the supervisor started a new signer process (pid $first -> $now)" \
  || t_bad "no new signer process"
grep -q "not sequenced, answered 503" "$T_TMP/log.ctlog.log" \
  && t_ok "batches without signatures were answered 503 and their indices given again" \
  || echo "note: no batch was caught without its signature this run"
if grep -q "no longer accepting" "$T_TMP/log.ctlog.log"; then
  t_bad "the log stopped taking submissions: $(grep "no longer accepting" "$T_TMP/log.ctlog.log" | head -1)"
fi
n=$(wc -l <"$acks")
if "$CT_READER" verify -url "$CT_URL" -log-key "$ca/log.pub" -origin "$CT_ORIGIN" -subs "$acks" \
  -old "$T_TMP/cp-start" >"$T_TMP/verify.log" 2>&1; then
  t_ok "Go reader: all $n acknowledged SCTs included at their index, tree consistent: $(grep inclusion "$T_TMP/verify.log" | cut -c1-100)"
else
  t_bad "Go reader: $(tail -3 "$T_TMP/verify.log")"
fi
t_done
