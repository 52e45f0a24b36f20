//! Choosing the route for a path, and refusing paths that could mean one route to us and
//! another to the upstream (docs/protocol.md §4.2): the path is first normalised the way upstreams
//! read it ([`normalize`]), the route is chosen on that, and that exact path is forwarded.

use std::borrow::Cow;
use std::sync::Arc;

use crate::config::Route;

/// The route for `host` (lower case, no port; `None` when the request names none) and
/// `path`, in this order (documented in docs/protocol.md §4.2):
/// 1. a route listing `host` exactly, then one whose `*.suffix` matches it (the longest
///    suffix first), then a route with no `hosts`;
/// 2. among those, the longest matching prefix (routes are stored longest first). A prefix
///    without a trailing `/` matches whole segments only: `/api` matches `/api` and
///    `/api/x`, not `/apix`.
pub fn select<'r>(
    routes: &'r [Arc<Route>],
    host: Option<&str>,
    path: &str,
) -> Option<&'r Arc<Route>> {
    let mut best: Option<(u16, &'r Arc<Route>)> = None;
    for route in routes {
        if !prefix_matches(&route.prefix, path) {
            continue;
        }
        let rank = if route.hosts.is_empty() {
            0
        } else {
            match host.and_then(|h| route.hosts.iter().filter_map(|p| p.rank(h)).max()) {
                // Above every host-less route.
                Some(rank) => rank.saturating_add(1).max(1),
                None => continue,
            }
        };
        // Longest prefix first already: a later route wins only with a better host rank.
        if best.is_none_or(|(best_rank, _)| rank > best_rank) {
            best = Some((rank, route));
        }
    }
    best.map(|(_, route)| route)
}

/// The request's host for routing: the authority (HTTP/2, absolute-form) or `Host`,
/// without port, lower case.
pub fn request_host(uri: &http::Uri, headers: &http::HeaderMap) -> Option<String> {
    let raw = match uri.authority() {
        Some(authority) => authority.host().to_owned(),
        None => {
            let value = headers.get(http::header::HOST)?.to_str().ok()?;
            match value.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
                _ => value.to_owned(),
            }
        }
    };
    Some(raw.to_ascii_lowercase())
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
        && (prefix.ends_with('/')
            || path.len() == prefix.len()
            || path.as_bytes()[prefix.len()] == b'/')
}

/// Why a path is refused (400 `ROUTE003`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A `.` or `..` segment, plain, percent-encoded, or followed by `;` parameters.
    #[error("dot segment")]
    DotSegment,
    /// An encoded `/` or `\`, a raw `\`, or an encoded NUL.
    #[error("encoded separator or NUL")]
    Separator,
    /// A `%` not followed by two hex digits, or an encoded `%` followed by two (a second
    /// layer of encoding).
    #[error("malformed or double percent-encoding")]
    BadEscape,
    /// A `;` segment parameter.
    #[error("segment parameters")]
    Parameters,
    /// Percent-encoded bytes that do not decode to UTF-8, such as the overlong `%c0%ae`
    /// that some decoders read as `.`.
    #[error("percent-encoded bytes that are not UTF-8")]
    NotUtf8,
}

