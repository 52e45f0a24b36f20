#!/usr/bin/env bash
# The Android API check: lists every JDK class the compiled classes reference (jdeps) and every
# JDK member they call or read (javap), and fails unless each class is allowed, and neither a
# class nor a member is denied, by the allow-list (android-api-allowlist.txt describes the format).
#   usage: api-check.sh CLASSES_DIR [ALLOWLIST]
set -euo pipefail
classes=$1
allowlist=${2:-$(dirname "$0")/android-api-allowlist.txt}
[ -d "$classes" ] || { echo "api-check: no directory $classes" >&2; exit 2; }

grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$allowlist" | sed 's/[[:space:]]*$//' > "${TMPDIR:-/tmp}/api-allow.$$"
trap 'rm -f "${TMPDIR:-/tmp}/api-allow.$$"' EXIT

# Every class referenced from a class of ours, outside our own packages.
classes_used=$(jdeps -verbose:class "$classes" | awk '$2 == "->" && $1 !~ /^io\.sealgate\./ { next } $2 == "->" && $3 !~ /^io\.sealgate\./ { print $3 }' | sort -u)
# Every member of a JDK class that the code calls or reads: "// Method java/lang/String.join:(…)".
members_used=$(find "$classes" -name '*.class' -print0 | xargs -0 javap -c -p 2>/dev/null \
    | sed -n 's#.*// \(Method\|InterfaceMethod\|Field\) \(java\|javax\)/\([^:]*\):.*#\2/\3#p' \
    | sed 's#/#.#g; s#\.\([^.]*\)$#\#\1#' | sort -u)

matches() { # matches NAME PATTERN: exact, or pkg.* for a class directly in pkg
    local name=$1 pattern=$2
    [ "$name" = "$pattern" ] && return 0
    case $pattern in
        *.\*) local pkg=${pattern%.*}; local cls=${name%%#*}; [ "${cls%.*}" = "$pkg" ] && return 0 ;;
    esac
    return 1
}
denied() {
    local name=$1 line
    while IFS= read -r line; do
        [ "${line:0:1}" = "!" ] || continue
        matches "$name" "${line:1}" && return 0
        # a denied class denies its members too
        matches "${name%%#*}" "${line:1}" && return 0
    done < "${TMPDIR:-/tmp}/api-allow.$$"
    return 1
}
allowed() {
    local name=$1 line
    while IFS= read -r line; do
        [ "${line:0:1}" = "!" ] && continue
        matches "$name" "$line" && return 0
    done < "${TMPDIR:-/tmp}/api-allow.$$"
    return 1
}

bad=0
count=0
for c in $classes_used; do
    count=$((count + 1))
    if denied "$c"; then echo "api-check: DENIED class $c" >&2; bad=1
    elif ! allowed "$c"; then echo "api-check: class $c is not in the Android API 24 allow-list" >&2; bad=1
    fi
done
for m in $members_used; do
    if denied "$m"; then echo "api-check: DENIED member $m" >&2; bad=1; fi
done
if [ "$bad" != 0 ]; then echo "api-check: FAILED" >&2; exit 1; fi
echo "api-check: OK ($count JDK classes referenced, all on Android API 24; $(echo "$members_used" | wc -w) JDK members called, none denied)"
