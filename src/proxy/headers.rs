//! Header rewriting between client and upstream, as pure functions on `HeaderMap`.

use std::net::IpAddr;
use std::sync::LazyLock;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::IdentityHeaders;

use crate::wire::{
    X_CLIENT_CERT_SUBJECT, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_REQUEST_SEAL,
};

/// Hop-by-hop fields (RFC 9110 §7.6.1, plus the obsolete `Keep-Alive` and
/// `Proxy-Connection` that old clients still send): they describe one connection and must
/// not be forwarded.
static HOP_BY_HOP: [HeaderName; 9] = [
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
    static HOP_BY_HOP_NAMES: LazyLock<NameSet> = LazyLock::new(|| NameSet::new(&[&HOP_BY_HOP]));
    strip(headers, &HOP_BY_HOP_NAMES, &[]);
}

/// Headers that name the client's address in some stack or other (nginx's `X-Real-IP`,
/// Akamai's and Cloudflare's `True-Client-IP`, `Client-IP`): a client sends them to be
/// taken for someone else, so they never pass from a client (docs/protocol.md §4.2).
pub static CLIENT_ADDRESS_ALIASES: [HeaderName; 11] = [
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("client-ip"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
    HeaderName::from_static("fastly-client-ip"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-original-forwarded-for"),
];

/// Headers that state a fact about the client's connection (its scheme, TLS, the host it
/// asked for) in some framework or other: Rack, Django and Spring read `X-Forwarded-Ssl`,
/// `X-Forwarded-Scheme`, `X-Url-Scheme` and `Front-End-Https` before `X-Forwarded-Proto`,
/// others `X-Original-Host` or `X-Host` before `Host`. The gateway states these facts
/// itself (`X-Forwarded-Proto`, `X-Forwarded-Host`), so a client's versions never pass.
/// Also the client-certificate headers other proxies set (Envoy's `X-Forwarded-Client-Cert`,
/// Tomcat's `SSLValve` `ssl_client_cert`, IIS ARR's): the gateway's own is
/// `X-Client-Cert-Subject`, set from a verified certificate only.
pub static CONNECTION_FACT_ALIASES: [HeaderName; 16] = [
    HeaderName::from_static("x-scheme"),
    HeaderName::from_static("x-forwarded-client-cert"),
    HeaderName::from_static("ssl-client-cert"),
    HeaderName::from_static("x-ssl-client-cert"),
    HeaderName::from_static("x-client-cert"),
    HeaderName::from_static("x-arr-clientcert"),
    HeaderName::from_static("x-arr-ssl"),
    HeaderName::from_static("x-forwarded-ssl"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-forwarded-protocol"),
    HeaderName::from_static("x-url-scheme"),
    HeaderName::from_static("front-end-https"),
    HeaderName::from_static("x-original-host"),
    HeaderName::from_static("x-host"),
    HeaderName::from_static("x-forwarded-uri"),
    HeaderName::from_static("x-original-uri"),
];

/// Headers some frameworks read to change the method or target of a request (Spring's
/// and Rails' method override, IIS's and Symfony's URL rewrites): a bound request's method
/// and target are the ones the gateway checked, so these never pass.
pub static OVERRIDE_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
];

/// Whether two header names are the same once `_` is read as `-` and ASCII case ignored
/// (`HeaderName`s are lower case already; a name listed in `Connection` need not be). CGI,
/// WSGI, Rack and PHP turn both into `HTTP_X_CLIENT_ID`, so `X_Client_Id` would reach such
/// an upstream as our `X-Client-Id` (docs/protocol.md §4.2).
pub fn same_folded(a: &str, b: &str) -> bool {
    let fold = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

/// Header names looked up by their text, grouped by length: a lookup compares the name
/// with the few of its length (most names present have none), where a binary search
/// compared it with six.
#[derive(Debug)]
struct NameSet(Vec<Vec<&'static str>>);

impl NameSet {
    fn new(lists: &[&'static [HeaderName]]) -> Self {
        let mut by_len: Vec<Vec<&'static str>> = Vec::new();
        for name in lists.iter().flat_map(|list| list.iter()) {
            let name = name.as_str();
            if by_len.len() <= name.len() {
                by_len.resize_with(name.len() + 1, Vec::new);
            }
            if !by_len[name.len()].contains(&name) {
                by_len[name.len()].push(name);
            }
        }
        NameSet(by_len)
    }

    /// The set without `names`.
    fn without(mut self, names: &[&str]) -> Self {
        for list in &mut self.0 {
            list.retain(|name| !names.contains(name));
        }
        self
    }

    fn contains(&self, name: &str) -> bool {
        self.0
            .get(name.len())
            .is_some_and(|names| names.contains(&name))
    }
}

/// Removes the hop-by-hop fields, those named in `Connection`, those in `fixed` (which
/// holds the hop-by-hop ones) and in `configured`, each also under any alias that differs
/// only by `_` for `-` ([`same_folded`]). Each name present is looked at once, without
/// allocating unless it is removed or has a `_` in it: this runs twice per proxied request,
/// and comparing every present name with every candidate (about forty) through chained
/// iterators was a tenth of the plain route's user-space instructions.
fn strip(headers: &mut HeaderMap, fixed: &NameSet, configured: &[&HeaderName]) {
    // The names `Connection` lists, read once (no allocation when it is absent).
    let listed: Vec<&str> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    // As for the other names, a listed one is read with `_` as `-` only when the name
    // present has a `_` in it.
    let nominated = |name: &str| {
        let underscored = name.contains('_');
        listed.iter().any(|l| {
            if underscored {
                same_folded(l, name)
            } else {
                l.eq_ignore_ascii_case(name)
            }
        })
    };
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let text = name.as_str();
            // Exact names first (the common case); a name with `_` in it also under its
            // `-` spelling, against the fixed names and the configured ones (which may
            // themselves have a `_`: `same_folded` folds both sides).
            fixed.contains(text)
                || configured.iter().any(|c| c.as_str() == text)
                || (text.contains('_')
                    && (fixed.contains(&text.replace('_', "-"))
                        || configured.iter().any(|c| same_folded(c.as_str(), text))))
                || nominated(text)
        })
        .cloned()
        .collect();
    for name in &doomed {
        headers.remove(name);
    }
}

/// The fields a client's request never passes with whatever the configuration, beside the
/// hop-by-hop ones, the address aliases and the overrides: `Host` (the client sets it from
/// the upstream URI), `Content-Length` (the body is re-framed), the forwarding and identity
/// headers the gateway sets itself, and the seal it checks; and `Expect` (RFC 9110
/// §10.1.1): the gateway answers `100 Continue` itself (hyper does when the body is first
/// read) and sends the body at once, so forwarding the expectation would let an upstream
/// answer early and read the body on its way as the next request.
static REQUEST_ONLY: [HeaderName; 10] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::EXPECT,
    header::FORWARDED,
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    X_CLIENT_CERT_SUBJECT,
    HeaderName::from_static(crate::wire::X_REQUEST_ID),
    X_REQUEST_SEAL,
];

/// What the gateway knows about the caller, to put in the upstream request.
#[derive(Debug, Clone)]
pub struct Forwarding<'a> {
    /// The TCP peer's address.
    pub client_ip: IpAddr,
    /// `http` or `https`.
    pub proto: &'a str,
    /// The host the client asked for (`Host`, or the HTTP/2 `:authority`), when it is one
    /// of the configured public host names (`server.forwarded_hosts`): an upstream may build
    /// links from `X-Forwarded-Host`, so a client cannot choose it.
    pub host: Option<&'a str>,
    /// The request id.
    pub request_id: &'a str,
    /// `(apiKey, channel)` for authenticated routes.
    pub identity: Option<(&'a str, &'a str)>,
    /// The names the identity goes under.
    pub identity_headers: &'a IdentityHeaders,
    /// The verified client certificate's subject (mTLS).
    pub cert_subject: Option<&'a str>,
    /// The connection came from a trusted proxy (`server.trusted_proxies`), which states
    /// the client's address: its [`KEPT_FROM_TRUSTED_PROXIES`] pass.
    pub via_trusted_proxy: bool,
    /// Every header an identity provider's claims go under (`[jwt_providers]`): never
    /// passed from a client, on any route.
    pub claim_headers: &'a [HeaderName],
    /// The verified claims of this request's JWT, under their headers.
    pub claims: &'a [(HeaderName, HeaderValue)],
}

/// The address headers a trusted proxy may state and the upstream then receives
/// (docs/protocol.md §4.2); from anyone else they are removed with the other aliases.
pub const KEPT_FROM_TRUSTED_PROXIES: [&str; 4] =
    ["x-real-ip", "client-ip", "true-client-ip", "forwarded"];

/// Rewrites the client's headers for the upstream: hop-by-hop removed, the token header
/// removed, `Host` dropped (the client sets it from the upstream URI), framing headers
/// dropped (the body is re-framed), caller-sent identity and forwarding headers removed
/// before ours are set, so an upstream can trust them.
pub fn to_upstream(headers: &mut HeaderMap, token_header: &HeaderName, fwd: &Forwarding<'_>) {
    static REQUEST_STRIPPED: LazyLock<NameSet> = LazyLock::new(|| {
        NameSet::new(&[
            &HOP_BY_HOP,
            &REQUEST_ONLY,
            &CLIENT_ADDRESS_ALIASES,
            &CONNECTION_FACT_ALIASES,
            &OVERRIDE_HEADERS,
        ])
    });
    static FROM_TRUSTED_PROXY_STRIPPED: LazyLock<NameSet> = LazyLock::new(|| {
        NameSet::new(&[
            &HOP_BY_HOP,
            &REQUEST_ONLY,
            &CLIENT_ADDRESS_ALIASES,
            &CONNECTION_FACT_ALIASES,
            &OVERRIDE_HEADERS,
        ])
        .without(&KEPT_FROM_TRUSTED_PROXIES)
    });
    strip(
        headers,
        if fwd.via_trusted_proxy {
            &FROM_TRUSTED_PROXY_STRIPPED
        } else {
            &REQUEST_STRIPPED
        },
        &[
            token_header,
            &fwd.identity_headers.client,
            &fwd.identity_headers.channel,
        ],
    );
    if !fwd.claim_headers.is_empty() {
        let names: Vec<&HeaderName> = fwd.claim_headers.iter().collect();
        strip(headers, &NameSet::new(&[]), &names);
    }
    for (name, value) in fwd.claims {
        headers.insert(name.clone(), value.clone());
    }
    // The edge is the first proxy: a client-sent X-Forwarded-For is not trusted, so it is
    // replaced rather than appended to.
    if let Some(client) = crate::wire::ip_value(fwd.client_ip) {
        headers.insert(X_FORWARDED_FOR, client);
    }
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

/// Keeps only the headers named in `allowed` (and never a hop-by-hop one): what passes to
/// the client beside a sealed response.
pub fn keep_only(headers: &mut HeaderMap, allowed: &[HeaderName]) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| !allowed.contains(name) || HOP_BY_HOP.contains(name))
        .cloned()
        .collect();
    for name in &doomed {
        headers.remove(name);
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

    /// What a plain connection from `client_ip` forwards: no host, identity, certificate
    /// or trusted proxy; each test sets what it is about.
    fn forwarding(client_ip: &str, proto: &'static str) -> Forwarding<'static> {
        static NAMES: std::sync::LazyLock<IdentityHeaders> =
            std::sync::LazyLock::new(IdentityHeaders::default);
        Forwarding {
            client_ip: client_ip.parse().unwrap(),
            proto,
            host: None,
            request_id: "rid",
            identity: None,
            identity_headers: &NAMES,
            cert_subject: None,
            via_trusted_proxy: false,
            claim_headers: &[],
            claims: &[],
        }
    }

    #[test]
    fn claim_headers_are_never_a_clients_and_carry_only_verified_claims() {
        let names = [
            HeaderName::from_static("x-user-id"),
            HeaderName::from_static("x-scope"),
        ];
        let claims = [(names[0].clone(), HeaderValue::from_static("alice"))];
        let mut h = map(&[
            ("x-user-id", "mallory"),
            ("x_scope", "admin"),
            ("x-other", "kept"),
        ]);
        let fwd = Forwarding {
            claim_headers: &names,
            claims: &claims,
            ..forwarding("10.0.0.1", "https")
        };
        to_upstream(&mut h, &header::AUTHORIZATION, &fwd);
        assert_eq!(h.get_all("x-user-id").iter().collect::<Vec<_>>(), ["alice"]);
        assert!(
            !h.contains_key("x_scope"),
            "an underscore alias is removed too"
        );
        assert!(
            !h.contains_key("x-scope"),
            "a claim the token lacks is not sent"
        );
        assert_eq!(h["x-other"], "kept");
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
    fn address_headers_pass_only_from_a_trusted_proxy() {
        let sent = [
            ("x-real-ip", "10.0.0.1"),
            ("client-ip", "10.0.0.1"),
            ("true-client-ip", "10.0.0.1"),
            ("forwarded", "for=10.0.0.1"),
            ("cf-connecting-ip", "10.0.0.1"),
            ("x-client-id", "admin"),
        ];
        for via_trusted_proxy in [false, true] {
            let mut h = map(&sent);
            let fwd = Forwarding {
                via_trusted_proxy,
                ..forwarding("10.0.0.1", "https")
            };
            to_upstream(&mut h, &header::AUTHORIZATION, &fwd);
            for name in KEPT_FROM_TRUSTED_PROXIES {
                assert_eq!(h.contains_key(name), via_trusted_proxy, "{name}");
            }
            // The rest never pass, whoever sends them.
            assert!(!h.contains_key("cf-connecting-ip") && !h.contains_key("x-client-id"));
        }
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
            host: Some("gw.example"),
            identity: Some(("MOB-APP", "MOB-APP-2001")),
            ..forwarding("127.0.0.9", "https")
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
    fn identity_and_address_headers_are_removed_under_underscore_aliases() {
        let mut h = map(&[
            ("x_client_id", "admin"),
            ("x-client_id", "admin"),
            ("x_channel", "evil"),
            ("x_forwarded_for", "6.6.6.6"),
            ("x_forwarded_host", "evil.example"),
            ("x_request_id", "mine"),
            ("x-real-ip", "6.6.6.6"),
            ("x_real_ip", "6.6.6.6"),
            ("client-ip", "6.6.6.6"),
            ("true-client-ip", "6.6.6.6"),
            ("true_client_ip", "6.6.6.6"),
            ("transfer_encoding", "chunked"),
            ("x-request-seal", "abc"),
            ("x_keep_me", "yes"),
        ]);
        let fwd = Forwarding {
            identity: Some(("MOB-APP", "MOB-APP-2001")),
            ..forwarding("127.0.0.9", "http")
        };
        to_upstream(&mut h, &header::AUTHORIZATION, &fwd);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(h["x-client-id"], "MOB-APP");
        assert_eq!(h["x-forwarded-for"], "127.0.0.9");
        assert!(h.contains_key("x_keep_me"), "{names:?}");
        for name in &names {
            assert!(
                !name.contains('_') || *name == "x_keep_me",
                "an alias passed: {names:?}"
            );
        }
        for gone in ["x-real-ip", "client-ip", "true-client-ip", "x-request-seal"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        let mut h = map(&[
            ("x-client-ip", "6.6.6.6"),
            ("cf-connecting-ip", "6.6.6.6"),
            ("x-http-method-override", "DELETE"),
            ("x_original_url", "/admin"),
            ("x-forwarded-prefix", "/evil"),
        ]);
        to_upstream(&mut h, &header::AUTHORIZATION, &fwd);
        for gone in [
            "x-client-ip",
            "cf-connecting-ip",
            "x-http-method-override",
            "x_original_url",
            "x-forwarded-prefix",
        ] {
            assert!(!h.contains_key(gone), "{gone}");
        }
    }

    #[test]
    fn beside_a_sealed_response_only_allowed_headers_pass() {
        let mut h = map(&[
            ("etag", "\"abc\""),
            ("set-cookie", "a=b"),
            ("location", "/x"),
            ("x-allowed", "1"),
            ("connection", "close"),
        ]);
        keep_only(
            &mut h,
            &[HeaderName::from_static("x-allowed"), header::CONNECTION],
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-allowed"], "1");
    }

    #[test]
    fn names_compare_with_underscore_read_as_dash() {
        assert!(same_folded("x-client-id", "x_client_id"));
        assert!(same_folded("x-client-id", "x-client_id"));
        assert!(!same_folded("x-client-id", "x-client-ids"));
        assert!(!same_folded("x-client-id", "x.client.id"));
        assert!(same_folded("X_Client-ID", "x-client_id"));
    }

    proptest::proptest! {
        /// Whatever mix of `-` and `_` a client writes a stripped name with, it is removed.
        #[test]
        fn every_underscore_spelling_of_a_stripped_name_is_removed(
            flips in proptest::collection::vec(proptest::bool::ANY, 16)
        ) {
            let spelled: String = "x-forwarded-for"
                .chars()
                .zip(flips.iter().cycle())
                .map(|(c, flip)| if c == '-' && *flip { '_' } else { c })
                .collect();
            let mut h = HeaderMap::new();
            h.insert(HeaderName::from_bytes(spelled.as_bytes()).unwrap(), HeaderValue::from_static("6.6.6.6"));
            let fwd = forwarding("127.0.0.9", "http");
            to_upstream(&mut h, &header::AUTHORIZATION, &fwd);
            proptest::prop_assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
            proptest::prop_assert_eq!(&h["x-forwarded-for"], "127.0.0.9");
            proptest::prop_assert_eq!(h.len(), 3, "{:?}", h);
        }
    }

    /// The removal as it was first written (every present name against every candidate,
    /// through chained iterators): the faster [`strip`] must remove exactly what it did.
    fn reference_strip(headers: &mut HeaderMap, also: &[&HeaderName], lists: &[&[HeaderName]]) {
        let nominated: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        let known = || {
            HOP_BY_HOP
                .iter()
                .chain(nominated.iter())
                .chain(also.iter().copied())
                .chain(lists.iter().flat_map(|list| list.iter()))
        };
        let doomed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| {
                known().any(|k| k == *name)
                    || (name.as_str().contains('_')
                        && known().any(|k| same_folded(k.as_str(), name.as_str())))
            })
            .cloned()
            .collect();
        for name in &doomed {
            headers.remove(name);
        }
    }

    proptest::proptest! {
        /// Any mix of stripped names, `_` spellings, names nominated by `Connection` (in any
        /// case) and ordinary names: the request and response rewrites remove exactly what
        /// the reference removes.
        #[test]
        fn strip_removes_what_the_reference_removes(
            picks in proptest::collection::vec((0usize..64, proptest::bool::ANY, proptest::bool::ANY), 0..12),
            listed in proptest::collection::vec((0usize..64, proptest::bool::ANY), 0..4),
        ) {
            let mut pool: Vec<String> = HOP_BY_HOP
                .iter()
                .chain(REQUEST_ONLY.iter())
                .chain(CLIENT_ADDRESS_ALIASES.iter())
                .chain(CONNECTION_FACT_ALIASES.iter())
                .chain(OVERRIDE_HEADERS.iter())
                .map(|n| n.as_str().to_owned())
                .collect();
            pool.extend(["authorization", "x-client-id", "x-channel", "x-api-tenant", "accept", "x-hop-me", "x_hop-me", "x_tenant_id", "x-tenant-id", "x-tenant_id"].map(String::from));
            let spell = |name: &str, flip: bool| if flip { name.replacen('-', "_", 1) } else { name.to_owned() };
            let mut h = HeaderMap::new();
            for (i, flip, _) in &picks {
                let name = spell(&pool[i % pool.len()], *flip);
                h.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_static("v"));
            }
            let connection: Vec<String> = listed
                .iter()
                .map(|(i, upper)| {
                    let name = pool[i % pool.len()].clone();
                    if *upper { name.to_ascii_uppercase() } else { name }
                })
                .collect();
            if !connection.is_empty() {
                h.append(header::CONNECTION, HeaderValue::from_str(&connection.join(", ")).unwrap());
            }
            // A configured name may have a `_` of its own.
            let tenant = HeaderName::from_static("x_tenant_id");
            let identity = IdentityHeaders::default();
            let configured = [&header::AUTHORIZATION, &identity.client, &tenant];
            let request_lists: [&[HeaderName]; 4] = [&REQUEST_ONLY, &CLIENT_ADDRESS_ALIASES, &CONNECTION_FACT_ALIASES, &OVERRIDE_HEADERS];

            let (mut ours, mut reference) = (h.clone(), h.clone());
            let set = NameSet::new(&[&HOP_BY_HOP, &REQUEST_ONLY, &CLIENT_ADDRESS_ALIASES, &CONNECTION_FACT_ALIASES, &OVERRIDE_HEADERS]);
            strip(&mut ours, &set, &configured);
            reference_strip(&mut reference, &configured, &request_lists);
            proptest::prop_assert_eq!(&ours, &reference);

            let (mut ours, mut reference) = (h.clone(), h);
            remove_hop_by_hop(&mut ours);
            reference_strip(&mut reference, &[], &[]);
            proptest::prop_assert_eq!(ours, reference);
        }
    }

    #[test]
    fn an_unauthenticated_route_sends_no_identity() {
        let mut h = map(&[("x-client-id", "spoofed")]);
        let fwd = Forwarding {
            request_id: "r",
            cert_subject: Some("CN=app"),
            ..forwarding("::1", "http")
        };
        to_upstream(&mut h, &header::AUTHORIZATION, &fwd);
        assert!(!h.contains_key("x-client-id"));
        assert_eq!(h["x-client-cert-subject"], "CN=app");
    }
}
