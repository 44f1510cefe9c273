//! test1's settings, read from the component's Spin variables on every request (so a host may
//! change them without rebuilding): where test2 lives, how long to sleep, how long to wait.

use std::time::Duration;

pub struct Settings {
    /// `host[:port]` of test2, e.g. `test2.spin.internal` or `127.0.0.1:8899`.
    pub test2_host: String,
    pub sleep: Duration,
    pub upstream_timeout: Duration,
}

impl Settings {
    pub async fn load() -> Result<Self, String> {
        Ok(Self {
            test2_host: variable("test2_host").await?,
            sleep: seconds("sleep_seconds").await?,
            upstream_timeout: seconds("upstream_timeout_seconds").await?,
        })
    }
}

async fn variable(name: &str) -> Result<String, String> {
    spin_sdk::variables::get(name)
        .await
        .map_err(|e| format!("variable `{name}`: {e:?}"))
}

/// Reads a variable holding a non-negative number of seconds (fractions allowed).
async fn seconds(name: &str) -> Result<Duration, String> {
    let raw = variable(name).await?;
    raw.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("variable `{name}`: `{raw}` is not a number of seconds"))
}
