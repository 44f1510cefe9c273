//! Where things are: the repository root, `target/`, the binaries the bench runs, and the
//! bench's own scratch space under `target/bench/` (logs, temporary state, the venv, results).

use std::path::{Path, PathBuf};

pub struct Paths {
    pub root: PathBuf,
    pub manifest: PathBuf,
    pub release: PathBuf,
    /// `target/bench`: latest.json, the venv.
    pub bench: PathBuf,
    /// One log file per server start.
    pub logs: PathBuf,
    /// Temporary state and cache directories (on the repo's disk, so fsync means something).
    pub tmp: PathBuf,
}

impl Paths {
    pub fn discover() -> anyhow::Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or_else(|| anyhow::anyhow!("the bench crate has no parent directory"))?
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        let bench = target.join("bench");
        let paths = Self {
            manifest: root.join("spin.toml"),
            release: target.join("release"),
            logs: bench.join("logs"),
            tmp: bench.join("tmp"),
            bench,
            root,
        };
        std::fs::create_dir_all(&paths.logs)?;
        std::fs::create_dir_all(&paths.tmp)?;
        Ok(paths)
    }

    pub fn runner(&self) -> PathBuf {
        self.release.join("runner")
    }

    pub fn native_server(&self) -> PathBuf {
        self.release.join("native-server")
    }

    /// A fresh directory under `target/bench/tmp`, removed when dropped.
    pub fn temp_dir(&self, prefix: &str) -> anyhow::Result<tempfile::TempDir> {
        Ok(tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&self.tmp)?)
    }
}
