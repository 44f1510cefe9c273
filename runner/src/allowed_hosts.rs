//! `allowed_outbound_hosts` entries in Spin's syntax, and the check an outbound URL must pass.
//!
//! An entry is `scheme://host[:port]`: the scheme is a name or `*`; the host is a name, an IP,
//! `*`, or `*.suffix` (any subdomain of suffix); the port is a number, a range `a..b`
//! (end exclusive, as in Spin), or `*`, and defaults to the scheme's (80 for http, 443 for
//! https). `insecure:allow-all` allows everything.

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemeRule {
    Any,
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Any,
    Exact(String),
    SubdomainOf(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortRule {
    Any,
    Range(u16, u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: SchemeRule,
    host: HostRule,
    port: PortRule,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<Self, String> {
        if entry == "insecure:allow-all" {
            return Ok(Self {
                scheme: SchemeRule::Any,
                host: HostRule::Any,
                port: PortRule::Any,
            });
        }
        let (scheme, rest) = entry.split_once("://").ok_or_else(|| {
            format!("`{entry}` must look like scheme://host[:port], e.g. https://example.com")
        })?;
        if rest.contains('/') && !rest.ends_with('/') || rest.trim_end_matches('/').contains('/') {
            return Err(format!(
                "`{entry}`: paths are not allowed, only scheme://host[:port]"
            ));
        }
        let rest = rest.trim_end_matches('/');
        let scheme_rule = match scheme {
            "*" => SchemeRule::Any,
            s if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                SchemeRule::Named(s.to_ascii_lowercase())
            }
            _ => return Err(format!("`{entry}`: `{scheme}` is not a valid scheme")),
        };
        let (host, port) = split_host_port(rest);
        if host.is_empty() {
            return Err(format!("`{entry}`: the host is missing"));
        }
        let host_rule = if host == "*" {
            HostRule::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            check_host(suffix).map_err(|r| format!("`{entry}`: {r}"))?;
            HostRule::SubdomainOf(suffix.to_ascii_lowercase())
        } else {
            check_host(host).map_err(|r| format!("`{entry}`: {r}"))?;
            HostRule::Exact(host.to_ascii_lowercase())
        };
        let port_rule = match port {
            Some("*") => PortRule::Any,
            Some(p) => parse_port_rule(p).map_err(|r| format!("`{entry}`: {r}"))?,
            None => match &scheme_rule {
                SchemeRule::Named(s) => match default_port(s) {
                    Some(p) => PortRule::Range(p, p),
                    None => {
                        return Err(format!("`{entry}`: give a port, `{s}` has no default port"));
                    }
                },
                SchemeRule::Any => {
                    return Err(format!(
                        "`{entry}`: a `*` scheme needs an explicit port (or `:*`)"
                    ));
                }
            },
        };
        Ok(Self {
            scheme: scheme_rule,
            host: host_rule,
            port: port_rule,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let scheme_ok = match &self.scheme {
            SchemeRule::Any => true,
            SchemeRule::Named(s) => *s == scheme,
        };
        let host_ok = match &self.host {
            HostRule::Any => true,
            HostRule::Exact(h) => h.trim_start_matches('[').trim_end_matches(']') == host,
            HostRule::SubdomainOf(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
        };
        let port_ok = match self.port {
            PortRule::Any => true,
            PortRule::Range(lo, hi) => lo <= port && port <= hi,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// Splits `host[:port]`, keeping IPv6 literals (`[::1]:80`) whole.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        match s.find(']') {
            Some(end) => {
                let port = s[end + 1..].strip_prefix(':');
                (&s[..=end], port)
            }
            None => (s, None),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    }
}

fn check_host(host: &str) -> Result<(), String> {
    let ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c));
    if ok && !host.contains("..") {
        Ok(())
    } else {
        Err(format!("`{host}` is not a valid host name"))
    }
}

fn parse_port_rule(p: &str) -> Result<PortRule, String> {
    let port = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("`{p}` is not a valid port"))
    };
    match p.split_once("..") {
        Some((lo, hi)) => {
            let (lo, hi) = (port(lo)?, port(hi)?);
            if lo >= hi {
                return Err(format!("port range `{p}` is empty"));
            }
            Ok(PortRule::Range(lo, hi - 1))
        }
        None => {
            let p = port(p)?;
            Ok(PortRule::Range(p, p))
        }
    }
}

/// A component's whole allow-list.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<AllowedHost>);

impl AllowList {
    pub fn new(entries: Vec<AllowedHost>) -> Self {
        Self(entries)
    }

    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let Some(port) = port.or_else(|| default_port(&scheme.to_ascii_lowercase())) else {
            return false;
        };
        self.0.iter().any(|rule| rule.allows(scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, scheme: &str, host: &str, port: Option<u16>) -> bool {
        AllowList::new(vec![AllowedHost::parse(entry).unwrap()]).allows(scheme, host, port)
    }

    #[test]
    fn exact_hosts_with_default_and_explicit_ports() {
        assert!(allows(
            "http://test2.spin.internal",
            "http",
            "test2.spin.internal",
            None
        ));
        assert!(!allows(
            "http://test2.spin.internal",
            "https",
            "test2.spin.internal",
            None
        ));
        assert!(!allows(
            "http://test2.spin.internal",
            "http",
            "test3.spin.internal",
            None
        ));
        assert!(allows(
            "http://127.0.0.1:8899",
            "http",
            "127.0.0.1",
            Some(8899)
        ));
        assert!(!allows(
            "http://127.0.0.1:8899",
            "http",
            "127.0.0.1",
            Some(8898)
        ));
        assert!(!allows("http://127.0.0.1:8899", "http", "127.0.0.1", None));
    }

    #[test]
    fn wildcards_and_ranges() {
        assert!(allows(
            "http://*.spin.internal",
            "http",
            "test2.spin.internal",
            None
        ));
        assert!(!allows(
            "http://*.spin.internal",
            "http",
            "spin.internal",
            None
        ));
        assert!(!allows(
            "http://*.spin.internal",
            "http",
            "evilspin.internal",
            None
        ));
        assert!(allows("*://*:*", "https", "example.com", Some(1)));
        assert!(allows(
            "http://localhost:3000..3002",
            "http",
            "localhost",
            Some(3001)
        ));
        assert!(!allows(
            "http://localhost:3000..3002",
            "http",
            "localhost",
            Some(3002)
        ));
        assert!(allows("insecure:allow-all", "http", "anything", None));
    }

    #[test]
    fn refuses_malformed_entries() {
        for bad in [
            "example.com",
            "http://",
            "http://a.com/path",
            "*://a.com",
            "http://a.com:x",
            "http://a.com:5..5",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
