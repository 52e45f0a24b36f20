#!/usr/bin/env bash
# CI of the Python client library (clients/python), from anywhere in the repository:
#   1. a fresh virtual environment in a temporary directory, with `pip install ./clients/python[test]`
#   2. mypy --strict over the package and its tests
#   3. a gateway on the demo configuration (clients/testing/start-gateway.sh; binary from
#      SEALGATE_BIN, default target/debug/sealgate, built by the caller)
#   4. pytest with SEALGATE_URL set and SEALGATE_REQUIRE_LIVE=1 (a skipped live test fails)
#   5. the command line: `python -m sealgate_client --vectors … --url …`, last line checked
# Exits non-zero on any failure. PYTHON chooses the interpreter (default python3, >= 3.9).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
work=$(mktemp -d)
status=0
cleanup() {
    status=$?
    if [ -f "$work/gateway/gateway.pid" ]; then
        kill "$(cat "$work/gateway/gateway.pid")" 2>/dev/null || true
        if [ "$status" -ne 0 ] && [ -f "$work/gateway/gateway.log" ]; then
            echo "-- the gateway's log (last 40 lines)" >&2
            tail -n 40 "$work/gateway/gateway.log" >&2
        fi
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

echo "== python: install ./clients/python[test] into a fresh venv ($("$python" --version))"
"$python" -m venv "$work/venv"
venv=$work/venv/bin
"$venv/python" -m pip install --quiet --disable-pip-version-check "./clients/python[test]"

# No bytecode, pytest cache or mypy cache in the source tree.
export PYTHONDONTWRITEBYTECODE=1

echo "== python: mypy --strict"
"$venv/python" -m mypy --strict --cache-dir "$work/mypy-cache" clients/python/src/sealgate_client clients/python/tests

echo "== python: start a gateway"
url=$(bash clients/testing/start-gateway.sh "$work/gateway")
echo "gateway at $url"

echo "== python: pytest (live tests required)"
SEALGATE_URL=$url SEALGATE_REQUIRE_LIVE=1 SEALGATE_VECTORS=clients/test-vectors.json \
    "$venv/python" -m pytest -p no:cacheprovider -q -rfEs clients/python/tests

echo "== python: the command line"
"$venv/python" -m sealgate_client --vectors clients/test-vectors.json --url "$url" | tee "$work/cli.out"
[ "$(tail -n1 "$work/cli.out")" = "python: ALL CHECKS PASSED" ] || { echo "python: no success line"; exit 1; }
echo "== python: OK"
