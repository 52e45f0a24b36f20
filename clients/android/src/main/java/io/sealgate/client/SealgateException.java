package io.sealgate.client;

/**
 * Every failure of the sealgate client, classified by {@link #kind()}.
 *
 * <p>The message names what failed, the HTTP status and the gateway's {@code resCode} and
 * {@code resDesc} when there are any; it never holds a secret: no client secret, token, session
 * key, private key or message body appears in it or in {@link #toString()}.
 */
public class SealgateException extends Exception {
    private static final long serialVersionUID = 1L;

    private final ErrorKind kind;
    private final int status;
    private final String resCode;
    private final long retryAfterSeconds;

    /**
     * @param kind what went wrong
     * @param message a description without secrets
     * @param status the HTTP status, 0 when there was no answer
     * @param resCode the gateway's {@code resCode}, or null
     * @param retryAfterSeconds the {@code Retry-After} in seconds, or -1 when none was sent
     * @param cause the underlying failure, or null
     */
    public SealgateException(ErrorKind kind, String message, int status, String resCode, long retryAfterSeconds, Throwable cause) {
        super(message, cause);
        if (kind == null) throw new NullPointerException("kind");
        this.kind = kind;
        this.status = status;
        this.resCode = resCode;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    SealgateException(ErrorKind kind, String message, Throwable cause) {
        this(kind, message, 0, null, -1, cause);
    }

    SealgateException(ErrorKind kind, String message) {
        this(kind, message, 0, null, -1, null);
    }

    /** What went wrong. */
    public ErrorKind kind() { return kind; }

    /** The HTTP status of the answer that caused this, or 0 when there was none. */
    public int status() { return status; }

    /** The gateway's {@code resCode} ({@code TOK004}, {@code AUTH005}…), or null when the answer had none. */
    public String resCode() { return resCode; }

    /** For {@link ErrorKind#RETRY_LATER}: the seconds the gateway asked to wait ({@code Retry-After}), or -1 when it did not say. */
    public long retryAfterSeconds() { return retryAfterSeconds; }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("SealgateException[").append(kind);
        if (status != 0) b.append(", status ").append(status);
        if (resCode != null) b.append(", ").append(resCode);
        if (retryAfterSeconds >= 0) b.append(", retry after ").append(retryAfterSeconds).append(" s");
        return b.append("]: ").append(getMessage()).toString();
    }
}
