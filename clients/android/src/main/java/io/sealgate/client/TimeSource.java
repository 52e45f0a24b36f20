package io.sealgate.client;

/**
 * The wall clock the client reads for {@code iat} and for renewal ({@code java.time.Clock} only
 * exists from Android API 26). Tests can inject one.
 */
public interface TimeSource {
    /** {@code System.currentTimeMillis()}. */
    TimeSource SYSTEM = new TimeSource() {
        @Override public long currentTimeMillis() { return System.currentTimeMillis(); }
        @Override public String toString() { return "TimeSource.SYSTEM"; }
    };

    /** Milliseconds since the Unix epoch. */
    long currentTimeMillis();
}
