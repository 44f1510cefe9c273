//! The Tornado reference: finds the seed script (`--tornado-script`, `TORNADO_SEED`, or
//! `../shared/reference/tornado_seed.py` beside the repository) and a Python with tornado in
//! a private virtualenv at `target/bench/venv`, creating it when missing. Any failure makes
//! Tornado "skipped" with the reason, never a crash.

use crate::paths::Paths;
use crate::process::{run_captured, run_visible};
use std::path::{Path, PathBuf};
use tokio::process::Command;

pub enum Tornado {
    Ready {
        python: PathBuf,
        script: PathBuf,
        version: String,
    },
    Skipped(String),
}

pub async fn prepare(paths: &Paths, script: Option<&Path>) -> Tornado {
    let script = match locate(paths, script) {
        Ok(script) => script,
        Err(reason) => return Tornado::Skipped(reason),
    };
    match venv(paths).await {
        Ok((python, version)) => Tornado::Ready {
            python,
            script,
            version,
        },
        Err(e) => Tornado::Skipped(format!("no Python with tornado: {e:#}")),
    }
}

fn locate(paths: &Paths, given: Option<&Path>) -> Result<PathBuf, String> {
    let (candidate, how) = match given {
        Some(path) => (
            path.to_path_buf(),
            "given by --tornado-script / TORNADO_SEED",
        ),
        None => (
            paths.root.join("../shared/reference/tornado_seed.py"),
            "the default ../shared/reference/tornado_seed.py; set --tornado-script or TORNADO_SEED",
        ),
    };
    candidate
        .canonicalize()
        .map_err(|e| format!("{} not found ({how}): {e}", candidate.display()))
}

/// The venv's python and tornado's version, creating the venv and installing tornado if needed.
async fn venv(paths: &Paths) -> anyhow::Result<(PathBuf, String)> {
    let dir = paths.bench.join("venv");
    let python = dir.join("bin/python");
    if let Ok(version) = tornado_version(&python).await {
        return Ok((python, version));
    }
    if !python.is_file() {
        run_visible(Command::new("python3").args(["-m", "venv"]).arg(&dir))
            .await
            .map_err(|e| anyhow::anyhow!("{e:#} (on Debian: apt-get install python3-venv)"))?;
    }
    run_visible(Command::new(&python).args(["-m", "pip", "install", "--quiet", "tornado"])).await?;
    let version = tornado_version(&python).await?;
    Ok((python, version))
}

async fn tornado_version(python: &Path) -> anyhow::Result<String> {
    let out =
        run_captured(Command::new(python).args(["-c", "import tornado; print(tornado.version)"]))
            .await?;
    Ok(out.trim().to_string())
}
