//! The runner's limits in one place, with their defaults: what one guest instance may use
//! (memory, CPU, wall-clock time, requests it serves) and what one client may ask of the HTTP
//! front (body size, time to send headers, connections at once). `runner up` flags set them.

use std::time::Duration;

/// Every limit the runner enforces.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest linear memory of one instance, in bytes (`--max-instance-memory`).
    pub max_instance_memory: usize,
    /// CPU time a guest may burn without returning to the host (`--max-request-cpu`); time
    /// spent waiting (sleeping, on outbound calls, on the store) is not counted.
    pub max_request_cpu: Duration,
    /// Wall-clock time for a whole request, body included (`--max-request-duration`).
    pub max_request_duration: Duration,
    /// Requests one instance serves at the same time (`--max-instance-concurrent-reuse-count`).
    /// A trap ends its instance, so it fails the requests sharing it; 1 isolates every request.
    pub max_instance_concurrent_reuse_count: usize,
    /// Requests one instance serves before it is replaced (`--max-instance-reuse-count`).
    pub max_instance_reuse_count: usize,
    /// Largest request body, in bytes (`--max-request-body`); larger ones get `413`.
    pub max_request_body: u64,
    /// Time a client has to send a request's headers (`--header-read-timeout`).
    pub header_read_timeout: Duration,
    /// Connections served at once (`--max-connections`); past it new ones get `503`.
    pub max_connections: usize,
    /// How long shutdown lets open requests finish before dropping them (`--shutdown-grace`).
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_instance_memory: 256 * 1024 * 1024,
            max_request_cpu: Duration::from_secs(10),
            max_request_duration: Duration::from_secs(300),
            max_instance_concurrent_reuse_count: 100,
            max_instance_reuse_count: 10_000,
            max_request_body: 16 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 16_384,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Parses `10s`, `250ms`, `2m` or a bare number of seconds (`1.5`) for the CLI.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (like 10s, 250ms, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}` must be a positive duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_or_as_seconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(
            parse_duration("ten")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(
            parse_duration("3 weeks")
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
