#!/usr/bin/env bash
# End-to-end run of the real binary: a real redis-server on a free port,
# hotlined with its embedded Kafka broker, SIPp placing calls over UDP and
# TCP, and kcat reading what reached Kafka. Exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "e2e: FAIL: $*" >&2
  if [ -f "$work/hotlined.log" ]; then echo "--- hotlined log:" >&2; tail -40 "$work/hotlined.log" >&2; fi
  exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null || fail "redis-server did not start"

sip_port=$(free_port)
http_port=$(free_port)
kafka_port=$(free_port)
sed -e "s/^  embedded_listen: .*/  embedded_listen: 127.0.0.1:$kafka_port/" \
    -e "s|^  prompts: prompts |  prompts: $PWD/configs/prompts |" configs/hotlined.yaml >"$work/hotlined.yaml"
bin/hotlined -config "$work/hotlined.yaml" -check-config >/dev/null || fail "check-config"

HOTLINED_SIP_LISTEN="udp:127.0.0.1:$sip_port,tcp:127.0.0.1:$sip_port" \
HOTLINED_HTTP_LISTEN="127.0.0.1:$http_port" \
HOTLINED_REDIS_ADDR="127.0.0.1:$redis_port" \
HOTLINED_API_TOKENS="agent:e2e-agent-token" \
  bin/hotlined -config "$work/hotlined.yaml" >"$work/hotlined.log" 2>&1 &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null || fail "hotlined not ready"

# One call over UDP, one over TCP, each with the upstream IVR's headers.
for transport in u1 t1; do
  (cd "$work" && sipp -sf "$OLDPWD/scripts/sipp/ivr_headers.xml" -s 10000 -m 1 -t "$transport" \
      -i 127.0.0.1 -p "$(free_port)" "127.0.0.1:$sip_port" \
      -nostdin -timeout 20s -timeout_error -trace_err >"$work/sipp-$transport.out" 2>&1) \
    || { cat "$work/sipp-$transport.out" "$work"/*errors.log 2>/dev/null | tail -20 >&2; fail "SIPp call over $transport"; }
  echo "e2e: SIPp call over $transport: ok"
done

# What reached Kafka: key, CloudEvents headers and the order, read by kcat.
kcat -C -b "127.0.0.1:$kafka_port" -t hotline.workorders.province.GD -o beginning -e -q \
  -f '%k\t%h\t%s\n' >"$work/events.tsv" 2>"$work/kcat.err" || fail "kcat: $(cat "$work/kcat.err")"
count=$(wc -l <"$work/events.tsv")
[ "$count" -eq 2 ] || fail "want 2 events on hotline.workorders.province.GD, got $count"

while IFS=$'\t' read -r key headers value; do
  [ "$key" = "18912345678" ] || fail "key $key, want the service number"
  for h in ce_specversion=1.0 ce_type=hotline.workorder.created ce_source=/hotlined content-type=application/json; do
    [[ ",$headers," == *",$h,"* ]] || fail "header $h missing in $headers"
  done
  [[ "$headers" =~ ce_id=[0-9a-f-]{36} ]] || fail "no ce_id in $headers"
  id=$(jq -r .id <<<"$value")
  [[ ",$headers," == *",ce_subject=$id,"* ]] || fail "ce_subject is not the order id $id"
  jq -e '.class == "complaint" and .category == "complaint" and .subcategory == "billing"
         and .tier == "province" and .province == "GD" and .hotline == "10000" and .ivr_path == "41"
         and .caller == "18912345678" and .service_number == "18912345678" and .status == "new"
         and .valid == true and (.id | test("^WO-[0-9]{8}-GD-[0-9]{6}$")) and (.deadlines.register | length > 0)' \
    <<<"$value" >/dev/null || fail "order fields: $value"
  code=$(curl -s -o "$work/order.json" -w '%{http_code}' -H "Authorization: Bearer e2e-agent-token" \
    "http://127.0.0.1:$http_port/v1/workorders/$id")
  [ "$code" = 200 ] && [ "$(jq -r .id "$work/order.json")" = "$id" ] || fail "GET /v1/workorders/$id: $code"
  echo "e2e: $id on hotline.workorders.province.GD with CloudEvents headers: ok"
done <"$work/events.tsv"

# Personal data stays out of the log.
grep -q '18912345678' "$work/hotlined.log" && fail "an unmasked phone number is in the log"
grep -q '189\*\*\*\*5678' "$work/hotlined.log" || fail "no masked number in the log"

# SIGTERM: drain, flush, exit 0.
kill -TERM "$daemon"
wait "$daemon" || fail "hotlined exited non-zero after SIGTERM"
echo "e2e: ok"
