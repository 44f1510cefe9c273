//! The app's PostgreSQL connections: one pool per connection string (and CA root), shared by
//! every instance of every component of the app (deadpool-postgres, as in Spin). A connection
//! a guest drops goes back to its pool; before it is handed out again it is checked and its
//! session reset (`RecyclingMethod::Clean`: no `SET`, temporary table or lock of one guest
//! reaches the next), and a broken one (a server restarted, a network cut) is discarded and
//! replaced by a new connection, so the app recovers when the server does. TLS (rustls with
//! the ring provider, webpki roots plus a guest's CA root) unless the string says
//! `sslmode=disable`; `prefer`, the default, falls back to plain TCP where the server has no
//! TLS.

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio_postgres::config::{Config, SslMode};

/// Connections per pool (per connection string), as in Spin.
const POOL_SIZE: usize = 64;
/// Pools kept at once; past this the least recently used is closed.
const MAX_POOLS: usize = 32;
/// How long a guest waits for a free connection when its pool's are all in use.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a new connection may take (TCP, TLS, authentication), unless the connection
/// string sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long checking and resetting a pooled connection may take before it is discarded.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(5);

/// A CA root certificate a guest gave for its connection (`connection-builder`).
#[derive(Clone)]
pub(crate) struct CaRoot {
    pem: String,
    certificates: Vec<CertificateDer<'static>>,
}

impl CaRoot {
    /// Reads PEM text; at least one certificate, and nothing unreadable.
    pub(super) fn from_pem(pem: &str) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("invalid root certificate: {e}"))?;
        if certificates.is_empty() {
            return Err("invalid root certificate: no PEM certificate found".into());
        }
        Ok(Self {
            pem: pem.to_string(),
            certificates,
        })
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    address: String,
    ca_root: Option<String>,
}

struct Kept {
    pool: Pool,
    used: Instant,
}

/// Every pool of one app.
#[derive(Default)]
pub struct PgPools {
    pools: Mutex<HashMap<PoolKey, Kept>>,
}

impl PgPools {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A connection to `address` (already parsed as `config`): a pooled one, checked, or a new
    /// one. The error is what the guest is told.
    pub(super) async fn connection(
        &self,
        address: &str,
        config: Config,
        ca_root: Option<&CaRoot>,
    ) -> Result<Object, String> {
        let pool = self.pool(address, config, ca_root)?;
        pool.get().await.map_err(describe)
    }

    fn pool(
        &self,
        address: &str,
        config: Config,
        ca_root: Option<&CaRoot>,
    ) -> Result<Pool, String> {
        let key = PoolKey {
            address: address.to_string(),
            ca_root: ca_root.map(|ca| ca.pem.clone()),
        };
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = pools.get_mut(&key) {
            kept.used = Instant::now();
            return Ok(kept.pool.clone());
        }
        if pools.len() >= MAX_POOLS
            && let Some(oldest) = pools
                .iter()
                .min_by_key(|(_, kept)| kept.used)
                .map(|(key, _)| key.clone())
            && let Some(evicted) = pools.remove(&oldest)
        {
            evicted.pool.close();
        }
        let pool = new_pool(config, ca_root)?;
        pools.insert(
            key,
            Kept {
                pool: pool.clone(),
                used: Instant::now(),
            },
        );
        Ok(pool)
    }
}

fn new_pool(mut config: Config, ca_root: Option<&CaRoot>) -> Result<Pool, String> {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Clean,
    };
    let manager = if config.get_ssl_mode() == SslMode::Disable {
        Manager::from_config(config, tokio_postgres::NoTls, manager_config)
    } else {
        Manager::from_config(config, tls(ca_root)?, manager_config)
    };
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
        .recycle_timeout(Some(RECYCLE_TIMEOUT))
        .build()
        .map_err(|e| format!("cannot make a connection pool: {e}"))
}

/// The TLS client: webpki's roots, plus `ca_root`'s certificates.
fn tls(ca_root: Option<&CaRoot>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = match ca_root {
        None => DEFAULT.get_or_init(|| client_config(&[])).clone()?,
        Some(ca) => client_config(&ca.certificates)?,
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(
        Arc::unwrap_or_clone(config),
    ))
}

fn client_config(extra: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for certificate in extra {
        roots
            .add(certificate.clone())
            .map_err(|e| format!("invalid root certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why no connection could be had, for the guest: the driver's own words for a refused
/// connection, a failed login or a TLS failure.
fn describe(error: PoolError) -> String {
    match error {
        PoolError::Backend(e) => error_chain(&e),
        PoolError::Timeout(TimeoutType::Wait) => format!(
            "timed out after {}s waiting for a free connection ({POOL_SIZE} in use)",
            WAIT_TIMEOUT.as_secs()
        ),
        PoolError::Timeout(TimeoutType::Create) => "timed out connecting to the server".into(),
        PoolError::Timeout(TimeoutType::Recycle) => "timed out checking a pooled connection".into(),
        other => other.to_string(),
    }
}

/// An error and its sources, `: `-separated, without repeating what a source already said.
pub(super) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}
