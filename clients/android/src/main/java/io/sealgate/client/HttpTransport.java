package io.sealgate.client;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Sends one HTTP request and returns the whole answer. The default, {@link UrlConnectionTransport},
 * uses {@code java.net.HttpURLConnection}; an app that already has an HTTP stack (OkHttp, Cronet)
 * can implement this interface instead. An implementation must send the target exactly as given
 * (the sealed header binds it byte for byte, docs/protocol.md §4.1), must not follow redirects, and
 * must not retry a request on its own unless the request surely never reached the server.
 */
public interface HttpTransport {
    /**
     * Sends a request.
     *
     * @param method the HTTP method, such as {@code POST}
     * @param url the absolute URL
     * @param headers the request headers to set (names as written)
     * @param body the body to send, or null for none
     * @return the answer, whatever its status
     * @throws IOException when no answer was received
     */
    Reply send(String method, String url, Map<String, String> headers, byte[] body) throws IOException;

    /** An HTTP answer: status, headers (names compared without case), body. */
    final class Reply {
        private final int status;
        private final Map<String, List<String>> headers;
        private final byte[] body;

        /**
         * @param status the HTTP status
         * @param headers the header fields (a null name, as {@code HttpURLConnection} reports the status line, is skipped)
         * @param body the body, null for none
         */
        public Reply(int status, Map<String, List<String>> headers, byte[] body) {
            this.status = status;
            Map<String, List<String>> h = new TreeMap<String, List<String>>();
            if (headers != null) {
                for (Map.Entry<String, List<String>> e : headers.entrySet()) {
                    if (e.getKey() == null || e.getValue() == null) continue;
                    String name = e.getKey().toLowerCase(Locale.ROOT);
                    List<String> values = h.get(name);
                    if (values == null) {
                        values = new ArrayList<String>();
                        h.put(name, values);
                    }
                    values.addAll(e.getValue());
                }
            }
            for (Map.Entry<String, List<String>> e : h.entrySet()) e.setValue(Collections.unmodifiableList(e.getValue()));
            this.headers = Collections.unmodifiableMap(h);
            this.body = body == null ? new byte[0] : body;
        }

        /** The HTTP status. */
        public int status() { return status; }

        /** Every header field, names in lower case. */
        public Map<String, List<String>> headers() { return headers; }

        /** The first value of a header (name compared without case), or null. */
        public String header(String name) {
            List<String> values = headers.get(name.toLowerCase(Locale.ROOT));
            return values == null || values.isEmpty() ? null : values.get(0);
        }

        /** The body (not a copy; empty when there was none). */
        public byte[] body() { return body; }

        @Override
        public String toString() {
            return "Reply[" + status + ", " + body.length + " bytes]";
        }
    }
}
