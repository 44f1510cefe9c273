//! Where a PostgreSQL connection string points, and whether the component may go there: every
//! host and port it names (key=value form or `postgres://` URL form, several hosts included,
//! and `hostaddr`, where the driver then connects instead of resolving the host), each checked
//! against `allowed_outbound_hosts` with scheme `postgres` before anything connects.

use crate::allowed_hosts::AllowList;
use tokio_postgres::config::{Config, Host};

/// The port the driver uses when the connection string gives none (and the allow-list's
/// default for `postgres`).
const DEFAULT_PORT: u16 = 5432;

/// One place a connection string may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Every host (and `hostaddr`) of `config` with the port the driver pairs it with: the port at
/// the same position, the only port when there is one, else 5432. A Unix socket path is
/// refused: guests reach databases over the network only.
pub(super) fn targets(config: &Config) -> Result<Vec<Target>, String> {
    let ports = config.get_ports();
    let port_at = |index: usize| match ports {
        [] => DEFAULT_PORT,
        [only] => *only,
        _ => ports.get(index).copied().unwrap_or(DEFAULT_PORT),
    };
    let mut targets = Vec::new();
    for (index, host) in config.get_hosts().iter().enumerate() {
        match host {
            Host::Tcp(name) => targets.push(Target {
                host: name.clone(),
                port: port_at(index),
            }),
            #[cfg(unix)]
            Host::Unix(path) => {
                return Err(format!(
                    "Unix sockets are not supported ({})",
                    path.display()
                ));
            }
        }
    }
    for (index, addr) in config.get_hostaddrs().iter().enumerate() {
        targets.push(Target {
            host: addr.to_string(),
            port: port_at(index),
        });
    }
    if targets.is_empty() {
        return Err("the connection string names no host".into());
    }
    Ok(targets)
}

/// The first target `allowed` does not permit, if any.
pub(super) fn denied(allowed: &AllowList, targets: &[Target]) -> Option<Target> {
    targets
        .iter()
        .find(|t| !allowed.allows("postgres", &t.host, Some(t.port)))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowed_hosts::AllowedHost;

    fn of(address: &str) -> Result<Vec<(String, u16)>, String> {
        let config: Config = address.parse().map_err(|e| format!("{e}"))?;
        Ok(targets(&config)?
            .into_iter()
            .map(|t| (t.host, t.port))
            .collect())
    }

    fn pair(host: &str, port: u16) -> (String, u16) {
        (host.to_string(), port)
    }

    #[test]
    fn key_value_form_with_and_without_a_port() {
        assert_eq!(
            of("host=db.example.com port=6543 user=u password=p dbname=d").unwrap(),
            vec![pair("db.example.com", 6543)]
        );
        assert_eq!(
            of("host=127.0.0.1 user=u").unwrap(),
            vec![pair("127.0.0.1", 5432)]
        );
    }

    #[test]
    fn url_form_with_and_without_a_port() {
        assert_eq!(
            of("postgres://u:p@127.0.0.1:5433/db?sslmode=disable").unwrap(),
            vec![pair("127.0.0.1", 5433)]
        );
        assert_eq!(
            of("postgresql://u@db.example.com/db").unwrap(),
            vec![pair("db.example.com", 5432)]
        );
        assert_eq!(
            of("postgres://u@[::1]:7000/db").unwrap(),
            vec![pair("::1", 7000)]
        );
    }

    #[test]
    fn several_hosts_pair_with_their_ports_or_the_only_one() {
        assert_eq!(
            of("host=a,b port=1,2").unwrap(),
            vec![pair("a", 1), pair("b", 2)]
        );
        assert_eq!(
            of("postgres://a:1,b/db").unwrap(),
            vec![pair("a", 1), pair("b", 5432)]
        );
        assert_eq!(
            of("host=a,b port=9").unwrap(),
            vec![pair("a", 9), pair("b", 9)]
        );
    }

    #[test]
    fn hostaddr_is_a_target_too() {
        assert_eq!(
            of("host=allowed.example.com hostaddr=10.1.2.3 port=5432").unwrap(),
            vec![pair("allowed.example.com", 5432), pair("10.1.2.3", 5432)]
        );
    }

    #[test]
    fn unix_sockets_and_hostless_strings_are_refused() {
        assert!(of("host=/var/run/postgresql").unwrap_err().contains("Unix"));
        assert!(of("user=u dbname=d").unwrap_err().contains("no host"));
    }

    #[test]
    fn the_allow_list_decides_per_target() {
        let allowed = AllowList::new(vec![
            AllowedHost::parse("postgres://127.0.0.1:5433").unwrap(),
            AllowedHost::parse("postgres://db.example.com").unwrap(),
        ]);
        let check = |address: &str| {
            let config: Config = address.parse().unwrap();
            denied(&allowed, &targets(&config).unwrap()).map(|t| t.to_string())
        };
        assert_eq!(check("host=127.0.0.1 port=5433"), None);
        assert_eq!(check("postgres://db.example.com/x"), None);
        assert_eq!(
            check("host=127.0.0.1"),
            Some("127.0.0.1:5432".to_string()),
            "the default port is checked when none is given"
        );
        assert_eq!(
            check("host=db.example.com hostaddr=10.0.0.1"),
            Some("10.0.0.1:5432".to_string())
        );
        assert_eq!(
            check("postgres://db.example.com,evil.example.com/x"),
            Some("evil.example.com:5432".to_string())
        );
        assert_eq!(
            check("postgres://[::1]:5433/x"),
            Some("[::1]:5433".to_string())
        );
    }
}
