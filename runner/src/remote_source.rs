//! Components the manifest names by URL (`source = { url, digest = "sha256:..." }`, as in
//! Spin's `static-fileserver` and `redirect` templates): downloaded once into the cache
//! directory, under their digest (`<cache>/downloads/sha256-<hex>.wasm`), and used only when
//! their SHA-256 is the one the manifest names. A cached file is checked again before each
//! use (a damaged one is downloaded anew), so an app whose sources are cached starts offline.
//! A download goes to a file of its own and is renamed into place once checked, so nobody
//! ever reads half of one.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest component downloaded.
const MAX_BYTES: usize = 256 * 1024 * 1024;
/// How long one download may take.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The local path of the component at `url` whose SHA-256 is `sha256` (lowercase hex),
/// downloading it into `cache_dir` unless it is there already.
pub async fn fetch(url: &str, sha256: &str, cache_dir: &Path) -> Result<PathBuf, String> {
    let dir = cache_dir.join("downloads");
    let path = dir.join(format!("sha256-{sha256}.wasm"));
    if let Ok(bytes) = tokio::fs::read(&path).await {
        if hex_digest(&bytes) == sha256 {
            return Ok(path);
        }
        tracing::warn!(
            "{} does not match its digest; downloading again",
            path.display()
        );
    }
    let bytes = download(url).await?;
    let actual = hex_digest(&bytes);
    if actual != sha256 {
        return Err(format!(
            "invalid content digest; expected sha256:{sha256}, downloaded sha256:{actual} \
             from {url}"
        ));
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let partial = dir.join(format!(".sha256-{sha256}.{}.partial", std::process::id()));
    tokio::fs::write(&partial, &bytes)
        .await
        .map_err(|e| format!("writing {}: {e}", partial.display()))?;
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(|e| format!("moving the download to {}: {e}", path.display()))?;
    Ok(path)
}

async fn download(url: &str) -> Result<Vec<u8>, String> {
    let failed = |e: reqwest::Error| format!("downloading {url}: {e}");
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(failed)?;
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(failed)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_BYTES {
            return Err(format!("downloading {url}: larger than {MAX_BYTES} bytes"));
        }
    }
    Ok(bytes)
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
