//! Where things are: the repository root, `target/`, the binaries the bench runs, and the
//! bench's own scratch space under `target/bench/` (logs, temporary state, the venv, results).

use std::path::{Path, PathBuf};

/// The SDK apps under `tests/apps/` the sdk suite measures, in its order.
pub const SDK_APPS: [&str; 4] = ["rust-sdk5", "rust-sdk6", "js", "python"];

/// The command that builds them into `target/sdk-apps/` (the tests that use them).
const SDK_APPS_BUILD: &str = "cargo test --test sdk_apps --test wasi_rc";

/// Why an SDK app cannot be measured when its build is missing, and how to make it.
pub fn sdk_app_not_built(app: &str) -> String {
    format!("{app} is not built (`{SDK_APPS_BUILD}` builds the apps into target/sdk-apps/)")
}

pub struct Paths {
    pub root: PathBuf,
    pub manifest: PathBuf,
    /// The benchmark's probe app (`tests/guests/perf-probe`).
    pub probe_manifest: PathBuf,
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
            probe_manifest: root.join("tests/guests/perf-probe/spin.toml"),
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

    /// A component built for wasm32-wasip2, e.g. `perf_probe_sdk`.
    pub fn wasm(&self, name: &str) -> PathBuf {
        self.release
            .parent()
            .unwrap_or(&self.release)
            .join(format!("wasm32-wasip2/release/{name}.wasm"))
    }

    /// A copy of the app's manifest in `dir` without its periodic job (`spin up` needs a
    /// plugin for that) and with absolute sources: what Spin is measured on.
    pub fn manifest_without_cron(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let text = std::fs::read_to_string(&self.manifest)?;
        let mut kept = Vec::new();
        let mut in_cron = false;
        for line in text.lines() {
            if line.starts_with('[') {
                in_cron = line.trim() == "[[trigger.cron]]";
            }
            if !in_cron {
                kept.push(line.replace(
                    "source = \"target/",
                    &format!(
                        "source = \"{}/",
                        self.release.parent().unwrap_or(&self.release).display()
                    ),
                ));
            }
        }
        let copy = dir.join("spin.toml");
        std::fs::write(&copy, kept.join("\n"))?;
        Ok(copy)
    }

    /// The SDK apps under `tests/apps/` whose builds (by `cargo test`) are
    /// not in `target/sdk-apps/`: what the sdk suite will skip.
    pub fn unbuilt_sdk_apps(&self) -> Vec<&'static str> {
        SDK_APPS
            .into_iter()
            .filter(|app| self.sdk_app(app).is_none())
            .collect()
    }

    /// The runnable manifest of the SDK app `name` as `cargo test` last built it
    /// (`target/sdk-apps/<name>-<hash>/spin.toml`, the newest), if it was built.
    pub fn sdk_app(&self, name: &str) -> Option<PathBuf> {
        let built = self.release.parent()?.join("sdk-apps");
        let prefix = format!("{name}-");
        std::fs::read_dir(built)
            .ok()?
            .filter_map(Result::ok)
            .filter(|entry| {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                file_name
                    .strip_prefix(&prefix)
                    .is_some_and(|hash| hash.chars().all(|c| c.is_ascii_hexdigit()))
            })
            .map(|entry| entry.path().join("spin.toml"))
            .filter(|manifest| manifest.is_file())
            .max_by_key(|manifest| manifest.metadata().and_then(|m| m.modified()).ok())
    }

    /// A fresh directory under `target/bench/tmp`, removed when dropped.
    pub fn temp_dir(&self, prefix: &str) -> anyhow::Result<tempfile::TempDir> {
        Ok(tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&self.tmp)?)
    }
}
