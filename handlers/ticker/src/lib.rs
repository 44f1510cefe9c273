//! `ticker`: the seed's `PeriodicCallback`, as a Spin periodic job. The app's manifest runs it
//! every 2 s (`[[trigger.cron]]`); each run works for `tick_work_seconds` (default 0, to show
//! what happens when a run outlasts its interval), then atomically increments `ticks` in the
//! store `default` and records when it ran. Runs never overlap: the host skips ticks that
//! come while a run is in flight (the seed's warning, fixed by the host, not by this code).
//!
//! The same component answers `GET /ticks` with `TICKS n` (the runs completed so far) and the
//! last run's tick in `x-last-run` (seconds since the epoch), for the demo page.
//!
//! Each run prints when it started and finished (milliseconds since the epoch), so a log shows
//! that no two runs ever overlap.

use handler_common::{get_or_head_only, increment, text};
use spin_sdk::http::{HeaderValue, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TICKS_KEY: &str = "ticks";
const LAST_RUN_KEY: &str = "ticks_last_run";

mod cron {
    spin_sdk::wit_bindgen::generate!({
        world: "spin-cron",
        path: "../../runner/wit/deps/spin-cron",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
    });

    pub struct Ticker;
    export!(Ticker);

    impl Guest for Ticker {
        async fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
            super::run(metadata.timestamp).await.map_err(Error::Other)
        }
    }
}

/// One run for the tick at `tick` (seconds since the epoch).
async fn run(tick: u64) -> Result<(), String> {
    println!("run for tick {tick}: started at {} ms", unix_millis());
    let work = work_duration().await?;
    if !work.is_zero() {
        spin_sdk::time::sleep(work).await;
    }
    let ticks = increment(TICKS_KEY, 1)?;
    handler_common::open()?
        .set(LAST_RUN_KEY, tick.to_string().as_bytes())
        .map_err(|e| format!("recording the run: {e:?}"))?;
    println!(
        "run for tick {tick}: finished at {} ms, ticks = {ticks}",
        unix_millis()
    );
    Ok(())
}

/// `tick_work_seconds`: how long each run works before it counts.
async fn work_duration() -> Result<Duration, String> {
    let raw = spin_sdk::variables::get("tick_work_seconds")
        .await
        .map_err(|e| format!("variable `tick_work_seconds`: {e:?}"))?;
    raw.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("variable `tick_work_seconds`: `{raw}` is not a number of seconds"))
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    if let Err(refused) = get_or_head_only(&request) {
        return refused;
    }
    match read_counts() {
        Ok((ticks, last_run)) => {
            let mut response = text(StatusCode::OK, format!("TICKS {ticks}"));
            if let Some(value) = last_run.and_then(|t| HeaderValue::from_str(&t).ok()) {
                response.headers_mut().insert("x-last-run", value);
            }
            response
        }
        Err(reason) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ticks unavailable: {reason}\n"),
        ),
    }
}

/// The runs counted so far (an increment by 0 reads the counter in its own encoding) and the
/// last run's tick, if any.
fn read_counts() -> Result<(i64, Option<String>), String> {
    let ticks = increment(TICKS_KEY, 0)?;
    let last_run = handler_common::open()?
        .get(LAST_RUN_KEY)
        .map_err(|e| format!("reading: {e:?}"))?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    Ok((ticks, last_run))
}
