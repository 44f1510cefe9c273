//! TLS for `runner up --tls-cert FILE --tls-key FILE` (rustls): the certificate chain and the
//! private key are read from PEM files at start-up, and a bad or unreadable one stops the
//! runner there with `file: reason`. Clients choose HTTP/2 or HTTP/1.1 by ALPN.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// A certificate chain and its private key, ready to accept TLS connections.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Reads the PEM certificate chain at `cert` and the PEM private key at `key`.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate chain: {e}", cert.display()))?;
        if chain.is_empty() {
            anyhow::bail!(
                "{}: no certificate in it (expected PEM `CERTIFICATE` blocks)",
                cert.display()
            );
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| anyhow::anyhow!("{}: no usable PEM private key: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow::anyhow!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: the key does not fit the certificate: {e}",
                    cert.display()
                )
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}
