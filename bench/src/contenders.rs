//! The servers compared and how each is started: the Tornado seed, the native Rust server,
//! the runner (serving the app, or the benchmark's probe app), `wasmtime serve` and Spin (when
//! available), each in a configuration (durability, store) and with a sleep length.

use crate::paths::Paths;
use crate::server::{Server, Spec, free_addr};
use crate::tornado::Tornado;
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Contender {
    Tornado,
    Native {
        fsync: bool,
        group_commit: bool,
    },
    Runner {
        durability_fsync: bool,
    },
    /// The runner serving `tests/guests/perf-probe`, its store in a file or in memory.
    RunnerProbe {
        in_memory: bool,
    },
    /// `wasmtime serve` 47 with the probe's spin-sdk component (any path answers `ok`).
    WasmtimeServe,
    /// `spin up` (the binary `SPIN` names) on the app or on the probe app.
    Spin {
        probe: bool,
    },
    /// The runner on the app with an operator's observability on.
    RunnerObserved(Observe),
    /// An SDK app (its runnable manifest under `target/sdk-apps/`), on the runner or on Spin.
    SdkApp {
        spin: bool,
        manifest: PathBuf,
    },
}

/// What an operator turns on.
#[derive(Debug, Clone, PartialEq)]
pub enum Observe {
    /// `RUST_LOG=info`: one request-log line per request (written to the server's log file).
    RequestLog,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a sink that accepts every export.
    Otlp { endpoint: String },
}

pub const TORNADO: Contender = Contender::Tornado;
pub const NATIVE: Contender = Contender::Native {
    fsync: false,
    group_commit: false,
};
pub const RUNNER: Contender = Contender::Runner {
    durability_fsync: false,
};
pub const SPIN: Contender = Contender::Spin { probe: false };

impl Contender {
    /// The name in tables and JSON.
    pub fn label(&self) -> String {
        match self {
            Contender::Tornado => "tornado".into(),
            Contender::Native {
                fsync,
                group_commit,
            } => {
                let mut label = String::from("native");
                if *fsync {
                    label.push_str(" --fsync");
                }
                if *group_commit {
                    label.push_str(" --group-commit");
                }
                label
            }
            Contender::Runner { durability_fsync } => match durability_fsync {
                false => "runner".into(),
                true => "runner --durability fsync".into(),
            },
            Contender::RunnerProbe { in_memory } => match in_memory {
                false => "runner (probe)".into(),
                true => "runner (probe) --state-dir \"\"".into(),
            },
            Contender::WasmtimeServe => "wasmtime serve".into(),
            Contender::Spin { probe: false } => "spin".into(),
            Contender::Spin { probe: true } => "spin (probe)".into(),
            Contender::RunnerObserved(Observe::RequestLog) => "runner +request-log".into(),
            Contender::RunnerObserved(Observe::Otlp { .. }) => "runner +otlp".into(),
            Contender::SdkApp { spin: false, .. } => "runner".into(),
            Contender::SdkApp { spin: true, .. } => "spin".into(),
        }
    }

    /// A short name for log files.
    pub fn slug(&self) -> String {
        self.label()
            .replace(" --", "-")
            .replace(['(', ')', '"'], "")
            .replace(' ', "-")
            .replace('+', "")
    }

    /// The path probed until the server answers 200 (and warmed up on).
    pub fn ready_path(&self) -> &'static str {
        match self {
            Contender::RunnerProbe { .. } | Contender::Spin { probe: true } => "/trivial",
            Contender::WasmtimeServe | Contender::SdkApp { .. } => "/",
            _ => "/test2",
        }
    }
}

/// Everything needed to start any contender.
pub struct Launcher<'a> {
    pub paths: &'a Paths,
    pub tornado: &'a Tornado,
    /// `wasmtime serve`'s binary, or why there is none.
    pub wasmtime: &'a Result<PathBuf, String>,
    /// Spin's binary (`SPIN=path`), or why there is none.
    pub spin: &'a Result<PathBuf, String>,
    /// `--servers`: the only servers to measure (empty: all).
    pub servers: &'a [String],
    /// `--runner-arg`: appended to every `runner up`.
    pub runner_args: &'a [String],
}

