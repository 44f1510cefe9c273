//! The servers compared and how each is started: the Tornado seed, the native Rust server and
//! the runner, each in a configuration (durability, compile cache) and with a sleep length.

use crate::paths::Paths;
use crate::server::{Spec, free_addr};
use crate::tornado::Tornado;
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Contender {
    Tornado,
    Native { fsync: bool, group_commit: bool },
    Runner { durability_fsync: bool },
}

pub const TORNADO: Contender = Contender::Tornado;
pub const NATIVE: Contender = Contender::Native {
    fsync: false,
    group_commit: false,
};
pub const RUNNER: Contender = Contender::Runner {
    durability_fsync: false,
};

impl Contender {
    /// The name in tables and JSON.
    pub fn label(&self) -> String {
        match self {
            Contender::Tornado => "tornado".into(),
            Contender::Native {
                fsync: false,
                group_commit: false,
            } => "native".into(),
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
            Contender::Runner {
                durability_fsync: false,
            } => "runner".into(),
            Contender::Runner {
                durability_fsync: true,
            } => "runner --durability fsync".into(),
        }
    }

    /// A short name for log files.
    pub fn slug(&self) -> String {
        self.label().replace(" --", "-").replace(' ', "-")
    }
}

/// Everything needed to start any contender.
pub struct Launcher<'a> {
    pub paths: &'a Paths,
    pub tornado: &'a Tornado,
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
        match (contender, self.tornado) {
            (Contender::Tornado, Tornado::Skipped(reason)) => Some(reason.clone()),
            _ => None,
        }
    }

    /// How to start `contender` with `sleep` seconds for test1's sleeping turns.
    pub fn spec(&self, contender: &Contender, sleep: f64) -> anyhow::Result<Spec> {
        let addr = free_addr()?;
        let mut args: Vec<OsString> = Vec::new();
        let mut dirs = Vec::new();
        let program: PathBuf = match contender {
            Contender::Tornado => {
                let Tornado::Ready { python, script, .. } = self.tornado else {
                    anyhow::bail!("Tornado is not available");
                };
                args.push(script.into());
                args.push(addr.port().to_string().into());
                args.push(sleep.to_string().into());
                python.clone()
            }
            Contender::Native {
                fsync,
                group_commit,
            } => {
                let state = self.paths.temp_dir("native-")?;
                args.extend(["--listen".into(), addr.to_string().into()]);
                args.extend(["--db".into(), state.path().join("kv.db").into()]);
                args.extend(["--sleep-seconds".into(), sleep.to_string().into()]);
                if *fsync {
                    args.push("--fsync".into());
                }
                if *group_commit {
                    args.push("--group-commit".into());
                }
                dirs.push(state);
                self.paths.native_server()
            }
            Contender::Runner { durability_fsync } => {
                let state = self.paths.temp_dir("runner-state-")?;
                args.extend(["up".into(), "-f".into(), self.paths.manifest.clone().into()]);
                args.extend(["--listen".into(), addr.to_string().into()]);
                args.extend(["--state-dir".into(), state.path().into()]);
                args.extend(["--variable".into(), format!("sleep_seconds={sleep}").into()]);
                if *durability_fsync {
                    args.extend(["--durability".into(), "fsync".into()]);
                }
                args.extend(self.runner_args.iter().map(OsString::from));
                dirs.push(state);
                self.paths.runner()
            }
        };
        Ok(Spec {
            label: contender.label(),
            program,
            args,
            cwd: self.paths.root.clone(),
            addr,
            dirs,
        })
    }
}
