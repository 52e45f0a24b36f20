#!/usr/bin/env bash
# Builds the sealgate Android client library and checks it:
#   1. compiles src/main with javac --release 8 into build/classes, makes build/sealgate-client.jar
#      (and build/sealgate-client-sources.jar);
#   2. runs the Android API check on the library classes (api-check.sh), and its self-test
#      (api-check-selftest.sh: the check must refuse java.util.Base64 and the like);
#   3. checks with jdeps that the library needs the java.base module only, and writes the
#      javadoc (doclint on) into build/javadoc;
#   4. compiles src/test against JUnit 4 and runs every test (AllTests): the published vectors
#      (clients/test-vectors.json), the strict encodings, the client flow against an in-memory
#      gateway, and, when SEALGATE_URL is set, the live tests against that gateway.
# Needs a JDK (javac, jar, jdeps, javap, javadoc; 17 here) and JUnit 4 (/usr/share/java/junit4.jar, from
# the Debian package junit4; JUNIT_JAR and HAMCREST_JAR override the paths).
#   usage: clients/android/build.sh            (from anywhere)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$here/build
junit=${JUNIT_JAR:-/usr/share/java/junit4.jar}
hamcrest=${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}
vectors=${SEALGATE_VECTORS:-$repo/clients/test-vectors.json}

rm -rf "$build"
mkdir -p "$build/classes" "$build/test-classes"

echo "== compile (javac --release 8)"
javac --release 8 -Xlint:all -Werror -encoding UTF-8 -d "$build/classes" $(find "$here/src/main/java" -name '*.java' | sort)
jar --create --file "$build/sealgate-client.jar" -C "$build/classes" .
jar --create --file "$build/sealgate-client-sources.jar" -C "$here/src/main/java" .
echo "built $build/sealgate-client.jar ($(find "$build/classes" -name '*.class' | wc -l) classes)"

echo "== Android API check"
bash "$here/api-check.sh" "$build/classes" "$here/android-api-allowlist.txt"
bash "$here/api-check-selftest.sh" "$build"

echo "== modules (jdeps)"
modules=$(jdeps --print-module-deps "$build/sealgate-client.jar")
if [ "$modules" != "java.base" ]; then echo "the library needs more than java.base: $modules" >&2; exit 1; fi
echo "modules: $modules"

echo "== javadoc"
javadoc -quiet -Xdoclint:all,-missing --release 8 -encoding UTF-8 -d "$build/javadoc" -sourcepath "$here/src/main/java" io.sealgate.client \
    2>&1 | { grep -v -e '^Loading' -e '^Constructing' -e '^Generating' -e '^Building' -e '^Standard' || true; }
[ -f "$build/javadoc/index.html" ] || { echo "javadoc failed" >&2; exit 1; }

echo "== tests"
[ -f "$junit" ] || { echo "JUnit 4 not found at $junit (apt-get install -y junit4)" >&2; exit 1; }
cp="$build/classes:$junit:$hamcrest"
javac --release 8 -encoding UTF-8 -nowarn -cp "$cp" -d "$build/test-classes" $(find "$here/src/test/java" -name '*.java' | sort)
java -Dsealgate.vectors="$vectors" -cp "$build/test-classes:$cp" io.sealgate.client.AllTests
