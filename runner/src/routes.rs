//! HTTP routes in Spin's syntax and the rules that pick one for a request path.
//!
//! A route is a path of literal segments, `:name` segments (one segment, any value) and an
//! optional trailing `...` (the rest, including nothing). `/a/...` matches `/a` and `/a/b/c`.
//! Trailing slashes are ignored on both sides. When several routes match, the most specific
//! wins: an exact route beats one with parameters, which beats a wildcard; among wildcards,
//! the one with the longer prefix wins.

use std::cmp::Reverse;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    segments: Vec<Segment>,
    wildcard: bool,
    text: String,
}

/// What a match found: the part of the path the route matched, the rest (for a wildcard
/// route, as the request wrote it, trailing slash included, as Spin gives it), and the
/// value of each `:name` segment (as written in the path, not percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub matched: String,
    pub path_info: String,
    pub params: Vec<(String, String)>,
}

impl RoutePattern {
    pub fn parse(route: &str) -> Result<Self, String> {
        if !route.starts_with('/') {
            return Err(format!("route `{route}` must start with `/`"));
        }
        if route.contains(['?', '#']) || route.chars().any(char::is_whitespace) {
            return Err(format!(
                "route `{route}` must be a plain path (no query, fragment or spaces)"
            ));
        }
        let parts: Vec<&str> = route.trim_end_matches('/').split('/').skip(1).collect();
        let mut segments = Vec::new();
        let mut wildcard = false;
        for (index, part) in parts.iter().enumerate() {
            if *part == "..." {
                if index + 1 != parts.len() {
                    return Err(format!(
                        "route `{route}`: `...` may only be the last segment"
                    ));
                }
                wildcard = true;
            } else if part.is_empty() {
                return Err(format!("route `{route}` has an empty segment (`//`)"));
            } else if let Some(name) = part.strip_prefix(':') {
                if name.is_empty() {
                    return Err(format!("route `{route}`: a `:` segment needs a name"));
                }
                segments.push(Segment::Param(name.to_string()));
            } else if part.contains("...") {
                return Err(format!("route `{route}`: `...` must be a whole segment"));
            } else {
                segments.push(Segment::Literal(part.to_string()));
            }
        }
        Ok(Self {
            segments,
            wildcard,
            text: route.to_string(),
        })
    }

    /// The route as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A form in which two routes that match the same paths compare equal.
    pub fn canonical(&self) -> String {
        let mut s: String = self
            .segments
            .iter()
            .map(|seg| match seg {
                Segment::Literal(l) => format!("/{l}"),
                Segment::Param(_) => "/:".to_string(),
            })
            .collect();
        if self.wildcard {
            s.push_str("/...");
        }
        if s.is_empty() { "/".into() } else { s }
    }

    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.trim_end_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').skip(1).collect()
        };
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(literal) if literal != part => return None,
                Segment::Literal(_) => {}
                Segment::Param(name) => params.push((name.clone(), part.to_string())),
            }
        }
        let matched: String = parts[..self.segments.len()]
            .iter()
            .map(|p| format!("/{p}"))
            .collect();
        let path_info = match self.wildcard {
            true => path.get(matched.len()..).unwrap_or_default().to_string(),
            false => String::new(),
        };
        Some(RouteMatch {
            matched,
            path_info,
            params,
        })
    }

    /// Higher is more specific.
    fn specificity(&self) -> (bool, usize, Reverse<usize>, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let params = self.segments.len() - literals;
        (
            !self.wildcard,
            self.segments.len(),
            Reverse(params),
            literals,
        )
    }
}

/// Picks the most specific of `routes` that matches `path`, returning its index.
pub fn best_match<'a>(
    routes: impl IntoIterator<Item = &'a RoutePattern>,
    path: &str,
) -> Option<(usize, RouteMatch)> {
    routes
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.matches(path).map(|m| (i, r, m)))
        .max_by_key(|(i, r, _)| (r.specificity(), Reverse(*i)))
        .map(|(i, _, m)| (i, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(routes: &[&str], path: &str) -> Option<String> {
        let parsed: Vec<RoutePattern> = routes
            .iter()
            .map(|r| RoutePattern::parse(r).unwrap())
            .collect();
        best_match(&parsed, path).map(|(i, _)| routes[i].to_string())
    }

    #[test]
    fn exact_routes_match_only_themselves() {
        assert_eq!(pick(&["/test1"], "/test1").as_deref(), Some("/test1"));
        assert_eq!(pick(&["/test1"], "/test1/").as_deref(), Some("/test1"));
        assert_eq!(pick(&["/test1"], "/test1/x"), None);
        assert_eq!(pick(&["/test1"], "/test10"), None);
        assert_eq!(pick(&["/test1"], "/"), None);
    }

    #[test]
    fn wildcards_match_their_prefix_and_below() {
        assert_eq!(pick(&["/a/..."], "/a").as_deref(), Some("/a/..."));
        assert_eq!(pick(&["/a/..."], "/a/b/c").as_deref(), Some("/a/..."));
        assert_eq!(pick(&["/a/..."], "/ab"), None);
        assert_eq!(pick(&["/..."], "/").as_deref(), Some("/..."));
        let m = RoutePattern::parse("/a/...")
            .unwrap()
            .matches("/a/b/c")
            .unwrap();
        assert_eq!((m.matched.as_str(), m.path_info.as_str()), ("/a", "/b/c"));
    }

    #[test]
    fn path_info_keeps_the_requests_trailing_slash_as_spin_does() {
        let route = RoutePattern::parse("/foo/...").unwrap();
        for (path, info) in [
            ("/foo", ""),
            ("/foo/", "/"),
            ("/foo/bar", "/bar"),
            ("/foo/bar/", "/bar/"),
        ] {
            assert_eq!(route.matches(path).unwrap().path_info, info, "{path}");
        }
        assert_eq!(
            RoutePattern::parse("/foo")
                .unwrap()
                .matches("/foo/")
                .unwrap()
                .path_info,
            ""
        );
    }

    #[test]
    fn named_segments_give_their_values_as_written() {
        let route = RoutePattern::parse("/users/:id/files/:file_name/...").unwrap();
        let m = route.matches("/users/42/files/a%20b.txt/more").unwrap();
        assert_eq!(
            m.params,
            [
                ("id".to_string(), "42".to_string()),
                ("file_name".to_string(), "a%20b.txt".to_string())
            ]
        );
        assert_eq!(m.path_info, "/more");
    }

    #[test]
    fn most_specific_wins() {
        let routes = ["/...", "/a/...", "/a/:id", "/a/b"];
        assert_eq!(pick(&routes, "/a/b").as_deref(), Some("/a/b"));
        assert_eq!(pick(&routes, "/a/c").as_deref(), Some("/a/:id"));
        assert_eq!(pick(&routes, "/a/c/d").as_deref(), Some("/a/..."));
        assert_eq!(pick(&routes, "/z").as_deref(), Some("/..."));
    }

    #[test]
    fn refuses_malformed_routes() {
        for bad in [
            "test1", "/a/.../b", "/a//b", "/a/:", "/a?x=1", "/a b", "/a...",
        ] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
