package io.sealgate.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLConnection;
import java.util.Map;

/**
 * The default {@link HttpTransport}: {@code java.net.HttpURLConnection}, as on every Android
 * version. Redirects are not followed, caches are not used, and the body is sent with a
 * {@code Content-Length} (not streamed: the JDK's implementation cannot report a {@code 401}
 * after a streamed body).
 *
 * <p>Subclass it and override {@link #configure(HttpURLConnection)} to set, for example, an
 * {@code SSLSocketFactory} with a private CA. On Android, prefer the app's Network Security
 * Configuration for certificate pinning.
 *
 * <p>{@code PATCH}: Android's {@code HttpURLConnection} sends it; the JDK's refuses it
 * ({@code ProtocolException}, reported as {@link ErrorKind#TRANSPORT}).
 */
public class UrlConnectionTransport implements HttpTransport {
    /** 15 s to connect. */
    public static final int DEFAULT_CONNECT_TIMEOUT_MILLIS = 15000;
    /** 30 s between bytes of the answer. */
    public static final int DEFAULT_READ_TIMEOUT_MILLIS = 30000;
    /** 16 MiB: a larger answer is refused as an I/O error. */
    public static final int DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

    private final int connectTimeoutMillis;
    private final int readTimeoutMillis;
    private final int maxResponseBytes;

    /** With the default timeouts and size limit. */
    public UrlConnectionTransport() {
        this(DEFAULT_CONNECT_TIMEOUT_MILLIS, DEFAULT_READ_TIMEOUT_MILLIS, DEFAULT_MAX_RESPONSE_BYTES);
    }

    /**
     * @param connectTimeoutMillis how long to wait for the connection (0: no limit)
     * @param readTimeoutMillis how long to wait for each read of the answer (0: no limit)
     * @param maxResponseBytes the largest body read; a larger one is an I/O error
     */
    public UrlConnectionTransport(int connectTimeoutMillis, int readTimeoutMillis, int maxResponseBytes) {
        if (connectTimeoutMillis < 0 || readTimeoutMillis < 0 || maxResponseBytes < 0) throw new IllegalArgumentException("negative limit");
        this.connectTimeoutMillis = connectTimeoutMillis;
        this.readTimeoutMillis = readTimeoutMillis;
        this.maxResponseBytes = maxResponseBytes;
    }

    /**
     * Called on each connection before it is opened, after the library set its method, headers and
     * timeouts. Does nothing by default.
     *
     * @param connection the connection about to be used
     * @throws IOException to abandon the request
     */
    protected void configure(HttpURLConnection connection) throws IOException {}

    @Override
    public Reply send(String method, String url, Map<String, String> headers, byte[] body) throws IOException {
        URLConnection opened = new URL(url).openConnection();
        if (!(opened instanceof HttpURLConnection)) throw new IOException("not an http or https URL");
        HttpURLConnection c = (HttpURLConnection) opened;
        try {
            c.setRequestMethod(method);
            c.setInstanceFollowRedirects(false);
            c.setUseCaches(false);
            c.setConnectTimeout(connectTimeoutMillis);
            c.setReadTimeout(readTimeoutMillis);
            for (Map.Entry<String, String> h : headers.entrySet()) c.setRequestProperty(h.getKey(), h.getValue());
            if (body != null) c.setDoOutput(true);
            configure(c);
            if (body != null) {
                OutputStream out = c.getOutputStream();
                try {
                    out.write(body);
                } finally {
                    out.close();
                }
            }
            int status = c.getResponseCode();
            if (status < 0) throw new IOException("not an HTTP answer");
            InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
            byte[] data = in == null ? new byte[0] : readAll(in);
            return new Reply(status, c.getHeaderFields(), data);
        } catch (IOException e) {
            c.disconnect();
            throw e;
        } catch (RuntimeException e) {
            c.disconnect();
            throw new IOException("HTTP failure: " + e.getClass().getName(), e);
        }
    }

    private byte[] readAll(InputStream in) throws IOException {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            int total = 0;
            for (int n; (n = in.read(buf)) != -1; ) {
                total += n;
                if (total > maxResponseBytes) throw new IOException("answer larger than " + maxResponseBytes + " bytes");
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }
}
