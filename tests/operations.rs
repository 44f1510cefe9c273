//! Running the runner for real, as an operator of `spin up` would, on the real `runner up`
//! process: HTTPS with a certificate (HTTP/2 and HTTP/1.1 by ALPN) and refusals of bad
//! certificates; HTTP/2 with prior knowledge in plain text; Spin's health and info
//! endpoints; the request log under `RUST_LOG` (never the query string), off by default;
//! component output in `--log-dir` files; OpenTelemetry spans and metrics exported to an OTLP
//! receiver on loopback, one trace across service chaining and a guest's own `wasi:otel`
//! spans; and the rest of `spin up`'s flags (`-c`, `--listen HOST:PORT`,
//! `SPIN_HTTP_LISTEN_ADDR`, `--find-free-port`, `--sqlite`, `--env`, `--variable k=@file`,
//! `RUNTIME_CONFIG_FILE` and its `state_dir`/`log_dir`).

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::convert::Infallible;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{RunnerProcess, build_once, client, ensure_built, get, manifest_path, repo_root};

/// `runner up -f MANIFEST --state-dir DIR` plus `args`.
fn up(manifest: &Path, state: &Path, args: &[&str]) -> Vec<OsString> {
    let mut all: Vec<OsString> = vec!["up".into(), "-f".into(), manifest.into()];
    all.extend(["--state-dir".into(), state.into()]);
    all.extend(args.iter().map(Into::into));
    all
}

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, reqwest::Certificate) {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let trusted = reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap();
    (cert, key, trusted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_http2_and_http1_by_alpn_and_bad_certificates_stop_the_runner() {
    ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, trusted) = certificate(dir.path());
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let args = up(
        &manifest_path(),
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert_arg,
            "--tls-key",
            key_arg,
        ],
    );
    let runner = RunnerProcess::spawn(&args, &[]);
    assert!(runner.url.starts_with("https://"), "{}", runner.url);

    let h2 = reqwest::Client::builder()
        .add_root_certificate(trusted.clone())
        .build()
        .unwrap();
    assert_eq!(
        version_and_text(&h2, &format!("{}/test2", runner.url)).await,
        (reqwest::Version::HTTP_2, "TEST2 1".to_string())
    );
    let h1 = reqwest::Client::builder()
        .add_root_certificate(trusted)
        .http1_only()
        .build()
        .unwrap();
    assert_eq!(
        version_and_text(&h1, &format!("{}/test1", runner.url)).await,
        (reqwest::Version::HTTP_11, "TEST2 2".to_string())
    );
    drop(runner);

    // A missing certificate, a file that is no certificate, a key of another certificate.
    let other = tempfile::tempdir().unwrap();
    let (_, other_key, _) = certificate(other.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for (cert, key, expected) in [
        (dir.path().join("missing.pem"), key.clone(), "missing.pem"),
        (garbage.clone(), key.clone(), "garbage.pem: no certificate"),
        (cert.clone(), other_key, "does not fit the certificate"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
            .args(up(
                &manifest_path(),
                dir.path(),
                &["--listen", "127.0.0.1:0"],
            ))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http2_with_prior_knowledge_and_spins_well_known_endpoints() {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    let runner = RunnerProcess::start(&manifest_path(), state.path(), &[]);
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    assert_eq!(
        version_and_text(&h2c, &format!("{}/test2", runner.url)).await,
        (reqwest::Version::HTTP_2, "TEST2 1".to_string())
    );

    let client = client();
    let health = get(&client, &format!("{}/.well-known/spin/health", runner.url)).await;
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    let info = get(&client, &format!("{}/.well-known/spin/info", runner.url)).await;
    assert_eq!(info.headers["content-type"], "application/json");
    let info: serde_json::Value = serde_json::from_slice(&info.body).unwrap();
    assert_eq!(info["name"], "seed-async-demo");
    assert_eq!(info["version"], "0.1.0");
    let other = get(&client, &format!("{}/.well-known/spin/nope", runner.url)).await;
    assert_eq!(other.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_says_what_happened_without_query_strings_and_is_off_by_default() {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    let runner = RunnerProcess::start(&manifest_path(), state.path(), &[]);
    let client = client();
    get(&client, &format!("{}/test2?token=hunter2", runner.url)).await;
    get(&client, &format!("{}/missing", runner.url)).await;
    let line = runner.wait_for_log(&["runner::request", "/test2"], Duration::from_secs(5));
    assert!(line.contains("GET /test2 200"), "{line}");
    assert!(
        line.contains("component=\"test2\"") && line.contains("bytes=7"),
        "{line}"
    );
    assert!(line.contains("duration_ms="), "{line}");
    let missing = runner.wait_for_log(&["runner::request", "/missing"], Duration::from_secs(5));
    assert!(
        missing.contains("404") && missing.contains("component=\"-\""),
        "{missing}"
    );
    assert!(!runner.log().contains("hunter2"), "{}", runner.log());
    drop(runner);

    // Without RUST_LOG, no request lines.
    let quiet =
        RunnerProcess::start_with_env(&manifest_path(), state.path(), &[], &[("RUST_LOG", "")]);
    get(&client, &format!("{}/test2", quiet.url)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        quiet.lines_with("runner::request").is_empty(),
        "{}",
        quiet.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_dir_files_get_each_components_output() {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    let logs = state.path().join("logs");
    let runner = RunnerProcess::start(
        &manifest_path(),
        state.path(),
        &["--log-dir", logs.to_str().unwrap()],
    );
    let client = client();
    for _ in 0..3 {
        get(&client, &format!("{}/test2", runner.url)).await;
    }
    let stdout = std::fs::read_to_string(logs.join("test2_stdout.txt")).unwrap();
    assert_eq!(stdout, "1\n2\n3\n");
    assert!(logs.join("test2_stderr.txt").is_file());
    assert!(logs.join("test1_stdout.txt").is_file());
    // The console still shows them.
    runner.wait_for_log(&["[test2] 3"], Duration::from_secs(5));
    drop(runner);

    // A log file that cannot be written fails no request: the failure is reported once, and
    // the count of failed writes when the runner stops. The file is a named pipe whose only
    // reader goes away once the runner has opened it, so every write fails (EPIPE) on any
    // Linux, whatever the machine's /dev holds.
    let broken_state = tempfile::tempdir().unwrap();
    let broken = broken_state.path().join("logs");
    std::fs::create_dir(&broken).unwrap();
    let pipe = broken.join("test2_stdout.txt");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", pipe.display());
    // Read and write: opening a pipe so does not wait for a writer, and the runner's own open
    // (write only) does not wait either while this end is open.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&pipe)
        .unwrap();
    let runner = RunnerProcess::start(
        &manifest_path(),
        broken_state.path(),
        &["--log-dir", broken.to_str().unwrap()],
    );
    drop(reader);
    for expected in ["TEST2 1", "TEST2 2", "TEST2 3"] {
        let answer = get(&client, &format!("{}/test2", runner.url)).await;
        assert_eq!((answer.status, answer.text().as_str()), (200, expected));
    }
    runner.wait_for_log(&["[test2] 3"], Duration::from_secs(5));
    assert_eq!(
        runner.lines_with("cannot write").len(),
        1,
        "{}",
        runner.log()
    );
    assert!(
        runner.log().contains("test2_stdout.txt"),
        "{}",
        runner.log()
    );
}

/// The HTTP version and the body of `client`'s GET of `url`.
async fn version_and_text(client: &reqwest::Client, url: &str) -> (reqwest::Version, String) {
    let answer = client.get(url).send().await.unwrap();
    (answer.version(), answer.text().await.unwrap())
}

/// What an OTLP/HTTP receiver on 127.0.0.1 has been sent.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    metrics: Vec<String>,
}

/// An OTLP/HTTP receiver (protobuf) on an ephemeral 127.0.0.1 port; its endpoint.
async fn otlp_receiver() -> (String, Arc<Mutex<Received>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Received::default()));
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let sink = sink.clone();
                        async move {
                            let path = request.uri().path().to_string();
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let mut received = sink.lock().unwrap();
                            if path == "/v1/traces" {
                                let export = ExportTraceServiceRequest::decode(body).unwrap();
                                for resource in export.resource_spans {
                                    for scope in resource.scope_spans {
                                        received.spans.extend(scope.spans);
                                    }
                                }
                            } else if path == "/v1/metrics" {
                                let export = ExportMetricsServiceRequest::decode(body).unwrap();
                                for resource in export.resource_metrics {
                                    for scope in resource.scope_metrics {
                                        received
                                            .metrics
                                            .extend(scope.metrics.into_iter().map(|m| m.name));
                                    }
                                }
                            }
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (endpoint, received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_crosses_chaining_and_a_guests_own_spans_and_metrics_are_exported() {
    ensure_built();
    let probe = repo_root().join("tests/guests/otel-probe/spin.toml");
    build_once(&probe);
    let (endpoint, received) = otlp_receiver().await;
    let state = tempfile::tempdir().unwrap();
    let runner = RunnerProcess::start_with_env(
        &probe,
        state.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let incoming = format!("00-{trace_id}-b7ad6b7169203331-01");
    let client = client();
    let test1 = client
        .get(format!("{}/test1", runner.url))
        .header("traceparent", &incoming)
        .send()
        .await
        .unwrap();
    assert_eq!(test1.text().await.unwrap(), "TEST2 1");
    let probed = client
        .get(format!("{}/probe", runner.url))
        .header("traceparent", &incoming)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        probed.starts_with(&format!("trace={trace_id} ")),
        "{probed}"
    );
    assert!(
        probed.contains("metrics=error: guest metrics are not exported"),
        "{probed}"
    );

    // Wait (bounded) for the batches to arrive.
    let deadline = Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans = received.lock().unwrap().spans.clone();
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        if names.contains(&"GET /...") && names.contains(&"guest-work") {
            break spans;
        }
        assert!(Instant::now() < deadline, "spans so far: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let named = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name}: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let test1_span = named("GET /test1");
    let outbound = named("GET");
    // A chained request is routed as by `/...`, as Spin routes it.
    let test2_span = named("GET /...");
    let guest = named("guest-work");
    // All in the incoming trace: test1 <- the client's span; outbound <- test1; test2 <-
    // outbound (through chaining); the guest's span <- its request's.
    for span in [test1_span, outbound, test2_span, guest] {
        assert_eq!(hex(&span.trace_id), trace_id, "{}", span.name);
    }
    assert_eq!(hex(&test1_span.parent_span_id), "b7ad6b7169203331");
    assert_eq!(outbound.parent_span_id, test1_span.span_id);
    assert_eq!(test2_span.parent_span_id, outbound.span_id);
    assert_eq!(attribute(test2_span, "component").as_deref(), Some("test2"));
    assert_eq!(
        attribute(test2_span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attribute(guest, "probe").as_deref(), Some("yes"));
    let probe_span = named("GET /probe");
    assert_eq!(guest.parent_span_id, probe_span.span_id);
    assert!(
        spans.iter().any(|s| s.name.starts_with("key_value.increment") && s.trace_id == test2_span.trace_id),
        "a key-value span under the request"
    );
    runner.wait_for_log(
        &["[otel-probe] INFO hello from the guest"],
        Duration::from_secs(5),
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let metrics = received.lock().unwrap().metrics.clone();
        if [
            "runner.requests",
            "runner.request.duration",
            "runner.instances",
            "runner.store.calls",
        ]
        .iter()
        .all(|m| metrics.iter().any(|n| n == m))
        {
            break;
        }
        assert!(Instant::now() < deadline, "metrics so far: {metrics:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_ups_other_flags_and_runtime_config_keys() {
    ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let client = client();

    // -c: only test2's trigger.
    let runner = RunnerProcess::spawn(
        &up(
            &manifest_path(),
            dir.path(),
            &["--listen", "127.0.0.1:0", "-c", "test2"],
        ),
        &[],
    );
    assert_eq!(
        get(&client, &format!("{}/test2", runner.url)).await.status,
        200
    );
    assert_eq!(
        get(&client, &format!("{}/test1", runner.url)).await.status,
        404
    );
    drop(runner);

    // --listen HOST:PORT, and SPIN_HTTP_LISTEN_ADDR; --find-free-port past a taken port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen = format!("localhost:{port}");
    let runner = RunnerProcess::spawn(
        &up(&manifest_path(), dir.path(), &["--find-free-port"]),
        &[("SPIN_HTTP_LISTEN_ADDR", &listen)],
    );
    let url_port: u16 = runner.url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        url_port > port && url_port <= port + 100,
        "{} after {port}",
        runner.url
    );
    assert!(
        runner.url.starts_with("http://127.0.0.1:"),
        "{}",
        runner.url
    );
    drop(runner);

    // --sqlite (a statement and @file) on the default database; --env for every component;
    // --variable k=@file; RUNTIME_CONFIG_FILE with state_dir and log_dir.
    let probe = repo_root().join("tests/guests/kv-probe/spin.toml");
    build_once(&probe);
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let manifest = app.join("spin.toml");
    let text = std::fs::read_to_string(&probe).unwrap().replace(
        "../../../target/",
        &format!("{}/target/", repo_root().display()),
    );
    std::fs::write(
        &manifest,
        text.replace(
            "key_value_stores = [\"default\"]",
            "key_value_stores = [\"default\"]\nsqlite_databases = [\"default\"]",
        ),
    )
    .unwrap();
    let greeting = dir.path().join("greeting.txt");
    std::fs::write(&greeting, "bonjour").unwrap();
    let sql = dir.path().join("seed.sql");
    std::fs::write(&sql, "INSERT INTO t VALUES (2); INSERT INTO t VALUES (3);").unwrap();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        "state_dir = \"from-config\"\nlog_dir = \"logs-from-config\"\n",
    )
    .unwrap();
    let variable = format!("greeting=@{}", greeting.display());
    let sql_file = format!("@{}", sql.display());
    let mut args: Vec<OsString> = vec!["up".into(), "-f".into(), manifest.clone().into()];
    for arg in [
        "--listen",
        "127.0.0.1:0",
        "--variable",
        &variable,
        "--sqlite",
        "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)",
        "--sqlite",
        &sql_file,
        "-e",
        "COLOUR=teal",
    ] {
        args.push(arg.into());
    }
    let runner = RunnerProcess::spawn(&args, &[("RUNTIME_CONFIG_FILE", config.to_str().unwrap())]);
    assert_eq!(
        get(&client, &format!("{}/var/greeting", runner.url))
            .await
            .text(),
        "bonjour, world"
    );
    assert_eq!(
        get(&client, &format!("{}/env/COLOUR", runner.url))
            .await
            .text(),
        "teal"
    );
    get(&client, &format!("{}/set/a/one", runner.url)).await;
    drop(runner);
    let rows: i64 = rusqlite::Connection::open(dir.path().join("from-config/sqlite_db.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 3, "--sqlite ran in the runtime config's state_dir");
    assert!(dir.path().join("from-config/sqlite_key_value.db").is_file());
    assert!(
        dir.path()
            .join("logs-from-config/kv-probe_stdout.txt")
            .is_file()
    );
}
