package io.sealgate.client;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The answer to a {@link SealgateClient#call call}: the upstream's status and, for a sealed answer,
 * the opened body and its media type ({@code cty}).
 *
 * <p>{@link #toString()} gives the status, whether it was sealed, the media type and the length,
 * never the body.
 */
public final class Response {
    private final int status;
    private final HttpTransport.Reply reply;
    private final byte[] body;
    private final String contentType;
    private final boolean sealed;

    Response(HttpTransport.Reply reply, byte[] body, String contentType, boolean sealed) {
        this.status = reply.status();
        this.reply = reply;
        this.body = body;
        this.contentType = contentType;
        this.sealed = sealed;
    }

    /** The HTTP status (the upstream's, for a sealed answer). */
    public int status() { return status; }

    /** Whether the status is 2xx. */
    public boolean isSuccessful() { return status >= 200 && status < 300; }

    /**
     * The header fields of the HTTP answer, names in lower case. For a sealed answer these are the
     * gateway's ({@code Content-Type: application/jose}, {@code X-Request-Id}…) plus the upstream
     * headers the route lets through.
     */
    public Map<String, List<String>> headers() { return reply.headers(); }

    /** The first value of a header (name compared without case), or null. */
    public String header(String name) { return reply.header(name); }

    /** The opened body (a copy; empty when there was none). */
    public byte[] body() { return body.clone(); }

    /** The body decoded as UTF-8 (malformed sequences replaced). */
    public String bodyText() { return new String(body, StandardCharsets.UTF_8); }

    /** The body's length in bytes. */
    public int bodyLength() { return body.length; }

    /**
     * The media type of the body: for a sealed answer, the {@code cty} of its header (the upstream's
     * {@code Content-Type}), null when the upstream sent none; for an answer in clear, its
     * {@code Content-Type}.
     */
    public String contentType() { return contentType; }

    /** Whether the answer was sealed under the session key (and opened, and typed {@code response+jwe}). */
    public boolean isSealed() { return sealed; }

    @Override
    public String toString() {
        return "Response[" + status + (sealed ? ", sealed" : ", in clear") + (contentType != null ? ", " + contentType : "")
            + ", " + body.length + " bytes]";
    }
}
