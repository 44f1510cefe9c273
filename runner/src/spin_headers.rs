//! The `spin-*` request headers Spin gives an HTTP component, for a request from a client
//! (routed by its route) and for one chained from another component (`*.spin.internal`,
//! routed as Spin does, as if by the route `/...`, from client address `0.0.0.0:0`). A
//! client's own `spin-*` headers of the same names are replaced, so a guest can trust them.

use crate::routes::RouteMatch;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::net::SocketAddr;

/// The route a chained request is treated as matching.
const CHAINED_ROUTE: &str = "/...";
/// The client address a chained request carries.
const CHAINED_CLIENT: &str = "0.0.0.0:0";

/// Sets the headers for a request to `full_url` that matched `raw_route` as `matched`.
pub fn add(
    headers: &mut HeaderMap,
    full_url: &str,
    raw_route: &str,
    matched: &RouteMatch,
    client: SocketAddr,
) {
    set(
        headers,
        full_url,
        raw_route,
        &matched.path_info,
        &client.to_string(),
    );
    for (name, value) in &matched.params {
        let header = format!(
            "spin-path-match-{}",
            name.to_ascii_lowercase().replace('_', "-")
        );
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(header), HeaderValue::from_str(value))
        {
            headers.insert(name, value);
        }
    }
}

/// Sets the headers for a request chained from another component to `uri`.
pub fn add_chained(headers: &mut HeaderMap, uri: &http::Uri) {
    set(
        headers,
        &uri.to_string(),
        CHAINED_ROUTE,
        uri.path(),
        CHAINED_CLIENT,
    );
}

fn set(headers: &mut HeaderMap, full_url: &str, raw_route: &str, path_info: &str, client: &str) {
    let component_route = raw_route.trim_end_matches("/...");
    let values = [
        ("spin-full-url", full_url),
        ("spin-path-info", path_info),
        ("spin-matched-route", raw_route),
        ("spin-raw-component-route", raw_route),
        ("spin-component-route", component_route),
        ("spin-base-path", "/"),
        ("spin-client-addr", client),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::RoutePattern;

    #[test]
    fn a_routed_request_gets_spins_headers_and_one_per_named_segment() {
        let route = RoutePattern::parse("/users/:id/:user_name/...").unwrap();
        let matched = route.matches("/users/42/ann/x/y/").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("spin-path-info", "/forged".parse().unwrap());
        add(
            &mut headers,
            "http://h/users/42/ann/x/y/?q=1",
            route.as_str(),
            &matched,
            "10.0.0.1:5000".parse().unwrap(),
        );
        let get = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
        assert_eq!(get("spin-full-url"), "http://h/users/42/ann/x/y/?q=1");
        assert_eq!(get("spin-path-info"), "/x/y/");
        assert_eq!(get("spin-matched-route"), "/users/:id/:user_name/...");
        assert_eq!(get("spin-component-route"), "/users/:id/:user_name");
        assert_eq!(get("spin-client-addr"), "10.0.0.1:5000");
        assert_eq!(get("spin-path-match-id"), "42");
        assert_eq!(get("spin-path-match-user-name"), "ann");
    }

    #[test]
    fn a_chained_request_is_routed_as_by_a_wildcard_from_no_client() {
        let mut headers = HeaderMap::new();
        add_chained(
            &mut headers,
            &"http://test2.spin.internal/a/b?x=1".parse().unwrap(),
        );
        let get = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
        assert_eq!(get("spin-full-url"), "http://test2.spin.internal/a/b?x=1");
        assert_eq!(get("spin-path-info"), "/a/b");
        assert_eq!(get("spin-matched-route"), "/...");
        assert_eq!(get("spin-component-route"), "");
        assert_eq!(get("spin-client-addr"), "0.0.0.0:0");
    }
}
