#!/bin/bash
# What the rest before reuse (a route's `reuse_after_idle_ms`) costs, and where: for each
# rest given, the plain route under wrk (32 connections, the proxy alone on CPU 1, wrk and
# the upstream nginx on CPU 0), the proxy's user and kernel CPU per request (from
# /proc/PID/stat), TCP segments sent per request on the machine (`nstat`; four is the
# minimum: the client's request and answer, the upstream's request and answer, each ACK
# riding on data), the upstream connections open at the end, the connections opened to it
# during the run and wrk's p99. KEEPALIVE_REQUESTS (default nginx's 1000) is how many
# requests the upstream serves on a connection before closing it. Needs nginx, wrk,
# taskset and nstat (Debian: nginx-light wrk util-linux iproute2).
#   bash benches/rest_cost.sh [SECS] [REST_MS ...]     (default: 5 s; 0 10 20 30 50)
# docs/performance.md ("What the rest before reuse costs") has one run's figures.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=$PWD/target/release/sealgate
SECS=${1:-5}; shift || true
RESTS=${*:-0 10 20 30 50}
D=${REST_COST_DIR:-/tmp/sealgate-rest-cost}; rm -rf "$D"; mkdir -p "$D"
body=$(python3 -c 'print("{\"data\":\""+"x"*(1024-11)+"\"}")')
cat > "$D"/up.conf <<C
daemon off; worker_processes 1; pid $D/up.pid; error_log $D/up-error.log;
events { worker_connections 20000; }
http { access_log off; keepalive_requests ${KEEPALIVE_REQUESTS:-1000}; client_body_temp_path $D; proxy_temp_path $D;
server { listen 127.0.0.1:18191; default_type application/json; location / { return 200 '$body'; } } }
C
taskset -c 0 nginx -c "$D"/up.conf >/dev/null 2>&1 &
UP=$!
trap 'kill $UP 2>/dev/null; kill ${GW:-0} 2>/dev/null; true' EXIT
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
echo "| rest ms | req/s | user µs/req | kernel µs/req | segments sent/req | upstream connections | opened | p99 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for rest in $RESTS; do
    cat > "$D"/g.toml <<C
[server]
workers = 1
listen = "127.0.0.1:18190"
[admin]
enabled = false
[access_log]
path = "$D/access.log"
[[routes]]
prefix = "/plain/"
upstreams = ["http://127.0.0.1:18191"]
auth = "none"
reuse_after_idle_ms = $rest
C
    taskset -c 1 "$BIN" --config "$D"/g.toml 2>"$D"/gateway.log &
    GW=$!
    for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18190/plain/x && break; sleep 0.1; done
    # One second to fill the pool, then the measured run.
    taskset -c 0 wrk -t1 -c32 -d1s http://127.0.0.1:18190/plain/x >/dev/null
    read -r u1 s1 < <(ticks $GW)
    nstat -n >/dev/null
    out=$(taskset -c 0 wrk -t1 -c32 -d"${SECS}"s --latency http://127.0.0.1:18190/plain/x)
    read -r u2 s2 < <(ticks $GW)
    counters=$(nstat)
    segs=$(echo "$counters" | awk '/^TcpOutSegs/{print $2}')
    opened=$(echo "$counters" | awk '/^TcpActiveOpens/{print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    conns=$(ss -Htn state established "( dport = :18191 )" | wc -l)
    n=$(echo "$out" | awk '/requests in/{print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    hz=$(getconf CLK_TCK)
    python3 -c "n=$n; print(f'| $rest | {float($rps):,.0f} | {($u2-$u1)*1e6/$hz/n:.1f} | {($s2-$s1)*1e6/$hz/n:.1f} | {${segs:-0}/n:.2f} | $conns | ${opened:-0} | $p99 |')"
    kill $GW; wait $GW 2>/dev/null || true
done
