#!/usr/bin/env bash
# make bench-sip: the highest call rate with zero failed calls, hotlined
# against the bare sipgo UAS of bench/uas in the same run, on two paths:
#   info     the caller walks the menu by SIP INFO while the prompts play
#            (scripts/sipp/bench_info.xml)
#   headers  an upstream IVR gives the choice in X-IVR-Path, no prompts
#            (scripts/sipp/bench_headers.xml)
# with a realistic caller mix: every call from a number not seen before,
# except 10% from 10 hot numbers that complain again and again (their open
# complaint is urged). The menu mix: 35% bill queries, 15% consultations,
# 15% fault reports, 35% complaints (billing, network, service); the hot
# callers' calls are billing complaints. hotlined runs for real
# (redis-server, the embedded Kafka broker) with Go's profiler on
# (bench/profiled). The ladder steps up until a step fails, for both
# targets: the bare UAS too, so the ratio is real. A hotlined step fails
# when SIPp counts a failed call or when not every call got its order
# (created or urged) within 15 s. Per step it prints the Redis commands
# per order (INFO commandstats, Lua's calls and background loops included),
# 503s, order failures, and the "too much contention" and "redis
# unreachable" log lines. After each ladder of hotlined, one more run at
# its failing rate is profiled (CPU and goroutines, in $out). Then
# hotlined's resident memory per call with 2,000 calls held in the menu.
#
# Environment: BENCH_SIP_PATHS (default "info headers"), BENCH_SIP_SECONDS
# per step (5), BENCH_SIP_HOT percent of calls from the 10 hot numbers
# (10), BENCH_SIP_RETRY (1: a failed step is tried once more, the box is
# shared), BENCH_SIP_RATES (the ladder), BENCH_SIP_MEMORY (1: the memory run), BENCH_SIP_OUT (where the
# logs, profiles and summary stay; default a new folder under /tmp).
# Every SIPp run is bounded by timeout(1).
set -euo pipefail
cd "$(dirname "$0")/.."
paths=${BENCH_SIP_PATHS:-info headers}
secs=${BENCH_SIP_SECONDS:-5}
hotpct=${BENCH_SIP_HOT:-10}
retry=${BENCH_SIP_RETRY:-1}
out=${BENCH_SIP_OUT:-$(mktemp -d /tmp/bench-sip.XXXXXX)}
mkdir -p "$out"
work=$(mktemp -d)
# The test config sits beside the shipped one, so its relative paths
# (prompts, rules, policies, calendar) resolve the same way.
cfg="$PWD/configs/.test-$$.yaml"
pids=()
sipp_pid=
cleanup() {
  for p in $sipp_pid "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" "$cfg"
}
trap cleanup EXIT
trap "exit 143" INT TERM # so the EXIT trap cleans up after a kill too
# free_ports N: N distinct loopback ports, each free for TCP and UDP now.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); continue
    held += [t, u]; ports.append(port)
print(*ports)
EOF
}
free_port() { free_ports 1; }
say() { echo "$*" | tee -a "$out/summary.txt"; }

go build -o "$work/hotlined" ./bench/profiled
go build -o "$work/uas" ./bench/uas
ulimit -n 65536 2>/dev/null || true

read -r redis_port hot_port uas_port http_port kafka_port pprof_port < <(free_ports 6)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
# SIPp stands for the carriers' SBC: a trusted proxy with a budget (rate,
# unanswered calls) no ladder step reaches, so the steps measure capacity,
# not the flood screen (an untrusted source may hold only 10 unanswered
# calls: 503 "Too Many Unanswered Calls").
sed -e "s/^  embedded_listen: .*/  embedded_listen: 127.0.0.1:$kafka_port/" \
    -e 's/^  rate_per_source: .*/  rate_per_source: 100000/' -e 's/^  burst_per_source: .*/  burst_per_source: 100000/' \
    -e 's/^  max_calls: .*/  max_calls: 20000/' -e 's/^  level: info/  level: warn/' \
    -e 's/^  max_half_open: .*/  max_half_open: 20000/' -e 's/^  max_half_open_per_source: .*/  max_half_open_per_source: 20000/' \
    -e 's|^  trusted_proxies: .*|  trusted_proxies: ["127.0.0.1/32"]|' \
    -e 's/^    rate_per_source: .*/    rate_per_source: 100000/' -e 's/^    burst_per_source: .*/    burst_per_source: 100000/' \
    -e 's/^    max_half_open: .*/    max_half_open: 20000/' \
    configs/hotlined.yaml >"$cfg"
