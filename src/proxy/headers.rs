//! Header rewriting between client and upstream, as pure functions on `HeaderMap`.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::IdentityHeaders;

/// The verified mTLS client certificate's subject, when the connection had one.
pub const X_CLIENT_CERT_SUBJECT: HeaderName = HeaderName::from_static("x-client-cert-subject");
/// RFC 7239 de-facto companions, set by the edge.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// See [`X_FORWARDED_FOR`].
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// See [`X_FORWARDED_FOR`].
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Hop-by-hop fields (RFC 9110 §7.6.1, plus the obsolete `Keep-Alive` and
/// `Proxy-Connection` that old clients still send): they describe one connection and must
/// not be forwarded.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes the hop-by-hop fields and every field named in `Connection` (RFC 9110 §7.6.1).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    strip(headers, &[]);
}

/// Removes the hop-by-hop fields, those named in `Connection`, and those in `also`. Each
/// name present is looked at once, and only names present are removed: looking up every
/// candidate (about twenty, mostly absent) cost more than the rest of the rewriting.
fn strip(headers: &mut HeaderMap, also: &[&HeaderName]) {
    let nominated: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| HOP_BY_HOP.contains(name) || nominated.contains(name) || also.contains(name))
        .cloned()
        .collect();
    for name in &doomed {
        headers.remove(name);
    }
}

/// What the gateway knows about the caller, to put in the upstream request.
#[derive(Debug, Clone)]
pub struct Forwarding<'a> {
    /// The TCP peer's address.
    pub client_ip: IpAddr,
    /// `http` or `https`.
    pub proto: &'a str,
    /// The host the client asked for (`Host`, or the HTTP/2 `:authority`).
    pub host: Option<&'a str>,
    /// The request id.
    pub request_id: &'a str,
    /// `(apiKey, channel)` for authenticated routes.
    pub identity: Option<(&'a str, &'a str)>,
    /// The names the identity goes under.
    pub identity_headers: &'a IdentityHeaders,
    /// The verified client certificate's subject (mTLS).
    pub cert_subject: Option<&'a str>,
}

/// Rewrites the client's headers for the upstream: hop-by-hop removed, the token header
/// removed, `Host` dropped (the client sets it from the upstream URI), framing headers
/// dropped (the body is re-framed), caller-sent identity and forwarding headers removed
/// before ours are set, so an upstream can trust them.
pub fn to_upstream(headers: &mut HeaderMap, token_header: &HeaderName, fwd: &Forwarding<'_>) {
    let request_id = HeaderName::from_static(crate::wire::X_REQUEST_ID);
    strip(
        headers,
        &[
            token_header,
            &header::HOST,
            &header::CONTENT_LENGTH,
            &header::FORWARDED,
            &X_FORWARDED_FOR,
            &X_FORWARDED_PROTO,
            &X_FORWARDED_HOST,
            &fwd.identity_headers.client,
            &fwd.identity_headers.channel,
            &X_CLIENT_CERT_SUBJECT,
            &request_id,
        ],
    );
    // The edge is the first proxy: a client-sent X-Forwarded-For is not trusted, so it is
    // replaced rather than appended to.
    set(headers, X_FORWARDED_FOR, &fwd.client_ip.to_string());
    set(headers, X_FORWARDED_PROTO, fwd.proto);
    if let Some(host) = fwd.host {
        set(headers, X_FORWARDED_HOST, host);
    }
    set(
        headers,
        HeaderName::from_static(crate::wire::X_REQUEST_ID),
        fwd.request_id,
    );
    if let Some((client, channel)) = fwd.identity {
        set(headers, fwd.identity_headers.client.clone(), client);
        set(headers, fwd.identity_headers.channel.clone(), channel);
    }
    if let Some(subject) = fwd.cert_subject {
        set(headers, X_CLIENT_CERT_SUBJECT, subject);
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    // Every value here is ASCII from config or our own formatting; skip one that is not.
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Rewrites the upstream's response headers for the client: hop-by-hop removed.
pub fn to_client(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn connection_nominated_and_hop_by_hop_fields_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn caller_identity_and_forwarding_headers_are_replaced() {
        let mut h = map(&[
            ("authorization", "Bearer t"),
            ("x-client-id", "admin"),
            ("x-channel", "evil"),
            ("x-forwarded-for", "1.2.3.4"),
            ("forwarded", "for=1.2.3.4"),
            ("host", "gw.example"),
            ("content-length", "999"),
            ("x-keep", "yes"),
        ]);
        let fwd = Forwarding {
            client_ip: "127.0.0.9".parse().unwrap(),
            proto: "https",
            host: Some("gw.example"),
            request_id: "rid",
            identity: Some(("MOB-APP", "MOB-APP-2001")),
            identity_headers: &IdentityHeaders::default(),
            cert_subject: None,
        };
        to_upstream(&mut h, &header::AUTHORIZATION, &fwd);
        assert_eq!(h["x-client-id"], "MOB-APP");
        assert_eq!(h["x-channel"], "MOB-APP-2001");
        assert_eq!(h["x-forwarded-for"], "127.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "gw.example");
        assert_eq!(h["x-request-id"], "rid");
        assert_eq!(h["x-keep"], "yes");
        for gone in ["authorization", "forwarded", "host", "content-length"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        assert_eq!(h.get_all("x-client-id").iter().count(), 1);
    }

    #[test]
    fn an_unauthenticated_route_sends_no_identity() {
        let mut h = map(&[("x-client-id", "spoofed")]);
        let fwd = Forwarding {
            client_ip: "::1".parse().unwrap(),
            proto: "http",
            host: None,
            request_id: "r",
            identity: None,
            identity_headers: &IdentityHeaders::default(),
            cert_subject: Some("CN=app"),
        };
        to_upstream(&mut h, &header::AUTHORIZATION, &fwd);
        assert!(!h.contains_key("x-client-id"));
        assert_eq!(h["x-client-cert-subject"], "CN=app");
    }
}
