#!/usr/bin/env bash
# Two fulcrum serve replicas sharing their rate limits through one real
# redis-server (started here on loopback, with its own port, socket and
# directory; always stopped): the burst holds across both replicas, each
# check is one script call, keys are hashed and expire; Redis killed
# mid-run: issuance goes on with each replica's own limit (logged once,
# counted); Redis back: the limit is shared again.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"
command -v redis-server >/dev/null || t_skip "redis-server not installed (.ci/install-deps)"
command -v redis-cli >/dev/null || t_skip "redis-cli not installed (.ci/install-deps)"

RPORT=$(t_free_port)
RSOCK="$T_TMP/redis/redis.sock"
DB=3
mkdir -p "$T_TMP/redis"
rcli() { redis-cli -p "$RPORT" -n "$DB" "$@"; }
redis_start() {
  # The socket is writable by all: started as root, fulcrum serve's network
  # process runs as nobody (docs/signer.md) and connects as nobody.
  redis-server --port "$RPORT" --bind 127.0.0.1 --unixsocket "$RSOCK" --unixsocketperm 777 \
    --dir "$T_TMP/redis" --save "" --appendonly no --daemonize no --logfile "$T_TMP/redis.log" &
  REDIS_PID=$!
  T_PIDS+=("$REDIS_PID")
  for _ in $(seq 100); do rcli ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done
  echo "redis-server did not start:"; cat "$T_TMP/redis.log"; exit 1
}
redis_start

issuer_start idp
cfg="$T_TMP/config.json"
jq -n --arg u "$idp_URL" '{OIDCIssuers: {($u): {IssuerURL: $u, ClientID: "sigstore", Type: "email"}}}' >"$cfg"
BURST=5
rl="$T_TMP/ratelimit.yaml"
# 6/hour: no token comes back during the test. The reply timeout is
# generous here so that a loaded test machine is not taken for an outage.
cat >"$rl" <<EOF
default:
  identity: {rate: 6/hour, burst: $BURST}
overrides:
  - {issuer: "$idp_URL", subject: warm@example.com, rate: 1000/second, burst: 10000}
redis-timeout-ms: 1000
EOF
ma=$(t_free_port)
mb=$(t_free_port)
# Replica a over TCP, replica b over the unix socket: the same Redis.
serve_start a --ca ephemeralca --config-path "$cfg" --rate-limit-config "$rl" --metrics-port "$ma" \
  --rate-limit-redis "redis://127.0.0.1:$RPORT/$DB" || exit 1
serve_start b --ca ephemeralca --config-path "$cfg" --rate-limit-config "$rl" --metrics-port "$mb" \
  --rate-limit-redis "$RSOCK?db=$DB" || exit 1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_TMP/key.pem" 2>/dev/null

email_token() { mint "$idp_URL" "{\"claims\":{\"sub\":\"$1-sub\",\"email\":\"$1\",\"email_verified\":true}}"; }
# sign URL TOKEN EMAIL: sets H_STATUS, H_BODY, H_RETRY.
sign() {
  http POST "$1/api/v2/signingCert" "$(v2_body "$2" "$T_TMP/key.pem" "$3")"
  H_RETRY=$(grep -i '^retry-after:' "$T_TMP/http.hdr" | cut -d' ' -f2- | tr -d '\r')
}
# alternate EMAIL N: N requests, a and b in turn; sets SERVED_A, SERVED_B, REFUSED.
alternate() {
  local tok i url
  tok=$(email_token "$1")
  SERVED_A=0 SERVED_B=0 REFUSED=0
  for i in $(seq "$2"); do
    if [ $((i % 2)) = 1 ]; then url=$a_URL; else url=$b_URL; fi
    sign "$url" "$tok" "$1"
    case "$H_STATUS:$url" in
      200:"$a_URL") SERVED_A=$((SERVED_A + 1)) ;;
      200:"$b_URL") SERVED_B=$((SERVED_B + 1)) ;;
      429:*) REFUSED=$((REFUSED + 1)) ;;
      *) echo "unexpected answer $H_STATUS $H_BODY" ;;
    esac
  done
}
metric() { # PORT NAME: the value of an unlabelled metric
  curl -fsS --max-time 10 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'
}
evals() { # calls of EVALSHA and EVAL so far
  redis-cli -p "$RPORT" info commandstats | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_(evalsha|eval):/ {n += $3} END {print n + 0}'
}

# --- the limit is shared: the burst across both replicas, not per replica
e0=$(evals)
alternate alice@example.com 12
[ $((SERVED_A + SERVED_B)) = "$BURST" ] && [ "$SERVED_A" -ge 1 ] && [ "$SERVED_B" -ge 1 ] && [ "$REFUSED" = 7 ] \
  && t_ok "shared: $SERVED_A + $SERVED_B certificates across both replicas = the burst of $BURST, 7 refused" \
  || t_bad "shared: a served $SERVED_A, b served $SERVED_B, $REFUSED refused (want $BURST in all)"
