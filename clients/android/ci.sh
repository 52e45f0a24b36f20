#!/usr/bin/env bash
# CI for the Android client library: JUnit 4 if missing, a gateway on the demo configuration
# (clients/testing/start-gateway.sh), then build.sh with SEALGATE_URL set, so the live tests run
# (SEALGATE_REQUIRE_LIVE=1 turns a skipped live test into a failure). Exits non-zero on any failure.
#   usage (from the repository root): bash clients/android/ci.sh
#   SEALGATE_BIN: the gateway binary (default target/debug/sealgate, built by the caller)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

if [ ! -f /usr/share/java/junit4.jar ] && [ -z "${JUNIT_JAR:-}" ]; then
    echo "== installing junit4"
    sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        # another job may hold apt's lock: wait and try again
        if $sudo_ apt-get install -y -q junit4 >/dev/null 2>&1 || { $sudo_ apt-get update -q >/dev/null 2>&1 && $sudo_ apt-get install -y -q junit4 >/dev/null 2>&1; }; then break; fi
        [ "$attempt" = 10 ] && { echo "could not install junit4" >&2; exit 1; }
        sleep 10
    done
fi
for tool in javac jar jdeps javap java python3; do
    command -v "$tool" >/dev/null || { echo "ci: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sealgate-android-ci.XXXXXX")
cleanup() {
    if [ -f "$work/gateway.pid" ]; then kill "$(cat "$work/gateway.pid")" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting a gateway"
url=$(bash clients/testing/start-gateway.sh "$work")
echo "gateway at $url"

status=0
SEALGATE_URL="$url" SEALGATE_REQUIRE_LIVE=1 bash "$here/build.sh" || status=$?
if [ "$status" != 0 ]; then
    echo "== gateway log (tail)" >&2
    tail -n 30 "$work/gateway.log" >&2 || true
    echo "android: CI FAILED" >&2
    exit "$status"
fi
echo "android: CI PASSED"
