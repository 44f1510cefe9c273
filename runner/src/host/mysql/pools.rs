//! The app's MySQL connection pools: one `mysql_async` pool per address guests open, made at
//! the first `open` of that address and shared by every instance of every component; and how
//! an address becomes connection options. TLS is used where the address asks for it: an
//! `ssl-mode` (or `sslmode`) parameter other than `disabled` (as in Spin), or `mysql_async`'s
//! own `require_ssl=true` (with `verify_ca`, `verify_identity`). Connections always go over TCP
//! to the host and port the allow-list checked, never to a local socket the address or the
//! server names.

use mysql_async::{Opts, OptsBuilder, Pool, SslOpts};
use std::collections::HashMap;
use std::sync::Mutex;

/// Every pool of one app, by address.
#[derive(Default)]
pub struct MysqlPools(Mutex<HashMap<String, Pool>>);

impl MysqlPools {
    /// The pool for `address` (made now if it is the first `open` of it), or why `address`
    /// cannot be connected to.
    pub(super) fn pool(&self, address: &url::Url) -> Result<Pool, String> {
        let mut pools = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(address.as_str()) {
            return Ok(pool.clone());
        }
        let pool = Pool::new(options(address)?);
        pools.insert(address.as_str().to_string(), pool.clone());
        Ok(pool)
    }
}

fn is_ssl_mode(key: &str) -> bool {
    key.eq_ignore_ascii_case("ssl-mode") || key.eq_ignore_ascii_case("sslmode")
}

/// Connection options for `address`: `mysql_async` reads the URL, less the `ssl-mode`
/// parameter it does not know, which turns TLS on with certificate and name checks.
fn options(address: &url::Url) -> Result<Opts, String> {
    let tls = address
        .query_pairs()
        .any(|(key, value)| is_ssl_mode(&key) && !value.eq_ignore_ascii_case("disabled"));
    let rest: Vec<(String, String)> = address
        .query_pairs()
        .filter(|(key, _)| !is_ssl_mode(key))
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let mut url = address.clone();
    url.set_query(None);
    if !rest.is_empty() {
        url.query_pairs_mut().extend_pairs(rest);
    }
    let opts = Opts::from_url(url.as_str()).map_err(|e| e.to_string())?;
    let verified_tls = (tls && opts.ssl_opts().is_none()).then(SslOpts::default);
    let mut builder = OptsBuilder::from_opts(opts)
        .prefer_socket(false)
        .socket(None::<String>);
    if verified_tls.is_some() {
        builder = builder.ssl_opts(verified_tls);
    }
    Ok(builder.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(address: &str) -> Opts {
        options(&url::Url::parse(address).unwrap()).unwrap()
    }

    #[test]
    fn plain_addresses_use_no_tls_and_no_socket() {
        let opts = opts("mysql://user:pw@db.example.com:3307/app?socket=/tmp/x.sock");
        assert!(opts.ssl_opts().is_none());
        assert_eq!(opts.socket(), None);
        assert!(!opts.prefer_socket());
        assert_eq!(opts.ip_or_hostname(), "db.example.com");
        assert_eq!(opts.tcp_port(), 3307);
        assert_eq!(opts.user(), Some("user"));
        assert_eq!(opts.pass(), Some("pw"));
        assert_eq!(opts.db_name(), Some("app"));
    }

    #[test]
    fn ssl_mode_other_than_disabled_turns_verified_tls_on() {
        for mode in ["REQUIRED", "verify_ca", "VERIFY_IDENTITY"] {
            let tls = opts(&format!("mysql://u@h/db?ssl-mode={mode}"));
            let tls = tls.ssl_opts().expect("TLS");
            assert!(!tls.accept_invalid_certs() && !tls.skip_domain_validation());
        }
        assert!(opts("mysql://u@h/db?sslMode=required").ssl_opts().is_some());
        assert!(
            opts("mysql://u@h/db?ssl-mode=DISABLED")
                .ssl_opts()
                .is_none()
        );
    }

    #[test]
    fn mysql_async_parameters_still_apply() {
        let mixed = opts("mysql://u@h/db?SsLmOdE=required&pool_max=17");
        assert!(mixed.ssl_opts().is_some());
        assert_eq!(mixed.pool_opts().constraints().max(), 17);
        let own = opts("mysql://u@h/db?require_ssl=true&verify_ca=false");
        assert!(own.ssl_opts().expect("TLS").accept_invalid_certs());
    }

    #[test]
    fn unknown_parameters_are_refused() {
        let address = url::Url::parse("mysql://u@h/db?no_such_option=1").unwrap();
        assert!(options(&address).is_err());
    }
}
