//! End-to-end test app: a Spin HTTP component written with the Rust spin-sdk 5.2.0
//! (`#[http_component]`, built for wasm32-wasip1 like Spin 3's `http-rust` template).
//! The JS and Python apps next to this one answer the same paths with the same bodies, but
//! for `/sleep` and `/time`, which only this app has (they read WASI 0.2's clocks through
//! the wasm32-wasip1 adapter, as every Rust guest of this generation does).

use spin_sdk::http::{
    Fields, IncomingResponse, IntoResponse, Method, OutgoingBody, OutgoingRequest, Request,
    Response, Scheme,
};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::{Connection, Value};
use spin_sdk::variables;

const SDK: &str = "rust-sdk5";
const DENIED_URL: &str = "http://denied.example.invalid/";

#[http_component]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let (status, body) = match req.path() {
        "/" => (200, format!("hello from {SDK}")),
        "/kv" => (200, count_hit()?),
        "/variable" => (200, variables::get("greeting")?),
        "/outbound" => outbound().await?,
        "/outbound-late-body" => outbound_late_body().await?,
        "/denied-host" => (200, denied_host().await),
        "/denied-store" => (200, denied_store()),
        "/sqlite" => (200, sqlite()?),
        "/headers" => (200, spin_headers(&req)),
        "/sleep" => (200, sleep(req.query())),
        "/time" => (200, wall_clock_seconds()),
        _ => (404, "not found".to_string()),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .build())
}

/// Reads `hits` from the `default` store (decimal text, absent = 0) and writes back hits+1.
fn count_hit() -> anyhow::Result<String> {
    let store = Store::open("default")?;
    let hits: u64 = match store.get("hits")? {
        Some(raw) => std::str::from_utf8(&raw)?.trim().parse()?,
        None => 0,
    };
    let hits = hits + 1;
    store.set("hits", hits.to_string().as_bytes())?;
    Ok(format!("hits={hits}"))
}

/// GETs the URL in the `upstream_url` variable; 502 when the request itself fails.
async fn outbound() -> anyhow::Result<(u16, String)> {
    let url = variables::get("upstream_url")?;
    let request = Request::builder().method(Method::Get).uri(url).build();
    Ok(match spin_sdk::http::send::<_, Response>(request).await {
        Ok(resp) => {
            let body = String::from_utf8_lossy(resp.body()).into_owned();
            (200, format!("upstream {} {body}", resp.status()))
        }
        Err(e) => (502, format!("upstream error: {e}")),
    })
}

/// GETs `upstream_url` declaring `content-length: 0` and writes that empty body only once
/// the answer is in, through `wasi:http` itself: SDKs that start a request before writing
/// its body (this SDK's `send`, the Python SDK's) do the same with less delay. An HTTP
/// client has no use for a body of length 0 and may have stopped reading it long before;
/// the guest must still be able to write and finish it.
async fn outbound_late_body() -> anyhow::Result<(u16, String)> {
    let url = variables::get("upstream_url")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("upstream_url is not an http:// URL"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let headers = Fields::from_list(&[("content-length".to_string(), b"0".to_vec())])?;
    let request = OutgoingRequest::new(headers);
    let refused = |what: &str| anyhow::anyhow!("the host refused the request's {what}");
    request
        .set_method(&Method::Get)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| refused("path"))?;
    let body = request.body().map_err(|()| refused("body"))?;
    let response: IncomingResponse = match spin_sdk::http::send(request).await {
        Ok(response) => response,
        Err(e) => return Ok((502, format!("upstream error: {e}"))),
    };
    let stream = body.write().map_err(|()| refused("body stream"))?;
    let written = stream.check_write().and_then(|_| stream.flush());
    drop(stream);
    let finished = OutgoingBody::finish(body, None);
    let status = response.status();
    let answer = String::from_utf8_lossy(&response.into_body().await?).into_owned();
    Ok(match (written, finished) {
        (Ok(()), Ok(())) => (200, format!("upstream {status} {answer}")),
        (Err(e), _) => (
            502,
            format!("writing the body after the answer failed: {e:?}"),
        ),
        (_, Err(e)) => (
            502,
            format!("finishing the body after the answer failed: {e:?}"),
        ),
    })
}

/// A host the manifest does not allow: reports what the SDK said.
async fn denied_host() -> String {
    let request = Request::builder()
        .method(Method::Get)
        .uri(DENIED_URL)
        .build();
    match spin_sdk::http::send::<_, Response>(request).await {
        Ok(_) => "not denied".to_string(),
        Err(e) => format!("denied: {e}"),
    }
}

/// A store the manifest does not grant.
fn denied_store() -> String {
    match Store::open("forbidden") {
        Ok(_) => "not denied".to_string(),
        Err(e) => format!("denied: {e}"),
    }
}

fn sqlite() -> anyhow::Result<String> {
    let db = Connection::open("default")?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT)",
        &[],
    )?;
    db.execute(
        "INSERT INTO visits (note) VALUES (?)",
        &[Value::Text("visit".to_string())],
    )?;
    let result = db.execute("SELECT COUNT(*) AS n, MAX(note) AS last FROM visits", &[])?;
    let row = result
        .rows()
        .next()
        .ok_or_else(|| anyhow::anyhow!("SELECT returned no row"))?;
    let n: i64 = row
        .get("n")
        .ok_or_else(|| anyhow::anyhow!("no integer column n"))?;
    let last: &str = row.get("last").unwrap_or("");
    Ok(format!("rows={n} last={last}"))
}

/// Sleeps `?ms=N` milliseconds (`std::thread::sleep`: WASI's monotonic clock and `poll`),
/// and says how long it slept by the monotonic clock and what the wall clock read after.
fn sleep(query: &str) -> String {
    let ms: u64 = query
        .strip_prefix("ms=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let started = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    format!(
        "slept={} wall={}",
        started.elapsed().as_millis(),
        wall_clock_seconds()
    )
}

/// Seconds since the Unix epoch by the wall clock.
fn wall_clock_seconds() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().to_string())
        .unwrap_or_else(|e| format!("before the epoch: {e}"))
}

/// The Spin request headers the host sent, one per line (empty when absent).
fn spin_headers(req: &Request) -> String {
    ["spin-full-url", "spin-path-info", "spin-matched-route"]
        .iter()
        .map(|name| {
            let value = req.header(name).and_then(|v| v.as_str()).unwrap_or("");
            format!("{name}: {value}\n")
        })
        .collect()
}
