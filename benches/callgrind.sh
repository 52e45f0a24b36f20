#!/bin/bash
# User-space instructions per request of the shipped binary on the plain route, under
# valgrind's callgrind: deterministic where timings on a shared machine are not, so it is
# how docs/performance.md's "what each change bought" was measured. Needs valgrind, nginx, wrk.
#   bash benches/callgrind.sh [log|nolog]        (builds target/release/sealgate first)
# Prints the count; the profile (callgrind_annotate it) stays in $D/cg.out.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=target/release/sealgate; MODE=${1:-log}; URLP=/plain/x
D=${CALLGRIND_DIR:-/tmp/sealgate-callgrind}; rm -rf "$D"; mkdir -p "$D"
body=$(python3 -c 'print("{\"data\":\""+"x"*(1024-11)+"\"}")')
cat > "$D"/up.conf <<C
daemon off; worker_processes 1; pid $D/up.pid; error_log $D/up-error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $D; proxy_temp_path $D; keepalive_requests 100000000; keepalive_timeout 300s;
server { listen 127.0.0.1:18091; default_type application/json; location / { return 200 '$body'; } } }
C
nginx -c "$D"/up.conf >/dev/null 2>&1 &
UP=$!
if [ "$MODE" = log ]; then ACC="[access_log]
path = \"$D/access.log\""; else ACC="[access_log]
enabled = false"; fi
cat > "$D"/g.toml <<C
[server]
workers = 1
listen = "127.0.0.1:18090"
[admin]
enabled = false
$ACC
[token]
max_requests_per_session = 100000000
rate_limit_per_address_per_minute = 0
[[token.keys]]
kid = "bench"
key = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo"
[channels.C]
[clients.A]
secret = "s"
channels = ["C"]
[[routes]]
prefix = "/plain/"
upstreams = ["http://127.0.0.1:18091"]
auth = "none"
[[routes]]
prefix = "/api/"
upstreams = ["http://127.0.0.1:18091"]
C
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$D"/cg.out $BIN --config "$D"/g.toml >/dev/null 2>"$D"/g.log &
PX=$!
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18090/healthz && break; sleep 0.3; done
wrk -t1 -c8 -d3s http://127.0.0.1:18090/plain/x >/dev/null
callgrind_control -i on "$PX" >/dev/null 2>&1 || true
out=$(wrk -t1 -c8 -d"${SECS:-8}"s http://127.0.0.1:18090$URLP)
callgrind_control -i off "$PX" >/dev/null 2>&1 || true
kill -INT "$PX"; wait "$PX" 2>/dev/null || true
kill "$UP"; wait 2>/dev/null || true
req=$(echo "$out" | awk '/requests in/ {print $1}')
ir=$(grep -E "^totals:" "$D"/cg.out | head -1 | awk '{print $2}')
echo "sealgate $MODE req=$req Ir/req=$((ir / req)) $(echo "$out" | grep -i non-2xx)"
