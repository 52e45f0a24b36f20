package io.sealgate.client.selftest;

// Not part of the library: the API check's self-test (api-check-selftest.sh) compiles this class
// and expects the check to refuse each use below. Compiled with --release 11 for java.net.http.
public final class BadApiUse {
    public static Object[] uses() throws Exception {
        return new Object[] {
            java.util.Base64.getUrlEncoder().encodeToString(new byte[] {1}),       // API 26
            java.security.AlgorithmParameters.getInstance("EC"),                     // denied by design
            String.join(",", "a", "b"),                                              // API 26 member
            java.net.http.HttpClient.newHttpClient(),                                // not on Android
            java.time.Instant.now(),                                                 // API 26
            new java.util.concurrent.atomic.LongAdder(),                             // not in the allow-list
        };
    }
}
