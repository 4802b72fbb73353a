#!/usr/bin/env bash
# make bench-sip: the highest call rate with zero failed calls for SIPp's
# INFO-DTMF scenario (scripts/sipp/bench_info.xml), against hotlined (real
# redis-server, embedded Kafka) and, in the same run, against the bare
# sipgo UAS of bench/uas; then hotlined's resident memory per call with
# 2,000 calls held in the menu.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
# The test config sits beside the shipped one, so its relative paths
# (prompts, rules, policies, calendar) resolve the same way.
cfg="$PWD/configs/.test-$$.yaml"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work" "$cfg"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/hotlined" ./cmd/hotlined
go build -o "$work/uas" ./bench/uas
ulimit -n 65536 2>/dev/null || true

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
hot_port=$(free_port) uas_port=$(free_port) http_port=$(free_port) kafka_port=$(free_port)
sed -e "s/^  embedded_listen: .*/  embedded_listen: 127.0.0.1:$kafka_port/" \
    -e 's/^  rate_per_source: .*/  rate_per_source: 100000/' -e 's/^  burst_per_source: .*/  burst_per_source: 100000/' \
    -e 's/^  max_calls: .*/  max_calls: 10000/' -e 's/^  level: info/  level: warn/' \
    configs/hotlined.yaml >"$cfg"
HOTLINED_SIP_LISTEN="udp:127.0.0.1:$hot_port" HOTLINED_HTTP_LISTEN="127.0.0.1:$http_port" \
HOTLINED_REDIS_ADDR="127.0.0.1:$redis_port" "$work/hotlined" -config "$cfg" >"$work/hotlined.log" 2>&1 &
hot_pid=$!
pids+=($hot_pid)
"$work/uas" -listen "127.0.0.1:$uas_port" &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

# rate: calls per second for 5 seconds; success = SIPp's exit 0 (no failed call)
attempt() { # target rate
  (cd "$work" && timeout 120 sipp -sf "$OLDPWD/scripts/sipp/bench_info.xml" -inf "$OLDPWD/scripts/sipp/callers.csv" \
     -s 10000 -r "$2" -m $(($2 * 5)) -l 100000 -i 127.0.0.1 -p "$(free_port)" "$1" \
     -nostdin -timeout 60s -timeout_error -recv_timeout 5000 >"$work/sipp.out" 2>&1)
}
highest() { # target
  local best=0
  for rate in 25 50 100 200 300 400 500 600 800 1000 1400 2000 2800; do
    if attempt "$1" "$rate"; then best=$rate; else break; fi
  done
  echo "$best"
}
hot=$(highest "127.0.0.1:$hot_port")
uas=$(highest "127.0.0.1:$uas_port")
echo "highest rate with zero failed calls (INFO-DTMF scenario, 5 s at each rate):"
echo "  hotlined:          $hot calls/s"
echo "  bare sipgo UAS:    $uas calls/s"
[ "$uas" -gt 0 ] && echo "  ratio hotlined/bare: $(python3 -c "print(round($hot/$uas, 2))")"

# Memory: 2,000 calls held in the menu (prompts playing), against the RSS
# of a fresh daemon that has taken no call yet.
kill "$hot_pid"; wait "$hot_pid" 2>/dev/null || true
HOTLINED_SIP_LISTEN="udp:127.0.0.1:$hot_port" HOTLINED_HTTP_LISTEN="127.0.0.1:$http_port" \
HOTLINED_REDIS_ADDR="127.0.0.1:$redis_port" "$work/hotlined" -config "$cfg" >"$work/hotlined2.log" 2>&1 &
hot_pid=$!
pids+=($hot_pid)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$hot_pid/status"; }
sleep 2
idle=$(rss)
(cd "$work" && timeout 200 sipp -sf "$OLDPWD/scripts/sipp/bench_hold.xml" -inf "$OLDPWD/scripts/sipp/callers.csv" \
   -s 10000 -r 200 -m 2000 -l 2000 -i 127.0.0.1 -p "$(free_port)" "127.0.0.1:$hot_port" \
   -nostdin -timeout 120s >"$work/hold.out" 2>&1) &
hold=$!
active=0
for _ in $(seq 60); do
  active=$(curl -s "http://127.0.0.1:$http_port/metrics" | awk '$1 == "hotlined_sip_active_calls" {print $2}')
  [ "${active%.*}" -ge 2000 ] && break
  sleep 0.5
done
sleep 2
held=$(rss)
echo "resident memory: idle ${idle} KiB, with ${active} calls in the menu ${held} KiB:" \
     "$(( (held - idle) / ${active%.*} )) KiB per call"
wait "$hold" || echo "(some held calls failed; see SIPp output)"
