//! Shared test support: builds the real components once per test binary; starts the
//! repository's app under `runner::testing::TestApp` (the harness the runner offers anyone),
//! or as a real `runner` process where a test needs one (signals, `kill -9`, several
//! runners); real redis-servers, PostgreSQL and MariaDB servers; raw HTTP for requests no
//! client would send.

#![allow(dead_code)]

use runner::AppOptions;
use runner::testing::{TestApp, TestResponse};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runner/ sits in the repository")
        .to_path_buf()
}

pub fn manifest_path() -> PathBuf {
    repo_root().join("spin.toml")
}

/// Builds test1 and test2 for wasm32-wasip2 (installing the target if needed), once.
pub fn ensure_built() {
    build_once(&manifest_path());
}

/// Runs the build commands of the app at `manifest`, once per test binary.
pub fn build_once(manifest: &Path) {
    static BUILT: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if built.insert(manifest.to_path_buf()) {
        let app = runner::Manifest::load(manifest).expect("manifest loads");
        runner::build(&app, &[]).expect("components build");
    }
}

/// Options for the repository's app with the given variables (built first).
pub fn app_options(variables: &[(&str, &str)]) -> AppOptions {
    ensure_built();
    let mut options = AppOptions::new(manifest_path());
    for (name, value) in variables {
        options = options.variable(name, *value);
    }
    options
}

/// The repository's app under the test harness, with the given variables.
pub async fn start_app(variables: &[(&str, &str)]) -> TestApp {
    TestApp::start(app_options(variables))
        .await
        .expect("app starts")
}

/// Reading the repository's answers: test2's count and whether test1 slept.
pub trait AppAnswer {
    /// The n of a `TEST2 n` body.
    fn value(&self) -> i64;
    /// Whether test1 says (in `server-timing`) that it slept.
    fn slept(&self) -> bool;
}

fn value_of(text: &str, status: u16) -> i64 {
    text.strip_prefix("TEST2 ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("not a TEST2 answer: {text:?} ({status})"))
}

fn slept_by(timing: Option<&str>) -> bool {
    timing
        .unwrap_or_else(|| panic!("no server-timing header"))
        .contains("slept")
}

impl AppAnswer for TestResponse {
    fn value(&self) -> i64 {
        value_of(&self.text(), self.status)
    }

    fn slept(&self) -> bool {
        slept_by(self.header("server-timing"))
    }
}

/// A copy of the repository's spin.toml in a temp dir (sources made absolute), edited.
pub fn edited_manifest(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    ensure_built();
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(manifest_path()).expect("spin.toml");
    let text = text.replace(
        "source = \"target/",
        &format!("source = \"{}/target/", repo_root().display()),
    );
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, edit(text)).expect("write manifest");
    (dir, path)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// One answer, with how long it took.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The n of a `TEST2 n` body.
    pub fn value(&self) -> i64 {
        value_of(&self.text(), self.status)
    }

    /// Whether test1 says (in `server-timing`) that it slept.
    pub fn slept(&self) -> bool {
        slept_by(
            self.headers
                .get("server-timing")
                .and_then(|v| v.to_str().ok()),
        )
    }
}

pub async fn get(client: &reqwest::Client, url: &str) -> Answer {
    let started = Instant::now();
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    Answer {
        status,
        headers,
        body,
        elapsed: started.elapsed(),
    }
}

/// `n` concurrent GETs of `url`.
pub async fn get_concurrently(client: &reqwest::Client, url: &str, n: usize) -> Vec<Answer> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_string());
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("request task"));
    }
    answers
}

/// The counter `key` of store `default` as stored in the state dir's SQLite file.
pub fn stored_counter(state_dir: &Path, key: &str) -> Option<i64> {
    let db = rusqlite::Connection::open(state_dir.join("sqlite_key_value.db")).expect("open db");
    let value: Option<Vec<u8>> = db
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = ?1",
            [key],
            |row| row.get(0),
        )
        .ok();
    value.map(|v| i64::from_le_bytes(v.try_into().expect("8-byte counter")))
}

/// A real redis-server on an ephemeral 127.0.0.1 port, killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: std::process::Child,
    pub dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one, or returns `None` (after saying so) where redis-server is not installed;
    /// under CI (`CI=true`) a missing redis-server is a failure.
    pub fn start() -> Option<Self> {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        if std::process::Command::new(&binary)
            .arg("--version")
            .output()
            .is_err()
        {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("redis-server is required in CI: install it (apt-get install redis-server)");
            }
            eprintln!(
                "SKIPPED: no redis-server found (apt-get install redis-server, or set REDIS_SERVER)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(Self::start_on(&binary, port, tempfile::tempdir().unwrap()))
    }

    fn start_on(binary: &str, port: u16, dir: tempfile::TempDir) -> Self {
        let child = std::process::Command::new(binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = Self { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.command(&["PING"]).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command, returning its reply as a string.
    pub fn command(&self, args: &[&str]) -> redis::RedisResult<Option<String>> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_connection_with_timeout(Duration::from_secs(1))?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(&mut connection)
    }

    /// Kills the server (SIGKILL) and, after `down`, starts it again on the same port and data.
    pub fn restart_after(mut self, down: Duration) -> Self {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::thread::sleep(down);
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Self::start_on(&binary, self.port, dir)
    }

    /// A runtime config file that puts the `default` store in this server.
    pub fn runtime_config(&self, dir: &Path) -> PathBuf {
        let path = dir.join("runtime-config.toml");
        std::fs::write(
            &path,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                self.url()
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(dead_code)]
pub mod mosquitto;
pub mod mysql;
pub mod postgres;
mod process;
pub mod sdk_apps;

/// A port nothing listens on right now (the OS's pick of a free ephemeral one).
#[allow(dead_code)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
#[allow(unused_imports)]
pub use process::RunnerProcess;

/// Raw HTTP/1.1 over TCP, for requests a well-behaved client cannot send: writes `request`,
/// returns everything the server sent until it closed the connection or `timeout` passed.
pub async fn raw_exchange(url: &str, request: &[u8], timeout: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    let mut received = Vec::new();
    let _ = tokio::time::timeout(timeout, stream.read_to_end(&mut received)).await;
    String::from_utf8_lossy(&received).into_owned()
}
