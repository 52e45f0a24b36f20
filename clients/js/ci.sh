#!/usr/bin/env bash
# CI for the JavaScript client (@sealgate/client), run from anywhere:
#   bash clients/js/ci.sh
# Installs what it needs (Debian's chromium when /usr/bin/chromium is missing; the npm
# devDependencies with `npm ci`), starts a gateway on the demo configuration with CORS open
# to the browser page's origin (clients/testing/start-gateway.sh), then runs the type check,
# the Node suites (vectors, strictness, client, live), the headless-browser suite and the
# command-line runner. Exits non-zero on any failure; the gateway is stopped on exit.
#   SEALGATE_BIN: the gateway binary (default target/debug/sealgate, built by the caller)
set -euo pipefail
cd "$(dirname "$0")/../.."
js=clients/js
bin=${SEALGATE_BIN:-target/debug/sealgate}
export SEALGATE_BIN=$bin
started=$(date +%s)

if [ ! -x "$bin" ]; then
    echo "js ci: no gateway binary at $bin (build it, or set SEALGATE_BIN)" >&2
    exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    # The library needs Node >= 18; the test tools (playwright-core) need 20.
    echo "js ci: Node >= 20 is needed to run these tests (found $(node --version))" >&2
    exit 1
fi

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_PATH:-}" ]; then
    echo "js ci: installing chromium"
    # Another job may hold apt's lock (e.g. installing a JDK): wait for it, then try again.
    for attempt in 1 2 3 4 5; do
        if apt-get -o DPkg::Lock::Timeout=120 update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq chromium >/dev/null; then
            break
        fi
        [ "$attempt" = 5 ] && { echo "js ci: could not install chromium" >&2; exit 1; }
        sleep 15
    done
fi

(cd "$js" && npm ci --no-audit --no-fund --loglevel=error)

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
work=$(mktemp -d)
cleanup() {
    if [ -f "$work/gateway.pid" ]; then kill "$(cat "$work/gateway.pid")" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
url=$(clients/testing/start-gateway.sh "$work" "http://127.0.0.1:$port")
echo "js ci: gateway at $url, browser page at http://127.0.0.1:$port"

echo "js ci: type check (tsc --noEmit over test/types/usage.ts)"
(cd "$js" && npx --no-install tsc -p test/types/tsconfig.json)

echo "js ci: node --test"
status=0
(cd "$js" && SEALGATE_URL="$url" SEALGATE_PAGE_PORT="$port" node --test --test-reporter=tap \
    test/vectors.test.js test/strict.test.js test/client.test.js test/live.test.js test/browser.test.js) \
    > "$work/tap.txt" 2>&1 || status=$?
grep -E '^(not ok|# (tests|pass|fail|skipped|cancelled|todo|duration_ms))' "$work/tap.txt" || true
if [ "$status" -ne 0 ]; then
    sed -n '/^ *not ok/,/^ *\.\.\.$/p' "$work/tap.txt" | head -200
    echo "js ci: FAILED (node --test exited $status)" >&2
    cat "$work/gateway.log" | tail -20 >&2
    exit 1
fi
count() { sed -n "s/^# $1 \([0-9]*\)$/\1/p" "$work/tap.txt" | tail -n1; }
tests=$(count tests); pass=$(count pass); fail=$(count fail); skipped=$(count skipped)
if grep -q '# SKIP' "$work/tap.txt"; then
    grep '# SKIP' "$work/tap.txt" >&2
    echo "js ci: FAILED: a suite was skipped (none may be skipped here)" >&2
    exit 1
fi
if [ "$skipped" != 0 ] || [ "$fail" != 0 ] || [ "$tests" != "$pass" ]; then
    echo "js ci: FAILED: $tests tests, $pass passed, $fail failed, $skipped skipped (none may be skipped here)" >&2
    exit 1
fi

echo "js ci: command-line runner"
node "$js/sealgate-client.mjs" --vectors clients/test-vectors.json --url "$url" | tee "$work/cli.txt"
if [ "$(tail -n1 "$work/cli.txt")" != "js: ALL CHECKS PASSED" ]; then
    echo "js ci: FAILED: the command-line runner" >&2
    exit 1
fi
pass=$((pass + 1))

echo "js ci: done in $(( $(date +%s) - started )) s"
echo "js: $pass passed, 0 failed"