[ "$H_STATUS" = 429 ] && [[ "$H_RETRY" =~ ^(59[0-9]|600)$ ]] && echo "$H_BODY" | jq -e '.code == 8' >/dev/null \
  && t_ok "the 429 says to retry in $H_RETRY s (6/hour)" || t_bad "last answer: $H_STATUS Retry-After=$H_RETRY $H_BODY"
calls=$(( $(evals) - e0 ))
[ "$calls" -ge 12 ] && [ "$calls" -le 14 ] && t_ok "12 checks, $calls script calls (EVALSHA; EVAL once when Redis lacked the script)" \
  || t_bad "12 checks made $calls script calls"
alternate bob@example.com 2
[ "$SERVED_A" = 1 ] && [ "$SERVED_B" = 1 ] && t_ok "bob is served by both while alice is limited" \
  || t_bad "bob: a $SERVED_A, b $SERVED_B"
keys=$(rcli --scan --pattern 'fulcrum:rl:*' | sort)
n=$(grep -c . <<<"$keys")
k=$(head -1 <<<"$keys")
ttl=$(rcli pttl "$k")
[ "$n" = 2 ] && [[ "$k" =~ ^fulcrum:rl:[0-9a-f]{32}$ ]] && [ "$ttl" -gt 0 ] && [ "$ttl" -le $((BURST * 600 * 1000)) ] \
  && t_ok "redis db $DB holds 2 hashed keys, expiring within the burst window (pttl $ttl ms)" \
  || t_bad "redis keys: $keys (pttl $ttl)"
redis-cli -p "$RPORT" -n "$DB" --scan | grep -q example.com && t_bad "an identity is in clear in redis" \
  || t_ok "no identity in clear in redis"

# --- redis killed mid-run: issuance goes on, each replica on its own limit
{ kill -KILL "$REDIS_PID"; wait "$REDIS_PID"; } 2>/dev/null
start=$(date +%s%N)
alternate carol@example.com 14
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$SERVED_A" = "$BURST" ] && [ "$SERVED_B" = "$BURST" ] && [ "$REFUSED" = 4 ] \
  && t_ok "redis down: each replica serves carol its own burst ($SERVED_A + $SERVED_B), then 429" \
  || t_bad "redis down: a served $SERVED_A, b served $SERVED_B, $REFUSED refused (want $BURST each)"
[ "$ms" -lt 10000 ] && t_ok "14 requests in $ms ms during the outage" || t_bad "14 requests took $ms ms"
for r in a b; do
  n=$(grep -c "checking this replica's own limits" "$T_TMP/$r.serve.log")
  [ "$n" = 1 ] && t_ok "replica $r logged the outage once" || t_bad "replica $r logged the outage $n times"
done
[ "$(metric "$ma" fulcrum_rate_limit_redis_up)" = 0 ] && [ "$(metric "$ma" fulcrum_rate_limit_redis_outages_total)" = 1 ] \
  && [ "$(metric "$ma" fulcrum_rate_limit_redis_fallbacks_total)" -ge 7 ] \
  && t_ok "metrics: redis down, 1 outage, $(metric "$ma" fulcrum_rate_limit_redis_fallbacks_total) checks in memory" \
  || t_bad "metrics during the outage: $(curl -fsS "http://127.0.0.1:$ma/metrics" | grep redis)"

# --- redis back: shared again (a fresh, empty Redis: limits start over)
redis_start
up=0
for _ in $(seq 40); do
  sign "$a_URL" "$(email_token warm@example.com)" warm@example.com
  sign "$b_URL" "$(email_token warm@example.com)" warm@example.com
  [ "$(metric "$ma" fulcrum_rate_limit_redis_up)" = 1 ] && [ "$(metric "$mb" fulcrum_rate_limit_redis_up)" = 1 ] && { up=1; break; }
  sleep 0.5
done
[ "$up" = 1 ] && t_ok "both replicas use redis again" || t_bad "redis_up still 0 after 20 s"
for r in a b; do
  grep -q "answers again after .* limits are shared again" "$T_TMP/$r.serve.log" \
    && t_ok "replica $r logged the end of the outage" || t_bad "replica $r did not log the end of the outage"
done
alternate dan@example.com 12
[ $((SERVED_A + SERVED_B)) = "$BURST" ] && [ "$REFUSED" = 7 ] \
  && t_ok "shared again: $SERVED_A + $SERVED_B = the burst of $BURST across both replicas" \
  || t_bad "after the outage: a served $SERVED_A, b served $SERVED_B, $REFUSED refused"
[ "$(metric "$mb" fulcrum_rate_limit_redis_outages_total)" = 1 ] && t_ok "still one outage counted" \
  || t_bad "outages: $(metric "$mb" fulcrum_rate_limit_redis_outages_total)"

t_done
