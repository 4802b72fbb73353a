#!/usr/bin/env bash
# End-to-end run of the real binary: a real redis-server on a free port,
# hotlined with its embedded Kafka broker, SIPp placing calls over UDP and
# TCP, and kcat reading what reached Kafka. Exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
# The test config sits beside the shipped one, so its relative paths
# (prompts, rules, policies, calendar) resolve the same way.
cfg="$PWD/configs/.test-$$.yaml"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" "$cfg"
}
trap cleanup EXIT

fail() {
  echo "e2e: FAIL: $*" >&2
  if [ -f "$work/hotlined.log" ]; then echo "--- hotlined log:" >&2; tail -40 "$work/hotlined.log" >&2; fi
  exit 1
}

# A port free for both TCP and UDP (the daemon's RTP ports are UDP).
free_port() {
  python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port)); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
print(port)'
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null || fail "redis-server did not start"

sip_port=$(free_port)
http_port=$(free_port)
kafka_port=$(free_port)
sed -e "s/^  embedded_listen: .*/  embedded_listen: 127.0.0.1:$kafka_port/" \
    -e 's/^  trusted_sources: \[\]/  trusted_sources: ["127.0.0.1\/32"]/' \
    -e 's/^  answer_delay: 0s/  answer_delay: 300ms/' \
    configs/hotlined.yaml >"$cfg"
bin/hotlined -config "$cfg" -check-config >/dev/null || fail "check-config"

HOTLINED_SIP_LISTEN="udp:127.0.0.1:$sip_port,tcp:127.0.0.1:$sip_port" \
HOTLINED_HTTP_LISTEN="127.0.0.1:$http_port" \
HOTLINED_REDIS_ADDR="127.0.0.1:$redis_port" \
HOTLINED_API_TOKENS="agent:e2e-agent-token" \
HOTLINED_TRANSFER_MODE=refer \
  bin/hotlined -config "$cfg" >"$work/hotlined.log" 2>&1 &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null || fail "hotlined not ready"