start_hotlined() { # log file
  HOTLINED_SIP_LISTEN="udp:127.0.0.1:$hot_port" HOTLINED_HTTP_LISTEN="127.0.0.1:$http_port" \
  HOTLINED_REDIS_ADDR="127.0.0.1:$redis_port" "$work/hotlined" -config "$cfg" -pprof "127.0.0.1:$pprof_port" >"$1" 2>&1 &
  hot_pid=$!
  pids+=($hot_pid)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "hotlined did not become ready:" >&2; tail -20 "$1" >&2; exit 1
}
start_hotlined "$out/hotlined.log"
"$work/uas" -listen "127.0.0.1:$uas_port" &
pids+=($!)

# callers FILE N: N calls, one a line: number;key1;key2;key3;ivr-path;
# Numbers not seen before come from a counter kept across steps.
echo 0 >"$work/next"
callers() {
  python3 - "$1" "$2" "$hotpct" "$work/next" <<'EOF'
import random, sys
path, n, hotpct, counter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
start = int(open(counter).read())
rnd = random.Random(start)
mix = [(35, ("1", "#", "#", "1")), (15, ("2", "#", "#", "2")), (15, ("3", "1", "#", "31")),
       (12, ("4", "1", "#", "41")), (12, ("4", "2", "#", "42")), (11, ("4", "3", "#", "43"))]
choices = [c for w, c in mix for _ in range(w)]
with open(path, "w") as f:
    f.write("SEQUENTIAL\n")
    for i in range(n):
        if hotpct and rnd.randrange(100) < hotpct:
            number, keys = "1890000%04d" % rnd.randrange(10), ("4", "1", "#", "41")
        else:
            number, keys = "1%010d" % (3000000000 + start), rnd.choice(choices)
            start += 1
        f.write(";".join((number,) + keys) + ";\n")
open(counter, "w").write(str(start))
EOF
}

metric() { # outcome (rejected_ alone: every refusal): a counter of hotlined_sip_calls_total
  curl -s "http://127.0.0.1:$http_port/metrics" | awk -v o="outcome=\"$1" 'index($0, "hotlined_sip_calls_total{") == 1 && index($0, o) {s += $2} END {printf "%d", s}'
}
active() { curl -s "http://127.0.0.1:$http_port/metrics" | awk '$1 == "hotlined_sip_active_calls" {printf "%d", $2}'; }
redis_cmds() { # total commands run by the server so far
  redis-cli -p "$redis_port" info commandstats | awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" {s += $3} END {print s}'
}
redis_top() { # the server's commands since the snapshot in $1, most first
  redis-cli -p "$redis_port" info commandstats | awk -F'[:=,]' '/^cmdstat_/ {print $1, $3}' | sed 's/^cmdstat_//' >"$work/cmds.now"
  awk 'NR == FNR {b[$1] = $2; next} {d = $2 - b[$1]; if (d > 0) print d, $1}' "$1" "$work/cmds.now" | sort -rn | head -6 | awk '{printf "%s %s, ", $2, $1}'
}
snapshot() { redis-cli -p "$redis_port" info commandstats | awk -F'[:=,]' '/^cmdstat_/ {print $1, $3}' | sed 's/^cmdstat_//' >"$1"; }
loglines() { grep -c "$1" "$log" 2>/dev/null || true; }

