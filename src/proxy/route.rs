//! Choosing the route for a path, and refusing paths that could mean one route to us and
//! another to the upstream.

use std::sync::Arc;

use crate::config::Route;

/// The longest-prefix route for `path` (routes are stored longest first). A prefix without
/// a trailing `/` matches whole segments only: `/api` matches `/api` and `/api/x`, not
/// `/apix`.
pub fn select<'r>(routes: &'r [Arc<Route>], path: &str) -> Option<&'r Arc<Route>> {
    routes
        .iter()
        .find(|route| prefix_matches(&route.prefix, path))
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
        && (prefix.ends_with('/')
            || path.len() == prefix.len()
            || path.as_bytes()[prefix.len()] == b'/')
}

/// Whether a path is safe to route: no `.` or `..` segments, plain or percent-encoded, and
/// no encoded `/` or `\`. Upstreams normalise these (RFC 3986 §5.2.4), so a path such as
/// `/public/../api/x` would be checked against one route and served by another.
pub fn is_safe_path(path: &str) -> bool {
    // Allocation-free: this runs on every proxied request.
    let bytes = path.as_bytes();
    let encoded = |i: usize, hex: &[u8; 2]| {
        bytes.get(i) == Some(&b'%')
            && bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.eq_ignore_ascii_case(hex))
    };
    if (0..bytes.len()).any(|i| bytes[i] == b'\\' || encoded(i, b"2f") || encoded(i, b"5c")) {
        return false;
    }
    !path.split('/').any(|segment| {
        // A segment made only of `.` or `%2e`, one or two of them.
        let (mut i, mut dots) = (0, 0);
        let s = segment.as_bytes();
        while i < s.len() {
            if s[i] == b'.' {
                i += 1;
            } else if s.len() >= i + 3
                && s[i] == b'%'
                && s[i + 1..i + 3].eq_ignore_ascii_case(b"2e")
            {
                i += 3;
            } else {
                return false;
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
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
    format!("{base_path}/{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/x"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/api/", "/api/x"));
        assert!(!prefix_matches("/api/", "/api"));
    }

    #[test]
    fn dot_segments_and_encoded_separators_are_unsafe() {
        for bad in [
            "/a/../b",
            "/a/./b",
            "/a/%2e%2E/b",
            "/a/.%2e/b",
            "/a%2fb",
            "/a%5Cb",
            "/..",
        ] {
            assert!(!is_safe_path(bad), "{bad}");
        }
        for good in ["/", "/api/x.json", "/api/..x", "/a/b/", "/a/.../b", "//x"] {
            assert!(is_safe_path(good), "{good}");
        }
    }

    /// The straightforward (allocating) statement of the rule.
    fn reference(path: &str) -> bool {
        let lower = path.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
            return false;
        }
        !lower.split('/').any(|segment| {
            let decoded = segment.replace("%2e", ".");
            decoded == "." || decoded == ".."
        })
    }

    proptest::proptest! {
        #[test]
        fn the_fast_check_agrees_with_the_reference(path in "[./%2eEfF5cCa\\\\]{0,16}") {
            proptest::prop_assert_eq!(is_safe_path(&path), reference(&path), "{}", path);
        }
    }
}