impl Launcher<'_> {
    /// Why `contender` cannot run at all on this machine, if so.
    pub fn unavailable(&self, contender: &Contender) -> Option<String> {
        let label = contender.label();
        let server = label.split(' ').next().unwrap_or_default();
        if !self.servers.is_empty() && !self.servers.iter().any(|s| s == server) {
            return Some(format!("{server} not selected (--servers)"));
        }
        match contender {
            Contender::Tornado => match self.tornado {
                Tornado::Skipped(reason) => Some(reason.clone()),
                Tornado::Ready { .. } => None,
            },
            Contender::WasmtimeServe => self.wasmtime.as_ref().err().cloned(),
            Contender::Spin { .. } | Contender::SdkApp { spin: true, .. } => {
                self.spin.as_ref().err().cloned()
            }
            _ => None,
        }
    }

    /// Starts `contender` (its test1 sleeping `sleep` s), its output in the log
    /// `<log_prefix>-<slug>`.
    pub async fn start(
        &self,
        contender: &Contender,
        sleep: f64,
        log_prefix: &str,
    ) -> anyhow::Result<Server> {
        let spec = self.spec(contender, sleep)?;
        let log = format!("{log_prefix}-{}", contender.slug());
        Server::start(spec, &self.paths.logs, &log).await
    }

    /// How to start `contender` with `sleep` seconds for test1's sleeping turns.
    pub fn spec(&self, contender: &Contender, sleep: f64) -> anyhow::Result<Spec> {
        let addr = free_addr()?;
        let mut args: Vec<OsString> = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut dirs = Vec::new();
        let mut arg = |a: &dyn AsRef<std::ffi::OsStr>| args.push(a.as_ref().to_owned());
        let program: PathBuf = match contender {
            Contender::Tornado => {
                let Tornado::Ready { python, script, .. } = self.tornado else {
                    anyhow::bail!("Tornado is not available");
                };
                arg(script);
                arg(&addr.port().to_string());
                arg(&sleep.to_string());
                python.clone()
            }
            Contender::Native {
                fsync,
                group_commit,
            } => {
                let state = self.paths.temp_dir("native-")?;
                for a in [
                    "--listen",
                    &addr.to_string(),
                    "--sleep-seconds",
                    &sleep.to_string(),
                ] {
                    arg(&a);
                }
                arg(&"--db");
                arg(&state.path().join("kv.db"));
                if *fsync {
                    arg(&"--fsync");
                }
                if *group_commit {
                    arg(&"--group-commit");
                }
                dirs.push(state);
                self.paths.native_server()
            }
            Contender::Runner { .. }
            | Contender::RunnerProbe { .. }
            | Contender::RunnerObserved(_) => {
                let probe = matches!(contender, Contender::RunnerProbe { .. });
                match contender {
                    Contender::RunnerObserved(Observe::RequestLog) => {
                        env.push(("RUST_LOG".into(), "info".into()));
                    }
                    Contender::RunnerObserved(Observe::Otlp { endpoint }) => {
                        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint.clone()));
                    }
                    _ => {}
                }
                let manifest = match probe {
                    true => &self.paths.probe_manifest,
                    false => &self.paths.manifest,
                };
                for a in ["up", "-f"] {
                    arg(&a);
                }
                arg(manifest);
                for a in ["--listen", &addr.to_string()] {
                    arg(&a);
                }
                arg(&"--state-dir");
                if let Contender::RunnerProbe { in_memory: true } = contender {
                    arg(&"");
                } else {
                    let state = self.paths.temp_dir("runner-state-")?;
                    arg(&state.path());
                    dirs.push(state);
                }
                if !probe {
                    arg(&"--variable");
                    arg(&format!("sleep_seconds={sleep}"));
                }
                if let Contender::Runner {
                    durability_fsync: true,
                } = contender
                {
                    arg(&"--durability");
                    arg(&"fsync");
                }
                for a in self.runner_args {
                    arg(a);
                }
                self.paths.runner()
            }
            Contender::SdkApp { spin, manifest } => {
                let state = self.paths.temp_dir("sdk-state-")?;
                arg(&"up");
                arg(&"-f");
                arg(manifest);
                for a in ["--listen", &addr.to_string(), "--state-dir"] {
                    arg(&a);
                }
                arg(&state.path());
                dirs.push(state);
                match spin {
                    true => self.spin.clone().map_err(anyhow::Error::msg)?,
                    false => {
                        for a in self.runner_args {
                            arg(a);
                        }
                        self.paths.runner()
                    }
                }
            }
            Contender::WasmtimeServe => {
                for a in ["serve", "--addr", &addr.to_string(), "-Scli"] {
                    arg(&a);
                }
                arg(&self.paths.wasm("perf_probe_sdk"));
                self.wasmtime.clone().map_err(anyhow::Error::msg)?
            }
            Contender::Spin { probe } => {
                let state = self.paths.temp_dir("spin-state-")?;
                let manifest = match probe {
                    true => self.paths.probe_manifest.clone(),
                    false => self.paths.manifest_without_cron(state.path())?,
                };
                arg(&"up");
                arg(&"-f");
                arg(&manifest);
                for a in ["--listen", &addr.to_string(), "--state-dir"] {
                    arg(&a);
                }
                arg(&state.path());
                if !probe {
                    arg(&"--variable");
                    arg(&format!("sleep_seconds={sleep}"));
                }
                dirs.push(state);
                self.spin.clone().map_err(anyhow::Error::msg)?
            }
        };
        Ok(Spec {
            label: contender.label(),
            program,
            args,
            cwd: self.paths.root.clone(),
            env,
            addr,
            ready_path: contender.ready_path(),
            dirs,
        })
    }
}