# sipp_run SCENARIO TARGET RATE: RATE calls/s for $secs seconds
sipp_run() {
  local n=$(($3 * secs))
  callers "$work/callers.csv" "$n"
  rm -f "$work"/*_errors.log
  local rc=0
  # In the background and waited for, so a kill of this script stops it too (cleanup).
  (cd "$work" && exec timeout $((secs + 90)) sipp -sf "$OLDPWD/scripts/sipp/$1" -inf "$work/callers.csv" \
     -s 10000 -r "$3" -m "$n" -l 100000 -i 127.0.0.1 -p "$(free_port)" "$2" -trace_err \
     -nostdin -timeout $((secs + 60))s -timeout_error -recv_timeout 5000 >"$work/sipp.out" 2>&1) &
  sipp_pid=$!
  wait "$sipp_pid" || rc=$?
  sipp_pid=
  if [ "$rc" -ne 0 ]; then # keep SIPp's screen and the first errors of a failed step
    local keep="$out/sipp-${1%.xml}-${2##*:}-$3-$(date +%s).txt"
    { cat "$work/sipp.out"; head -c 20000 "$work"/*_errors.log 2>/dev/null; } >"$keep" || true
  fi
  return "$rc"
}

# attempt_hotlined SCENARIO RATE: 0 when every call passed SIPp and got its order
attempt_hotlined() {
  local scen=$1 rate=$2 n=$(($2 * $secs)) rc=0
  local c0 u0 f0 a0 r0 b0 s0 k0 d0 p0 cmd0
  # Start from a quiet daemon: the calls of an overloaded step may take
  # their orders long after SIPp gave up on them.
  for _ in $(seq 600); do [ "$(active)" = 0 ] && break; sleep 0.2; done
  c0=$(metric order_created) u0=$(metric order_urged) f0=$(metric order_failed) a0=$(metric abandoned)
  r0=$(metric rejected_unavailable) b0=$(metric rejected_) s0=$(metric rejected_storage_busy)
  k0=$(loglines "too much contention") d0=$(loglines "redis unreachable") p0=$(loglines "no free rtp port")
  cmd0=$(redis_cmds); snapshot "$work/cmds.before"
  sipp_run "$scen" "127.0.0.1:$hot_port" "$rate" || rc=$?
  # Orders are taken even after the caller hung up: wait for the calls to end.
  for _ in $(seq 600); do [ "$(active)" = 0 ] && break; sleep 0.1; done
  local left; left=$(active)
  local created=$(($(metric order_created) - c0)) urged=$(($(metric order_urged) - u0))
  local failed=$(($(metric order_failed) - f0)) unavail=$(($(metric rejected_unavailable) - r0)) refused=$(($(metric rejected_) - b0)) busy=$(($(metric rejected_storage_busy) - s0))
  local cont=$(($(loglines "too much contention") - k0)) down=$(($(loglines "redis unreachable") - d0))
  local abandoned=$(($(metric abandoned) - a0)) noport=$(($(loglines "no free rtp port") - p0))
  local taken=$((created + urged)) cmds=$(($(redis_cmds) - cmd0))
  local per=0
  [ "$taken" -gt 0 ] && per=$(python3 -c "print(round($cmds/$taken, 1))")
  local verdict=ok
  { [ "$rc" -ne 0 ] || [ "$taken" -ne "$n" ]; } && verdict=FAIL
  say "    hotlined $rate/s: $verdict  sipp rc $rc, $taken/$n orders ($urged urged; ${left:-?} calls still up 60 s after SIPp), $failed order failures, $abandoned abandoned (BYE before the menu took the keys), $refused refused ($busy of them 503 storage busy: work orders queued for Redis at sip.max_pending_orders; $unavail 503 unavailable: Redis down by the health check, or no RTP port for $noport)," \
      "$cont contention retries logged, $down 'redis unreachable'; Redis $per commands/order: $(redis_top "$work/cmds.before")"
  [ "$verdict" = ok ]
}
attempt_uas() { # SCENARIO RATE
  local rc=0
  sipp_run "$1" "127.0.0.1:$uas_port" "$2" || rc=$?
  local verdict=ok
  [ "$rc" -ne 0 ] && verdict=FAIL
  say "    bare UAS $2/s: $verdict  sipp rc $rc"
  [ "$rc" -eq 0 ]
}
rates=${BENCH_SIP_RATES:-25 50 100 200 300 400 500 600 800 1000 1400 2000 2800 4000 5600 8000 11200 16000}
highest() { # attempt-function scenario: echoes the highest passing rate, then the failing one
  local best=0 failed=none
  for rate in $rates; do
    if "$1" "$2" "$rate" >&2; then best=$rate; continue; fi
    if [ "$retry" -ge 1 ] && { say "    (trying $rate/s again: the machine is shared)" >&2; "$1" "$2" "$rate" >&2; }; then best=$rate; continue; fi
    failed=$rate
    break
  done
  echo "$best $failed"
}

log="$out/hotlined.log"
say "bench-sip $(date -u +%FT%TZ), $secs s a step, ${hotpct}% of calls from 10 hot numbers; $(nproc) cores; at start: $(uptime)"
for path in $paths; do
  case $path in
    info) scen=bench_info.xml ;;
    headers) scen=bench_headers.xml ;;
    *) echo "unknown path $path" >&2; exit 2 ;;
  esac
  say "path $path ($scen), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  highest attempt_hotlined "$scen" >"$work/highest" # not in a subshell: a kill must reach its SIPp
  read -r hot hot_fail <"$work/highest"
  say "  load after hotlined: $(cut -d' ' -f1-3 /proc/loadavg)"
  highest attempt_uas "$scen" >"$work/highest"
  read -r uas uas_fail <"$work/highest"
  say "  load after the bare UAS: $(cut -d' ' -f1-3 /proc/loadavg)"
  ratio=n/a
  [ "$uas" -gt 0 ] && ratio=$(python3 -c "print(round($hot/$uas, 2))")
  # The hot callers' open orders grow with every urge (history, reasons).
  big=$(for n in $(seq 0 9); do
          k=$(redis-cli -p "$redis_port" --scan --pattern "hotlined:*:customer:1890000000$n:orders" | head -1)
          [ -n "$k" ] || continue
          for id in $(redis-cli -p "$redis_port" zrange "$k" 0 -1); do
            redis-cli -p "$redis_port" strlen "${k%%:customer:*}:wo:$id" # an order sits in its customer's shard
          done
        done | sort -n | tail -1)
  hotorders=$(for n in $(seq 0 9); do
          k=$(redis-cli -p "$redis_port" --scan --pattern "hotlined:*:customer:1890000000$n:orders" | head -1)
          [ -n "$k" ] && redis-cli -p "$redis_port" zcard "$k"
        done | awk '{s += $1} END {print s}')
  say "  the hot callers' orders: ${hotorders:-?} for 10 numbers; the largest ${big:-?} bytes of JSON"
  say "  $path: hotlined $hot calls/s (failed at $hot_fail), bare UAS $uas calls/s (failed at $uas_fail), ratio $ratio"
  if [ "$hot_fail" != none ]; then
    # Profile a run at the rate that failed: CPU for most of it, the
    # goroutines in the middle (where they wait).
    curl -s -o "$out/$path-cpu.pprof" "http://127.0.0.1:$pprof_port/debug/pprof/profile?seconds=$((secs + 2))" &
    prof=$!
    (sleep $((secs / 2 + 1)); curl -s -o "$out/$path-goroutines.txt" "http://127.0.0.1:$pprof_port/debug/pprof/goroutine?debug=1") &
    gor=$!
    say "  profiled run at $hot_fail/s:"
    attempt_hotlined "$scen" "$hot_fail" || true
    wait "$prof" "$gor" || true
    go tool pprof -top -nodecount=40 "$work/hotlined" "$out/$path-cpu.pprof" >"$out/$path-cpu-top.txt" 2>/dev/null || true
    go tool pprof -top -cum -nodecount=60 "$work/hotlined" "$out/$path-cpu.pprof" >"$out/$path-cpu-cum.txt" 2>/dev/null || true
    say "  profile: $out/$path-cpu.pprof (top: $out/$path-cpu-top.txt), goroutines: $out/$path-goroutines.txt"
  fi
done

[ "${BENCH_SIP_MEMORY:-1}" = 1 ] || { say "results in $out"; exit 0; }
# Memory: 2,000 calls held in the menu (prompts playing), against the RSS
# of a fresh daemon that has taken no call yet.
kill "$hot_pid"; wait "$hot_pid" 2>/dev/null || true
start_hotlined "$out/hotlined2.log"
rss() { awk '/VmRSS/ {print $2}' "/proc/$hot_pid/status"; }
sleep 2
idle=$(rss)
(cd "$work" && exec timeout 200 sipp -sf "$OLDPWD/scripts/sipp/bench_hold.xml" -inf "$OLDPWD/scripts/sipp/callers.csv" \
   -s 10000 -r 200 -m 2000 -l 2000 -i 127.0.0.1 -p "$(free_port)" "127.0.0.1:$hot_port" \
   -nostdin -timeout 120s >"$work/hold.out" 2>&1) &
hold=$!
pids+=($hold)
n=0
for _ in $(seq 60); do
  n=$(active)
  [ "${n:-0}" -ge 2000 ] && break
  sleep 0.5
done
sleep 2
held=$(rss)
say "resident memory: idle ${idle} KiB, with ${n} calls in the menu ${held} KiB:" \
    "$(( (held - idle) / n )) KiB per call"
wait "$hold" || echo "(some held calls failed; see SIPp output)"
say "results in $out"
