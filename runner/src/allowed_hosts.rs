//! `allowed_outbound_hosts` entries in Spin's syntax, and the check an outbound URL must pass.
//!
//! An entry is `scheme://host[:port]`: the scheme is a name or `*`; the host is a name, an IP,
//! an IP range in CIDR form (`127.0.0.0/24`, matching IP-literal hosts only, never a name),
//! `*`, or `*.suffix` (any subdomain of suffix); the port is a number, a range `a..b`
//! (end exclusive, as in Spin), or `*`, and defaults to the scheme's (80 for http, 443 for
//! https, and Spin's defaults for postgres, mysql, redis and mqtt). `insecure:allow-all`
//! allows everything.
//!
//! The same entries govern guests' own sockets (`wasi:sockets`), as in Spin: a TCP connection
//! to `ip:port` is allowed by an entry with scheme `tcp` or `*` whose host is that IP, a range
//! holding it, or `*`; UDP likewise with `udp`. Binding a TCP port (serving) is never allowed.

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
    Range(ipnet::IpNet),
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
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
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
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (range, rest) = split_range(rest);
        if rest.contains('/') {
            return Err(format!(
                "`{entry}`: paths are not allowed, only scheme://host[:port]"
            ));
        }
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
        let (host, port) = split_host_port(&rest);
        if host.is_empty() {
            return Err(format!("`{entry}`: the host is missing"));
        }
        let host_rule = if let Some(prefix) = range {
            let ip = unbracketed(host);
            let net: ipnet::IpNet = format!("{ip}/{prefix}").parse().map_err(|_| {
                format!("`{entry}`: `{host}/{prefix}` is not an IP range (like 10.0.0.0/8)")
            })?;
            // As in Spin, `127.0.0.1/24` means the range `127.0.0.0/24`.
            HostRule::Range(net.trunc())
        } else if host == "*" {
            HostRule::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            check_host(suffix).map_err(|r| format!("`{entry}`: {r}"))?;
            HostRule::SubdomainOf(suffix.to_ascii_lowercase())
        } else {
            check_host(host).map_err(|r| format!("`{entry}`: {r}"))?;
            HostRule::Exact(unbracketed(host).to_ascii_lowercase())
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

    /// Whether this entry allows `scheme://host:port`; `scheme` and `host` come lowercase,
    /// the host without IPv6 brackets (`AllowList` normalizes them once for all entries).
    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = match &self.scheme {
            SchemeRule::Any => true,
            SchemeRule::Named(s) => s == scheme,
        };
        let host_ok = match &self.host {
            HostRule::Any => true,
            HostRule::Exact(h) => h == host,
            HostRule::SubdomainOf(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
            HostRule::Range(net) => host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
        };
        let port_ok = match self.port {
            PortRule::Any => true,
            PortRule::Range(lo, hi) => lo <= port && port <= hi,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// Splits off a CIDR prefix length: `10.0.0.0/8:80` -> (`Some("8")`, `10.0.0.0:80`).
fn split_range(s: &str) -> (Option<&str>, std::borrow::Cow<'_, str>) {
    let Some((ip, after)) = s.split_once('/') else {
        return (None, s.into());
    };
    let digits = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let (prefix, port) = after.split_at(digits);
    if prefix.is_empty() || !(port.is_empty() || port.starts_with(':')) {
        return (None, s.into());
    }
    (Some(prefix), format!("{ip}{port}").into())
}

/// `host` without the brackets of an IPv6 literal (`[::1]` -> `::1`).
fn unbracketed(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
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
        let scheme = scheme.to_ascii_lowercase();
        let host = unbracketed(host).to_ascii_lowercase();
        let Some(port) = port.or_else(|| default_port(&scheme)) else {
            return false;
        };
        self.0.iter().any(|rule| rule.allows(&scheme, &host, port))
    }

    /// Whether a guest's socket may be used so (`wasi:sockets`). Connections and datagrams
    /// need an entry for `tcp`/`udp` (or `*`) and the address; a UDP socket may bind an
    /// ephemeral local port to send from; nothing may serve (bind a TCP port).
    pub fn allows_socket(&self, addr: std::net::SocketAddr, usage: SocketUse) -> bool {
        let scheme = match usage {
            SocketUse::TcpConnect => "tcp",
            SocketUse::UdpSend => "udp",
            SocketUse::UdpBindEphemeral => return addr.ip().is_unspecified() && addr.port() == 0,
            SocketUse::TcpBind => return false,
        };
        let host = addr.ip().to_string();
        self.0
            .iter()
            .any(|rule| rule.allows(scheme, &host, addr.port()))
    }
}

/// What a guest does with a socket address, as the allow-list sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketUse {
    TcpConnect,
    TcpBind,
    UdpSend,
    /// Binding a UDP socket to send from (any local address, port 0).
    UdpBindEphemeral,
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
    fn ip_ranges_match_ip_literals_only_also_through_templates() {
        assert!(allows(
            "*://127.0.0.0/24:8080",
            "http",
            "127.0.0.5",
            Some(8080)
        ));
        assert!(!allows(
            "*://127.0.0.0/24:8080",
            "http",
            "127.0.1.5",
            Some(8080)
        ));
        assert!(!allows(
            "*://127.0.0.0/24:8080",
            "http",
            "127.0.0.5",
            Some(8081)
        ));
        assert!(!allows(
            "*://127.0.0.0/24:8080",
            "http",
            "localhost",
            Some(8080)
        ));
        assert!(allows("http://10.1.2.3/8", "http", "10.200.0.1", None));
        assert!(allows(
            "https://[fd00::]/8:443",
            "https",
            "[fd12::1]",
            Some(443)
        ));
        // Host bits are dropped, as in Spin: 127.0.0.1/24 is 127.0.0.0/24.
        assert!(allows("*://127.0.0.1/24:*", "tcp", "127.0.0.200", Some(9)));
        assert!(AllowedHost::parse("http://10.0.0.0/33").is_err());
        assert!(AllowedHost::parse("http://example.com/8").is_err());
    }

    #[test]
    fn sockets_follow_the_same_entries() {
        use std::net::SocketAddr;
        let list = AllowList::new(vec![
            AllowedHost::parse("tcp://127.0.0.1:5432").unwrap(),
            AllowedHost::parse("*://10.0.0.0/8:*").unwrap(),
            AllowedHost::parse("http://127.0.0.1:80").unwrap(),
        ]);
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(list.allows_socket(addr("127.0.0.1:5432"), SocketUse::TcpConnect));
        assert!(!list.allows_socket(addr("127.0.0.1:5433"), SocketUse::TcpConnect));
        assert!(
            !list.allows_socket(addr("127.0.0.1:80"), SocketUse::TcpConnect),
            "http is not tcp"
        );
        assert!(list.allows_socket(addr("10.9.8.7:1"), SocketUse::TcpConnect));
        assert!(list.allows_socket(addr("10.9.8.7:53"), SocketUse::UdpSend));
        assert!(!list.allows_socket(addr("127.0.0.1:53"), SocketUse::UdpSend));
        assert!(!list.allows_socket(addr("127.0.0.1:5432"), SocketUse::TcpBind));
        assert!(list.allows_socket(addr("0.0.0.0:0"), SocketUse::UdpBindEphemeral));
        assert!(!list.allows_socket(addr("0.0.0.0:53"), SocketUse::UdpBindEphemeral));
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
            "tcp://127.0.0.1",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