/// The path as the upstream will understand it (docs/protocol.md §4.2): runs of `/` merged into
/// one, percent-encoded unreserved characters (RFC 3986 §2.3: letters, digits, `-._~`)
/// decoded, everything else kept as sent (case included). Refused: dot segments (RFC 3986
/// §5.2.4 would remove them upstream, so `/public/../api/x` would be checked against one
/// route and served by another), also when encoded or followed by `;` (`/..;/` is `..` to
/// Java servlet containers), encoded `/` and `\`, a raw `\` (some servers read it as
/// `/`), an encoded NUL, malformed escapes, and escapes that do not decode to UTF-8 (the
/// overlong `%c0%ae` is `.` to decoders that do not check).
///
/// Borrows when the path is already normal, which is the common case.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    let mut changed = false;
    let mut non_ascii = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' | 0 => return Err(PathError::Separator),
            // Segment parameters (`/api;x/secret`) are stripped by some servlet containers
            // after we route: `/api;x/` would be routed as a catch-all and served as `/api/`.
            b';' => return Err(PathError::Parameters),
            b'%' => {
                let value = hex_pair(bytes.get(i + 1..i + 3)).ok_or(PathError::BadEscape)?;
                if matches!(value, b'/' | b'\\' | 0 | b';') {
                    return Err(PathError::Separator);
                }
                // `%25` and two hex digits: a second encoding layer, which an upstream that
                // decodes twice would read as the character we never saw (`%252e%252e`).
                if value == b'%' && hex_pair(bytes.get(i + 3..i + 5)).is_some() {
                    return Err(PathError::BadEscape);
                }
                changed |= is_unreserved(value);
                non_ascii |= !value.is_ascii();
                i += 3;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                changed = true;
                i += 1;
            }
            _ => i += 1,
        }
    }
    if non_ascii && std::str::from_utf8(&percent_decoded(bytes)).is_err() {
        return Err(PathError::NotUtf8);
    }
    let normal: Cow<'_, str> = if changed {
        Cow::Owned(rewrite(bytes))
    } else {
        Cow::Borrowed(path)
    };
    let dot = normal
        .split('/')
        .any(|segment| segment == "." || segment == "..");
    if dot {
        return Err(PathError::DotSegment);
    }
    Ok(normal)
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    match pair {
        Some([hi, lo]) => Some(u8::try_from(digit(*hi)? * 16 + digit(*lo)?).ok()?),
        _ => None,
    }
}

/// Every escape of a path already checked for bad escapes, decoded.
fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex_pair(bytes.get(i + 1..i + 3))) {
            (b'%', Some(value)) => {
                out.push(value);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The rewrite of [`normalize`] for a path already checked for bad escapes.
fn rewrite(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                match hex_pair(bytes.get(i + 1..i + 3)) {
                    Some(value) if is_unreserved(value) => out.push(char::from(value)),
                    _ => {
                        for &b in &bytes[i..(i + 3).min(bytes.len())] {
                            out.push(char::from(b));
                        }
                    }
                }
                i += 3;
            }
            b'/' if out.ends_with('/') => i += 1,
            b => {
                // The path of an `http::Uri` is ASCII; anything else is kept byte for byte.
                out.push(char::from(b));
                i += 1;
            }
        }
    }
    out
}

