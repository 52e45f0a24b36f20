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
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
        return false;
    }
    !lower.split('/').any(|segment| {
        let decoded = segment.replace("%2e", ".");
        decoded == "." || decoded == ".."
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
        for good in ["/", "/api/x.json", "/api/..x", "/a/b/"] {
            assert!(is_safe_path(good), "{good}");
        }
    }
}
