#!/usr/bin/env bash
# The shop service before/after: the same HTTP endpoints on flashsale
# (--mode=library) and directly in PostgreSQL (--mode=postgres: row lock on
# the coupon and stock rows, a primary key per coupon and user), run back to
# back, each with its own private PostgreSQL and redis-server, loaded with wrk
# in a ramp (8 -> 32 -> 64 connections) and a 100-connection burst per
# endpoint. After every coupon and order run the service's check endpoint
# verifies the sale (no SKU out of balance, i.e. no oversell; one coupon row
# per user and per issued unit; confirmed units == order rows == outbox
# records, all published) and the answers wrk counted must agree with the rows
# (acknowledged <= stored <= acknowledged + connections: wrk stops with
# requests in flight).
#
#   bash bench/shop_before_after.sh [build/ci/examples/shop_service/shop_service]
#
# SHOP_BENCH_SECONDS (default 2, whole seconds) per run; SHOP_BENCH_SMOKE=1: one 1 s run at
# 8 connections per endpoint. Prints one row per run and the table of ratios
# (library / postgres); exits 1 when a check fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
service="${1:-build/ci/examples/shop_service/shop_service}"
seconds="${SHOP_BENCH_SECONDS:-2}"
connections=(8 32 64 100)
if [ "${SHOP_BENCH_SMOKE:-0}" = 1 ]; then
  seconds=1
  connections=(8)
fi
export SHOP_BENCH_LUA="$PWD/bench/shop"
export SHOP_USERS=40000 SHOP_SKUS=20
coupon_total=20000
stock_per_sku=1000000
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "shop_before_after: $tool is missing" >&2; exit 2; }
done
[ -x "$service" ] || { echo "shop_before_after: no program at $service (build target shop_service)" >&2; exit 2; }

work="$(mktemp -d)"
service_pid=""
stop_service() {
  if [ -n "$service_pid" ]; then
    kill "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
    service_pid=""
  fi
}
trap 'stop_service; rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# field NAME LINE: the value of NAME=... in a SHOP_RESULT line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# json NAME BODY: a number or boolean of the check's JSON.
json() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }

failures=0
run() {  # run MODE ENDPOINT CONNECTIONS
  local mode=$1 endpoint=$2 conns=$3 sale="${2}${3}" url="http://127.0.0.1:$port"
  if [ "$endpoint" != ranking ]; then
    curl -sf -d '' "$url/sales?name=$sale&coupon_total=$coupon_total&skus=$SHOP_SKUS&stock=$stock_per_sku" >/dev/null
  fi
  local line
  line="$(SHOP_SALE=$sale wrk -t2 -c"$conns" -d"${seconds}s" --timeout 5s -s "bench/shop/$endpoint.lua" "$url" | grep SHOP_RESULT)"
  local requests seconds_run errors rps error_rate verdict="-"
  requests=$(field requests "$line")
  seconds_run=$(field seconds "$line")
  errors=$(( $(field s5xx "$line") + $(field socket_errors "$line") ))
  rps=$(python3 -c "print(round($requests / $seconds_run))")
  error_rate=$(python3 -c "print(round(100.0 * $errors / max($requests, 1), 2))")
  if [ "$endpoint" != ranking ]; then
    local check acked stored
    check="$(curl -s "$url/sales/$sale/check")"
    if [ "$endpoint" = coupon ]; then
      acked=$(field s201 "$line"); stored=$(json coupon_rows "$check")
    elif [ "$endpoint" = hold ]; then
      acked=$(field s202 "$line"); stored=$(json units_held "$check")
    else
      acked=$(field s200 "$line"); stored=$(json orders_confirmed "$check")
    fi
    if [ "$(json ok "$check")" = true ] && [ "$stored" -ge "$acked" ] && [ "$stored" -le $((acked + conns)) ]; then
      verdict=ok
    else
      verdict=FAILED
      failures=$((failures + 1))
      echo "check failed ($mode $endpoint $conns): wrk acknowledged $acked, stored $stored: $check" >&2
    fi
  fi
  printf '%-8s %-7s %5s %9s %8s %8s %8s %7s%% %s\n' "$mode" "$endpoint" "$conns" "$rps" \
    "$(field p50 "$line")" "$(field p95 "$line")" "$(field p99 "$line")" "$error_rate" "$verdict"
  echo "$mode $endpoint $conns $rps $(field p50 "$line") $(field p95 "$line") $(field p99 "$line") $error_rate $verdict" >>"$work/results"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
printf '%-8s %-7s %5s %9s %8s %8s %8s %8s %s\n' mode endpoint conns 'req/s' 'p50 ms' 'p95 ms' \
  'p99 ms' errors check
for mode in library postgres; do
  port=$(free_port)
  "$service" --mode=$mode --port="$port" >"$work/$mode.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$service_pid" 2>/dev/null || { cat "$work/$mode.log" >&2; exit 2; }
    sleep 0.1
  done
  for endpoint in coupon hold order ranking; do
    for conns in "${connections[@]}"; do
      run "$mode" "$endpoint" "$conns"
    done
  done
  stop_service
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "library / postgres (same machine, same run; latency ratios are postgres / library)"
python3 - "$work/results" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    mode, endpoint, conns, rps, p50, p95, p99, errors, check = line.split()
    rows[(mode, endpoint, conns)] = (float(rps), float(p50), float(p95), float(p99), errors, check)
print("| endpoint | connections | req/s library | req/s postgres | throughput x | p50 x | p95 x | p99 x | errors lib / pg | checks lib / pg |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (mode, endpoint, conns), lib in rows.items():
    if mode != "library" or ("postgres", endpoint, conns) not in rows:
        continue
    pg = rows[("postgres", endpoint, conns)]
    ratio = lambda a, b: f"{a / b:.1f}" if b > 0 else "-"
    name = {"coupon": "POST /coupons/{id}/issue", "hold": "POST /orders (holds only)",
            "order": "POST /orders + confirm",
            "ranking": "GET /ranking/top"}[endpoint]
    print(f"| {name} | {conns}{' (burst)' if conns == '100' else ''} | {lib[0]:.0f} | {pg[0]:.0f} | "
          f"{ratio(lib[0], pg[0])} | {ratio(pg[1], lib[1])} | {ratio(pg[2], lib[2])} | "
          f"{ratio(pg[3], lib[3])} | {lib[4]}% / {pg[4]}% | {lib[5]} / {pg[5]} |")
PY
[ "$failures" -eq 0 ] || { echo "shop_before_after: $failures check(s) failed" >&2; exit 1; }
