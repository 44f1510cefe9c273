//! `hostile`: a guest built to misbehave, so the tests can check that the runner contains it.
//! Each path is one behaviour:
//!
//! - `/ok`: answers `ok` at once.
//! - `/panic`, `/unreachable`: traps (a Rust panic; a bare `unreachable` instruction).
//! - `/loop`: spins forever without ever yielding.
//! - `/oom`: allocates (and touches) 16 MiB blocks until memory runs out.
//! - `/busy?ms=N`: burns N ms of CPU, then answers (an honest, bounded computation).
//! - `/sleep?ms=N`: sleeps N ms without using CPU, then answers.
//! - `/echo`: reads the whole request body and answers with its length.
//! - `/fetch?url=U`: GETs U through outbound HTTP and, on a redirect, follows `location` once
//!   (as a guest-side HTTP client would), answering with the final status and body.
//! - `/spawn-trap?ms=N`: answers `202` at once and, N ms after the answer, traps in a task it
//!   spawned (work after the answer that goes wrong).
//! - `/tcp?addr=IP:PORT`: opens a TCP connection itself (`wasi:sockets`), sends `ping`,
//!   answers with what came back, or `502` with the error it got.
//!
//! It is also a periodic job (`handle-cron-event`), doing what its variable `cron_mode` says:
//! `ok` (returns Ok), `err` (returns an error), `trap` (panics), `loop` (spins forever),
//! `sleep:N` (sleeps N ms, then Ok). Each run prints `cron run: <mode>`.

use bytes::Bytes;
use http_body_util::BodyExt;
use spin_sdk::http::{EmptyBody, IntoResponse, Request, Response, StatusCode};
use spin_sdk::http_service;
use std::time::{Duration, Instant};

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    match path.as_str() {
        "/ok" => text(StatusCode::OK, "ok".into()),
        "/panic" => panic!("hostile guest panics on purpose"),
        "/unreachable" => std::process::abort(),
        "/loop" => spin_forever(),
        "/oom" => exhaust_memory(),
        "/busy" => {
            let ms = number(&query, "ms");
            let started = Instant::now();
            let mut x = 0u64;
            while started.elapsed() < Duration::from_millis(ms) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            text(StatusCode::OK, format!("busy {ms} ms"))
        }
        "/sleep" => {
            let ms = number(&query, "ms");
            spin_sdk::time::sleep(Duration::from_millis(ms)).await;
            text(StatusCode::OK, format!("slept {ms} ms"))
        }
        "/echo" => match request.into_body().collect().await {
            Ok(body) => text(StatusCode::OK, format!("{} bytes", body.to_bytes().len())),
            Err(e) => text(StatusCode::BAD_REQUEST, format!("body failed: {e:?}")),
        },
        "/fetch" => fetch_following_one_redirect(param(&query, "url")).await,
        "/tcp" => tcp_ping(&param(&query, "addr")),
        "/spawn-trap" => {
            let ms = number(&query, "ms");
            spin_sdk::wasip3::spawn(async move {
                spin_sdk::time::sleep(Duration::from_millis(ms)).await;
                panic!("hostile guest traps in work after its answer, on purpose");
            });
            text(StatusCode::ACCEPTED, format!("will trap in {ms} ms"))
        }
        _ => text(StatusCode::NOT_FOUND, "no such behaviour".into()),
    }
}

mod cron {
    spin_sdk::wit_bindgen::generate!({
        world: "spin-cron",
        path: "../../../runner/wit/deps/spin-cron",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
    });

    pub struct Job;
    export!(Job);

    impl Guest for Job {
        async fn handle_cron_event(_metadata: Metadata) -> Result<(), Error> {
            let mode = spin_sdk::variables::get("cron_mode")
                .await
                .unwrap_or_else(|e| format!("unreadable: {e:?}"));
            println!("cron run: {mode}");
            match mode.as_str() {
                "ok" => Ok(()),
                "err" => Err(Error::Other("hostile job fails on purpose".into())),
                "trap" => panic!("hostile job traps on purpose"),
                "loop" => super::spin_forever(),
                other => match other.strip_prefix("sleep:").and_then(|ms| ms.parse().ok()) {
                    Some(ms) => {
                        spin_sdk::time::sleep(std::time::Duration::from_millis(ms)).await;
                        Ok(())
                    }
                    None => Err(Error::Other(format!("unknown cron_mode `{other}`"))),
                },
            }
        }
    }
}

/// A TCP round trip of the guest's own, through `wasi:sockets`.
fn tcp_ping(addr: &str) -> Response<String> {
    use std::io::{Read, Write};
    let exchange = || -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.write_all(b"ping")?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply)
    };
    match exchange() {
        Ok(reply) => text(StatusCode::OK, reply),
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("tcp {addr}: {e}")),
    }
}

fn spin_forever() -> ! {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn exhaust_memory() -> Response<String> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 16 * 1024 * 1024];
        block[0] = 1;
        *block.last_mut().expect("non-empty") = 1;
        blocks.push(std::hint::black_box(block));
        if blocks.len() > 1 << 20 {
            return text(StatusCode::OK, "memory is endless".into());
        }
    }
}

async fn fetch_following_one_redirect(url: String) -> Response<String> {
    let first = match get(&url).await {
        Ok(response) => response,
        Err(e) => return text(StatusCode::BAD_GATEWAY, e),
    };
    let (status, location, body) = first;
    if !status.is_redirection() {
        return text(status, String::from_utf8_lossy(&body).into_owned());
    }
    let Some(next) = location else {
        return text(StatusCode::BAD_GATEWAY, "redirect without location".into());
    };
    match get(&next).await {
        Ok((status, _, body)) => text(status, String::from_utf8_lossy(&body).into_owned()),
        Err(e) => text(StatusCode::BAD_GATEWAY, e),
    }
}

async fn get(url: &str) -> Result<(StatusCode, Option<String>, Bytes), String> {
    let request = spin_sdk::http::Request::get(url)
        .body(EmptyBody::new())
        .map_err(|e| format!("bad url {url}: {e}"))?;
    let response = spin_sdk::http::send(request)
        .await
        .map_err(|e| format!("GET {url}: {e:?}"))?;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("GET {url} body: {e:?}"))?
        .to_bytes();
    Ok((status, location, body))
}

fn param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| decode(value))
        .unwrap_or_default()
}

fn number(query: &str, name: &str) -> u64 {
    param(query, name).parse().unwrap_or(0)
}

/// Percent-decoding for the few characters a URL parameter needs (`%3A`, `%2F`, ...).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&value[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn text(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
