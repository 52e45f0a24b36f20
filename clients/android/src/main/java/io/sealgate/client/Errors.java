package io.sealgate.client;

import java.util.Map;

/** Maps the gateway's refusals ({@code {"resCode","resDesc"}}, docs/protocol.md, Errors) to {@link ErrorKind}s. */
final class Errors {
    enum Where {
        TOKEN("token request"), ROUTE("call"), JWKS("JWK Set request");

        final String label;

        Where(String label) { this.label = label; }
    }

    private Errors() {}

    /**
     * The kind of a gateway refusal with this status and resCode (null when the answer had none).
     * A session code is {@link ErrorKind#SESSION_EXPIRED} only with 401, the status the gateway sends it with.
     */
    static ErrorKind classify(int status, String resCode) {
        if (status == 429 || status == 503) return ErrorKind.RETRY_LATER;
        if (resCode != null) {
            if (resCode.equals("TOK002") || resCode.equals("TOK004")) return ErrorKind.CREDENTIALS_REFUSED;
            if (status == 401 && isSessionCode(resCode)) return ErrorKind.SESSION_EXPIRED;
            if (resCode.equals("AUTH008")) return ErrorKind.REPLAYED;
            if (resCode.equals("AUTH006")) return ErrorKind.CLOCK_SKEW;
        }
        if (status >= 400 && status < 500) return ErrorKind.REQUEST_REFUSED;
        return ErrorKind.GATEWAY_ERROR;
    }

    /** {@code AUTH003}, {@code AUTH005}, {@code AUTH007}, {@code AUTH009}, {@code AUTH010}, {@code AUTH011}. */
    static boolean isSessionCode(String resCode) {
        return resCode.equals("AUTH003") || resCode.equals("AUTH005") || resCode.equals("AUTH007")
            || resCode.equals("AUTH009") || resCode.equals("AUTH010") || resCode.equals("AUTH011");
    }

    /**
     * The {@code resCode} of a gateway error body, or null when the body is not exactly one:
     * {@code {"resCode","resDesc"}}, both strings, and nothing else. An upstream's JSON is never
     * taken for one of the gateway's own refusals. The {@code resDesc} received is never used.
     */
    static String gatewayCode(HttpTransport.Reply reply) {
        return isGatewayErrorBody(reply) ? (String) parse(reply).get("resCode") : null;
    }

    /** Whether a body is exactly a gateway error, {@code {"resCode","resDesc"}} and nothing else. */
    static boolean isGatewayErrorBody(HttpTransport.Reply reply) {
        Map<String, Object> body = parse(reply);
        return body != null && body.size() == 2 && body.get("resCode") instanceof String && body.get("resDesc") instanceof String
            && isCode((String) body.get("resCode"));
    }

    private static Map<String, Object> parse(HttpTransport.Reply reply) {
        byte[] bytes = reply.body();
        if (bytes == null || bytes.length > 4096) return null;
        try {
            return Json.parseObject(bytes);
        } catch (IllegalArgumentException notJson) {
            return null;
        }
    }

    /**
     * The refusal in {@code reply} as an exception. Nothing of the answer is quoted: the message
     * gives the status, the code and the contract's fixed description of that code, never the
     * {@code resDesc} received (it could carry anything a middlebox wrote).
     */
    static SealgateException fromReply(HttpTransport.Reply reply, Where where) {
        String resCode = gatewayCode(reply);
        int status = reply.status();
        ErrorKind kind = classify(status, resCode);
        long retryAfter = kind == ErrorKind.RETRY_LATER ? retryAfter(reply) : -1;
        StringBuilder message = new StringBuilder("the gateway refused the ").append(where.label).append(": HTTP ").append(status);
        if (resCode != null) {
            message.append(' ').append(resCode);
            String description = description(resCode);
            if (description != null) message.append(" (").append(description).append(')');
        }
        return new SealgateException(kind, message.toString(), status, resCode, retryAfter, null);
    }

    /** What each code means, as docs/protocol.md's Errors table says it; null for a code it does not list. */
    static String description(String resCode) {
        switch (resCode) {
            case "TOK002": return "Invalid API Key Passed";
            case "TOK003": return "Failure";
            case "TOK004": return "Your credentials not allowed to generate token";
            case "AUTH001": return "Token missing";
            case "AUTH002": return "Token malformed";
            case "AUTH003": return "Token key unknown";
            case "AUTH004": return "Token invalid";
            case "AUTH005": return "Token expired";
            case "AUTH006": return "Token not yet valid";
            case "AUTH007": return "Session revoked or unknown";
            case "AUTH008": return "Request replayed";
            case "AUTH009": return "Session request limit reached";
            case "AUTH010": return "Token issued before this instance started";
            case "AUTH011": return "Session evicted: make a new handshake";
            case "BODY001": return "Request body is not a valid JWE";
            case "BODY002": return "Request body does not decrypt";
            case "BODY003": return "Request body too large";
            case "BODY004": return "Request body not received in time";
            case "BODY005": return "Request body could not be read";
            case "BODY006": return "Sealed message is not a request";
            case "BODY007": return "Sealed message is bound to another request";
            case "BODY008": return "Request binding required";
            case "BODY009": return "X-Request-Seal is not an empty sealed message";
            case "ROUTE001": return "No route";
            case "ROUTE002": return "Method or upgrade not supported";
            case "ROUTE003": return "Path not acceptable";
            case "ROUTE004": return "Route busy";
            case "ROUTE005": return "Not a valid WebSocket handshake";
            case "RATE001": return "Rate limit reached";
            case "HEAD001": return "More than one Host header";
            case "HEAD002": return "Too many header fields";
            case "UPSTREAM001": return "Upstream unreachable";
            case "UPSTREAM002": return "Upstream sent an invalid response";
            case "UPSTREAM003": return "Upstream response too large";
            case "UPSTREAM004": return "Upstream timed out";
            case "UPSTREAM005": return "Upstream broke HTTP framing";
            case "GATEWAY503": return "Service unavailable";
            case "STATE001": return "Session state unavailable";
            case "STATE002": return "Replay memory full";
            case "GATEWAY500": return "Internal error";
            default: return null;
        }
    }

    /** {@code Retry-After} in whole seconds (the delay form; an HTTP date is not read), or -1. */
    static long retryAfter(HttpTransport.Reply reply) {
        String v = reply.header("Retry-After");
        if (v == null) return -1;
        v = v.trim();
        if (v.isEmpty() || v.length() > 9) return -1;
        for (int i = 0; i < v.length(); i++) if (v.charAt(i) < '0' || v.charAt(i) > '9') return -1;
        return Long.parseLong(v);
    }

    private static boolean isCode(String code) {
        if (code.length() < 4 || code.length() > 16) return false;
        for (int i = 0; i < code.length(); i++) {
            char c = code.charAt(i);
            if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
        }
        return true;
    }
}