/// The path to send upstream: the route's prefix removed if configured, under the
/// upstream's base path.
pub fn upstream_path(route: &Route, base_path: &str, path: &str) -> String {
    let rest = if route.strip_prefix {
        &path[route.prefix.len().min(path.len())..]
    } else {
        path
    };
    let rest = rest.trim_start_matches('/');
    // By hand rather than `format!`: this runs on every proxied request.
    let mut out = String::with_capacity(base_path.len() + 1 + rest.len());
    out.push_str(base_path);
    out.push('/');
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, hosts: &[&str]) -> Arc<Route> {
        let mut file = crate::config::RouteFile {
            prefix: Some(prefix.into()),
            upstreams: vec!["http://127.0.0.1:1".into()],
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..Default::default()
        };
        file.auth = Some(crate::config::RouteAuth::None);
        let config = crate::config::Config::from_file(
            crate::config::FileConfig {
                routes: vec![file],
                ..Default::default()
            },
            std::path::Path::new("."),
            &|_| None,
        )
        .unwrap();
        Arc::clone(&config.routes[0])
    }

    #[test]
    fn hosts_rank_exact_then_longest_suffix_then_none_then_prefix_length() {
        let routes = vec![
            route("/api/v2/", &[]),
            route("/api/", &["api.bank.example"]),
            route("/api/", &["*.bank.example"]),
            route("/api/", &["*.eu.bank.example"]),
            route("/", &[]),
        ];
        let pick = |host: Option<&str>, path| {
            let r = select(&routes, host, path).unwrap();
            (r.prefix.clone(), r.hosts.clone())
        };
        assert_eq!(pick(Some("api.bank.example"), "/api/x").1, routes[1].hosts);
        assert_eq!(pick(Some("x.eu.bank.example"), "/api/x").1, routes[3].hosts);
        assert_eq!(pick(Some("web.bank.example"), "/api/x").1, routes[2].hosts);
        // A host route outranks a longer host-less prefix.
        assert_eq!(
            pick(Some("api.bank.example"), "/api/v2/x").1,
            routes[1].hosts
        );
        assert_eq!(pick(Some("other.example"), "/api/v2/x").0, "/api/v2/");
        assert_eq!(
            pick(Some("bank.example"), "/api/x").0,
            "/",
            "*.suffix needs a label"
        );
        assert_eq!(pick(None, "/api/x").0, "/");
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/x"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/api/", "/api/x"));
        assert!(!prefix_matches("/api/", "/api"));
    }

    #[test]
    fn paths_are_normalised_as_upstreams_read_them() {
        let cases = [
            ("/api/echo", "/api/echo"),
            ("//api/echo", "/api/echo"),
            ("/api///echo//", "/api/echo/"),
            ("/%61pi/%65cho", "/api/echo"),
            ("/api/%7Euser", "/api/~user"),
            ("/api/a%20b", "/api/a%20b"),
            ("/API/Echo", "/API/Echo"),
            ("/api/x.json", "/api/x.json"),
            ("/a/.../b", "/a/.../b"),
            ("/api/..x", "/api/..x"),
            ("/", "/"),
        ];
        for (raw, normal) in cases {
            assert_eq!(normalize(raw).as_deref(), Ok(normal), "{raw}");
        }
        assert!(matches!(normalize("/api/echo"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn dot_segments_encoded_separators_and_bad_escapes_are_refused() {
        for bad in [
            "/a/../b",
            "/a/./b",
            "/a/%2e%2E/b",
            "/a/.%2e/b",
            "/..",
            "//..//api",
        ] {
            assert_eq!(normalize(bad), Err(PathError::DotSegment), "{bad}");
        }
        for bad in [
            "/x/..;/api/echo",
            "/x/.;a=b/api",
            "/x/%2e%2e;/api",
            "/api;x/secret",
        ] {
            assert_eq!(normalize(bad), Err(PathError::Parameters), "{bad}");
        }
        for bad in ["/x/..%3b/api", "/x/.%3Bjsessionid=1/api"] {
            assert_eq!(normalize(bad), Err(PathError::Separator), "{bad}");
        }
        for bad in ["/x/%252e%252e/api", "/a%2541"] {
            assert_eq!(normalize(bad), Err(PathError::BadEscape), "{bad}");
        }
        for bad in ["/a%2fb", "/a%5Cb", "/a\\b", "/a%00b"] {
            assert_eq!(normalize(bad), Err(PathError::Separator), "{bad}");
        }
        for bad in ["/a%", "/a%2", "/a%zz", "/a%2g"] {
            assert_eq!(normalize(bad), Err(PathError::BadEscape), "{bad}");
        }
        // Overlong and stray UTF-8 (`%c0%ae` is `.`, `%c0%af` is `/` to lax decoders).
        for bad in [
            "/x/%c0%ae%c0%ae/api",
            "/x/%C0%AF/api",
            "/%e0%80%ae",
            "/a%80",
            "/a%ff",
        ] {
            assert_eq!(normalize(bad), Err(PathError::NotUtf8), "{bad}");
        }
        // Real UTF-8, encoded, passes as sent.
        assert_eq!(normalize("/caf%C3%A9").as_deref(), Ok("/caf%C3%A9"));
    }

    proptest::proptest! {
        /// Whatever comes in, what comes out is normal: normalising again changes nothing,
        /// no `//`, no dot segment, no encoded unreserved character.
        #[test]
        fn normalising_is_idempotent_and_leaves_nothing_to_normalise(
            path in "/[./%2eEfF5cC61a;~\\-]{0,24}"
        ) {
            if let Ok(normal) = normalize(&path) {
                let again = normalize(&normal);
                proptest::prop_assert_eq!(again.as_deref(), Ok(&*normal));
                proptest::prop_assert!(!normal.contains("//"), "{}", normal);
                let lower = normal.to_ascii_lowercase();
                proptest::prop_assert!(!lower.contains("%2e") && !lower.contains("%61"));
                proptest::prop_assert!(!normal.contains(';'), "{}", normal);
                for segment in normal.split('/') {
                    proptest::prop_assert!(segment != "." && segment != "..", "{}", normal);
                }
            }
        }
    }
}