events() { # the created events on the GD province topic, one per line
  kcat -C -b "127.0.0.1:$kafka_port" -t hotline.workorders.province.GD -o beginning -e -q \
    -f '%k\t%h\t%s\n' 2>"$work/kcat.err" || true
}
count() { events | grep -c 'ce_type=hotline.workorder.created' || true; }
metric() { curl -s "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# scenario file, transport, source address, new orders expected on Kafka.
# Each run calls from its own number: a second complaint from a number whose
# complaint is still open would urge that order instead of opening one.
caller_n=0
run() {
  local sc=$1 transport=$2 ip=$3 want=$4 before after
  caller_n=$((caller_n + 1))
  printf 'SEQUENTIAL\n1891234%04d;\n' "$caller_n" >"$work/callers-$caller_n.csv"
  before=$(count)
  (cd "$work" && sipp -sf "$OLDPWD/scripts/sipp/$sc.xml" -inf "$work/callers-$caller_n.csv" \
      -s 10000 -m 1 -t "$transport" -i "$ip" -p "$(free_port)" "127.0.0.1:$sip_port" \
      -nostdin -timeout 60s -timeout_error -trace_err >"$work/sipp-$sc-$transport.out" 2>&1) \
    || { cat "$work/sipp-$sc-$transport.out" "$work"/*errors.log 2>/dev/null | tail -30 >&2; fail "SIPp $sc over $transport"; }
  # Orders reach Kafka through the outbox: give the relay a moment.
  for _ in $(seq 50); do after=$(count); [ "$after" -ge $((before + want)) ] && break; sleep 0.1; done
  [ $((after - before)) -eq "$want" ] || fail "$sc: $((after - before)) new orders on Kafka, want $want"
  echo "e2e: $sc over $transport: SIP ok, $want new order(s) on Kafka"
}

run ivr_headers u1 127.0.0.1 1        # upstream IVR headers, transfer accepted (REFER 202, NOTIFY 200)
run ivr_headers t1 127.0.0.1 1        # the same over TCP
run ivr_info u1 127.0.0.1 1           # DTMF by SIP INFO
run ivr_rfc4733 u1 127.0.0.1 1        # DTMF by RFC 4733 in RTP (SIPp's pcaps)
run transfer_refused u1 127.0.0.1 1   # REFER 603: goodbye with the reference, BYE
run late_offer u1 127.0.0.1 1         # INVITE without SDP, answer in the ACK
run no_codec u1 127.0.0.1 0           # G.729 only: 488
run cancel u1 127.0.0.1 0             # CANCEL while it rings: 487
run bye_in_menu u1 127.0.0.1 0        # hang-up in the menu
run untrusted u1 127.0.0.2 0          # outside sip.trusted_sources: 403
run carrier_intl u1 127.0.0.1 1       # tel: Request-URI, +86 numbers, tel: PAI, SIP-I multipart body
run require_100rel u1 127.0.0.1 0     # Require: 100rel: 420 with Unsupported, no 180 first
run hold u1 127.0.0.1 0               # hold/resume re-INVITEs (RFC 3264 directions), offerless UPDATE

for m in 'hotlined_sip_calls_total{outcome="abandoned"} 3' 'hotlined_sip_calls_total{outcome="rejected_no_codec"} 1' \
         'hotlined_sip_calls_total{outcome="rejected_forbidden"} 1' 'hotlined_sip_transfers_total{result="accepted"} 6' \
         'hotlined_sip_calls_total{outcome="rejected_bad_extension"} 1' \
         'hotlined_sip_transfers_total{result="refused"} 1' 'hotlined_workorders_created_total{class="complaint",tier="province"} 6'; do
  [ "$(metric "${m% *}")" = "${m##* }" ] || fail "metric ${m% *} = $(metric "${m% *}"), want ${m##* }"
done
echo "e2e: metrics: abandoned, rejections and transfers as expected"

# What reached Kafka: key, CloudEvents headers and the order, read by kcat.
events | grep 'ce_type=hotline.workorder.created' >"$work/events.tsv"
paths=$(cut -f3 "$work/events.tsv" | jq -r .ivr_path | sort | tr '\n' ' ')
[ "$paths" = "2 41 41 41 41 41 43 " ] || fail "ivr paths on Kafka: $paths"
while IFS=$'\t' read -r key headers value; do
  [[ "$key" =~ ^1891234[0-9]{4}$ ]] || fail "key $key, want the service number"
  for h in ce_specversion=1.0 ce_type=hotline.workorder.created ce_source=/hotlined content-type=application/json; do
    [[ ",$headers," == *",$h,"* ]] || fail "header $h missing in $headers"
  done
  [[ "$headers" =~ ce_id=[0-9a-f-]{36} ]] || fail "no ce_id in $headers"
  id=$(jq -r .id <<<"$value")
  [[ ",$headers," == *",ce_subject=$id,"* ]] || fail "ce_subject is not the order id $id"
  jq -e --arg key "$key" '(.class == "complaint" or .class == "consultation") and .tier == "province" and .province == "GD"
         and .hotline == "10000" and .caller == $key and .status == "new" and .valid == true
         and (.id | test("^WO-[0-9]{8}-GD-[0-9]{10,15}$")) and (.deadlines | length > 0)
         and (.ivr_path != "41" or (.subcategory == "billing" and .service_number == $key))' \
    <<<"$value" >/dev/null || fail "order fields: $value"
  code=$(curl -s -o "$work/order.json" -w '%{http_code}' -H "Authorization: Bearer e2e-agent-token" \
    "http://127.0.0.1:$http_port/v1/workorders/$id")
  [ "$code" = 200 ] && [ "$(jq -r .id "$work/order.json")" = "$id" ] || fail "GET /v1/workorders/$id: $code"
done <"$work/events.tsv"
echo "e2e: 7 orders on hotline.workorders.province.GD with CloudEvents headers, readable over HTTP"

# Personal data stays out of the log.
grep -qE '1891234[0-9]{4}' "$work/hotlined.log" && fail "an unmasked phone number is in the log"
grep -q '189\*\*\*\*0001' "$work/hotlined.log" || fail "no masked number in the log"

# SIGTERM: drain, flush, exit 0.
kill -TERM "$daemon"
wait "$daemon" || fail "hotlined exited non-zero after SIGTERM"
echo "e2e: ok"
