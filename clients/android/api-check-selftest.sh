#!/usr/bin/env bash
# Proves the Android API check can fail: compiles api-check-selftest/BadApiUse.java (which uses
# java.util.Base64, AlgorithmParameters, String.join, java.net.http, java.time and a class the
# allow-list does not name) and expects
# api-check.sh to refuse it, naming each of them.
#   usage: api-check-selftest.sh WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1/api-check-selftest
rm -rf "$work" && mkdir -p "$work/classes"
javac --release 11 -d "$work/classes" "$here/api-check-selftest/BadApiUse.java"
if bash "$here/api-check.sh" "$work/classes" > "$work/out" 2>&1; then
    cat "$work/out" >&2
    echo "api-check self-test: FAILED: the check accepted a class using java.util.Base64" >&2
    exit 1
fi
for expected in 'DENIED class java.util.Base64' 'DENIED class java.security.AlgorithmParameters' \
    'DENIED member java.lang.String#join' 'DENIED class java.net.http.HttpClient' 'DENIED class java.time.Instant' \
    'class java.util.concurrent.atomic.LongAdder is not in the Android API 24 allow-list'; do
    if ! grep -qF "$expected" "$work/out"; then
        cat "$work/out" >&2
        echo "api-check self-test: FAILED: expected \"$expected\"" >&2
        exit 1
    fi
done
echo "api-check self-test: OK (the check refuses java.util.Base64, AlgorithmParameters, String.join, java.net.http, java.time, and a class not listed)"
