//! `later`: the seed's `add_callback` and `call_later`, as work a component does after its
//! answer. `GET /later?seconds=S` (0 <= S <= 3600, fractions allowed; default 5) atomically
//! increments `later_scheduled`, answers `202 LATER n` at once, and S seconds later (in a
//! task spawned before answering, so nobody waits for it) increments `later_done`. With
//! `S = 0` it is `add_callback`: run soon, after the answer.
//!
//! The host keeps the instance alive until that task ends (bounded by its request deadline)
//! and a graceful shutdown waits for it. `HEAD` schedules like `GET`; other methods get `405`;
//! a bad `seconds` gets `400` and schedules nothing.

use handler_common::{get_or_head_only, increment, text};
use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use std::time::Duration;

const SCHEDULED_KEY: &str = "later_scheduled";
const DONE_KEY: &str = "later_done";
const DEFAULT_SECONDS: f64 = 5.0;
const MAX_SECONDS: f64 = 3600.0;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    if let Err(refused) = get_or_head_only(&request) {
        return refused;
    }
    let delay = match delay(request.uri().query()) {
        Ok(delay) => delay,
        Err(reason) => return text(StatusCode::BAD_REQUEST, format!("{reason}\n")),
    };
    let n = match increment(SCHEDULED_KEY, 1) {
        Ok(n) => n,
        Err(reason) => {
            eprintln!("cannot schedule: {reason}");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot schedule: {reason}\n"),
            );
        }
    };
    spin_sdk::wasip3::spawn(async move {
        if !delay.is_zero() {
            spin_sdk::time::sleep(delay).await;
        }
        match increment(DONE_KEY, 1) {
            Ok(done) => println!(
                "job {n} done after {:.3} s (later_done = {done})",
                delay.as_secs_f64()
            ),
            Err(reason) => eprintln!("job {n} could not record that it ran: {reason}"),
        }
    });
    text(StatusCode::ACCEPTED, format!("LATER {n}"))
}

/// The delay from `?seconds=S`: 0 to 3600 seconds, fractions allowed; 5 when absent.
fn delay(query: Option<&str>) -> Result<Duration, String> {
    let value = query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(name, _)| *name == "seconds")
        .map(|(_, value)| value);
    let seconds = match value {
        None => DEFAULT_SECONDS,
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|s| (0.0..=MAX_SECONDS).contains(s))
            .ok_or_else(|| {
                format!("seconds must be a number from 0 to {MAX_SECONDS}, not `{text}`")
            })?,
    };
    Ok(Duration::from_secs_f64(seconds))
}
