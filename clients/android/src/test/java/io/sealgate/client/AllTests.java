package io.sealgate.client;

import org.junit.runner.Description;
import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.notification.Failure;
import org.junit.runner.notification.RunListener;

/**
 * Runs every test class and prints one line per test and a summary. Exits 1 on a failure, and,
 * with SEALGATE_REQUIRE_LIVE=1, when a test was skipped (the live tests skip without SEALGATE_URL).
 */
public final class AllTests {
    static final Class<?>[] CLASSES = {VectorsTest.class, EncodingTest.class, P256Test.class, ClientTest.class, LiveGatewayTest.class};

    public static void main(String[] args) {
        final int[] skipped = {0};
        JUnitCore core = new JUnitCore();
        core.addListener(new RunListener() {
            private boolean failed;

            @Override public void testStarted(Description d) { failed = false; }

            @Override public void testFailure(Failure f) {
                failed = true;
                System.out.println("FAIL " + name(f.getDescription()) + ": " + f.getMessage());
                System.out.println(f.getTrace());
            }

            @Override public void testAssumptionFailure(Failure f) {
                failed = true;
                skipped[0]++;
                System.out.println("SKIP " + name(f.getDescription()) + ": " + f.getMessage());
            }

            @Override public void testFinished(Description d) {
                if (!failed) System.out.println("ok   " + name(d));
            }
        });
        Result result = core.run(CLASSES);
        // An assumption failing in @BeforeClass skips the whole class without a per-test event.
        int skips = Math.max(skipped[0], result.getAssumptionFailureCount());
        System.out.println("tests: " + result.getRunCount() + " run, " + result.getFailureCount() + " failed, " + skips + " skipped, "
            + result.getIgnoreCount() + " ignored, " + result.getRunTime() + " ms");
        boolean requireLive = "1".equals(System.getenv("SEALGATE_REQUIRE_LIVE"));
        if (result.getFailureCount() > 0) {
            System.out.println("android: TESTS FAILED");
            System.exit(1);
        }
        if (requireLive && skips > 0) {
            System.out.println("android: TESTS SKIPPED where SEALGATE_REQUIRE_LIVE=1 requires every test to run");
            System.exit(1);
        }
        System.out.println("android: ALL TESTS PASSED");
    }

    private static String name(Description d) {
        if (d.getTestClass() == null) return d.getDisplayName();
        return d.getTestClass().getSimpleName() + (d.getMethodName() == null ? " (whole class)" : "." + d.getMethodName());
    }
}
