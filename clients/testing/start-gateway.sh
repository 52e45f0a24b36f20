#!/usr/bin/env bash
# Starts a gateway for the client libraries' tests: the demo configuration on free ports,
# with the web channel's CORS open to one origin. Prints the gateway's base URL on stdout
# and leaves the gateway running; its pid is written to $WORK/gateway.pid, its log to
# $WORK/gateway.log.
#
#   usage: start-gateway.sh WORK_DIR [ALLOWED_ORIGIN]
#   SEALGATE_BIN: the binary (default target/debug/sealgate, built by the caller)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$1
origin=${2:-http://127.0.0.1:1}
bin=${SEALGATE_BIN:-target/debug/sealgate}
mkdir -p "$work"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
demo_port=$(free_port)
# The demo configuration, on port 0 and a free demo-upstream port, with CORS for the
# browser suite's origin on the token endpoint and on /api/ (the first route), and an admin
# listener on port 0.
sed -e 's/^listen = "127.0.0.1:8080"$/listen = "127.0.0.1:0"/' \
    -e "s/127.0.0.1:9000/127.0.0.1:$demo_port/g" \
    -e "s|^auth = \"token\"\$|auth = \"token\"\n\n[routes.cors]\nallowed_origins = [\"$origin\"]|" \
    -e "s|^# No \[\[token.keys\]\].*\$|\n[token.cors]\nallowed_origins = [\"$origin\"]|" \
    config/gateway.toml > "$work/gateway.toml"
printf '\n[admin]\nlisten = "127.0.0.1:0"\n' >> "$work/gateway.toml"
"$bin" --config "$work/gateway.toml" --log-format json > "$work/gateway.log" 2>&1 &
echo $! > "$work/gateway.pid"
for _ in $(seq 100); do
    url=$(sed -n 's/.*"message":"sealgate listening (http)".*"addr":"\([^"]*\)".*/http:\/\/\1/p; s/.*"addr":"\([^"]*\)".*"message":"sealgate listening (http)".*/http:\/\/\1/p' "$work/gateway.log" | head -n1)
    if [ -n "$url" ]; then echo "$url"; exit 0; fi
    kill -0 "$(cat "$work/gateway.pid")" 2>/dev/null || break
    sleep 0.1
done
cat "$work/gateway.log" >&2
echo "the gateway did not start" >&2
exit 1
