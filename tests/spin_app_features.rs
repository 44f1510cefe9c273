//! What Spin apps carry besides their handlers, served as `spin up` serves it: a folder of
//! static files mounted read-only for a file server component (media types, `index.html`,
//! ETag and `304`, `404`), with nothing outside the mounts reachable (`..`, encoded `..`, a
//! symbolic link out of the tree); `files` globs, mappings and `exclude_files`; components
//! downloaded from a URL once, checked against their digest and cached for offline starts;
//! route parameters as `spin-path-match-*` headers; manifest keys Spin accepts and does not
//! act on; variables from `.env` and the runtime config's providers.

mod support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use runner::AppOptions;
use runner::testing::{TestApp, http};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{build_once, repo_root};

/// The file server test component, built.
fn fileserver_wasm() -> PathBuf {
    build_once(&repo_root().join("tests/guests/fileserver/spin.toml"));
    repo_root().join("target/wasm32-wasip2/release/fileserver.wasm")
}

/// Writes `files` (path, contents) under `dir`.
fn write_all(dir: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

/// An app directory with a site and a manifest serving `/static/...` with the file server,
/// its component table ending in `component_extra` (its `files`, say).
fn site_app(source: &str, component_extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_all(
        dir.path(),
        &[
            ("site/index.html", "<h1>home</h1>"),
            ("site/css/site.css", "body { color: teal }"),
            ("site/docs/index.html", "<h1>docs</h1>"),
            ("site/data.json", "{\"n\":1}"),
            ("site/private.html", "private"),
            ("secret.txt", "TOP SECRET"),
            ("extra/readme.txt", "read me"),
        ],
    );
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"site\"\n\
         [[trigger.http]]\nroute = \"/static/...\"\ncomponent = \"files\"\n\
         [component.files]\nsource = {source}\n{component_extra}\n"
    );
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    (dir, path)
}

fn local_source() -> String {
    format!("'{}'", fileserver_wasm().display())
}

#[tokio::test]
async fn a_folder_is_served_with_media_types_index_pages_and_etags() -> anyhow::Result<()> {
    let (_dir, manifest) = site_app(
        &local_source(),
        r#"files = [{ source = "site", destination = "/" }]"#,
    );
    let app = TestApp::start(AppOptions::new(manifest)).await?;
    let home = app.get("/static/").await?;
    assert_eq!((home.status, home.text().as_str()), (200, "<h1>home</h1>"));
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let css = app.get("/static/css/site.css").await?;
    assert_eq!(
        (css.status, css.text().as_str()),
        (200, "body { color: teal }")
    );
    assert_eq!(css.header("content-type"), Some("text/css"));
    assert_eq!(
        app.get("/static/data.json").await?.header("content-type"),
        Some("application/json")
    );
    assert_eq!(app.get("/static/docs").await?.text(), "<h1>docs</h1>");

    let etag = css.header("etag").expect("an etag").to_string();
    let again = app
        .request(
            http::Request::get("/static/css/site.css")
                .header("if-none-match", &etag)
                .body(Vec::new())?,
        )
        .await?;
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    let missing = app.get("/static/nope.txt").await?;
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (404, "Not Found")
    );
    let head = app
        .request(http::Request::head("/static/").body(Vec::new())?)
        .await?;
    assert_eq!((head.status, head.body.len()), (200, 0));
    Ok(())
}

#[tokio::test]
async fn nothing_outside_the_mounted_files_is_reachable() -> anyhow::Result<()> {
    let (dir, manifest) = site_app(
        &local_source(),
        r#"files = [{ source = "site", destination = "/" }]"#,
    );
    let app = TestApp::start(AppOptions::new(&manifest)).await?;
    for path in [
        "/static/../secret.txt",
        "/static/../../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/css/../../secret.txt",
        "/static/../../../../../etc/passwd",
    ] {
        let answer = app.get(path).await?;
        // The file server's own 404 (the router's ends in a newline): the guest was asked.
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (404, "Not Found"),
            "{path}"
        );
    }
    app.stop().await;

    // A symbolic link in the site leading out of the application directory is refused, by
    // entry, before anything is served.
    let outside = tempfile::tempdir()?;
    std::fs::write(outside.path().join("key"), "outside")?;
    std::os::unix::fs::symlink(outside.path().join("key"), dir.path().join("site/key"))?;
    let refused = TestApp::start(AppOptions::new(&manifest))
        .await
        .err()
        .expect("a link out of the tree is refused");
    let refused = refused.to_string();
    assert!(refused.contains("component.files.files[0]"), "{refused}");
    assert!(
        refused.contains("outside the application directory"),
        "{refused}"
    );
    Ok(())
}

#[tokio::test]
async fn globs_mappings_and_exclusions_mount_what_spin_mounts() -> anyhow::Result<()> {
    let (_dir, manifest) = site_app(
        &local_source(),
        r#"files = ["site/*.html", { source = "extra/readme.txt", destination = "/about.txt" }]
exclude_files = ["site/private*"]"#,
    );
    let app = TestApp::start(AppOptions::new(manifest)).await?;
    let expect = [
        ("/static/site/index.html", 200),
        ("/static/about.txt", 200),
        ("/static/site/private.html", 404),
        ("/static/site/css/site.css", 404),
        ("/static/site/data.json", 404),
    ];
    for (path, status) in expect {
        assert_eq!(app.get(path).await?.status, status, "{path}");
    }
    assert_eq!(app.get("/static/about.txt").await?.text(), "read me");
    Ok(())
}

/// A server on 127.0.0.1 that answers every request with `body` (or `404` when `None`),
/// counting the requests.
async fn wasm_server(body: Option<Vec<u8>>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (counter, body) = (counter.clone(), body.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = body.clone();
                        async move {
                            Ok::<_, Infallible>(match body {
                                Some(bytes) => Response::new(Full::new(Bytes::from(bytes))),
                                None => Response::builder()
                                    .status(404)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            })
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, count)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_source_is_downloaded_once_checked_and_cached_for_offline_starts()
-> anyhow::Result<()> {
    let wasm = std::fs::read(fileserver_wasm())?;
    let digest = sha256_hex(&wasm);
    let (addr, downloads) = wasm_server(Some(wasm)).await;
    let remote = |digest: &str| {
        format!("{{ url = \"http://{addr}/spin_static_fs.wasm\", digest = \"sha256:{digest}\" }}")
    };
    let cache = tempfile::tempdir()?;
    let options = |manifest: &Path| {
        let mut options = AppOptions::new(manifest);
        options.cache_dir = Some(cache.path().to_path_buf());
        options
    };
    let (_dir, manifest) = site_app(
        &remote(&digest),
        r#"files = [{ source = "site", destination = "/" }]"#,
    );
    let app = TestApp::start(options(&manifest)).await?;
    assert_eq!(app.get("/static/").await?.text(), "<h1>home</h1>");
    app.stop().await;
    let again = TestApp::start(options(&manifest)).await?;
    again.stop().await;
    assert_eq!(downloads.load(Ordering::SeqCst), 1, "downloaded once");

    // The digest must match what is downloaded.
    let wrong = "0".repeat(64);
    let (_dir, bad) = site_app(&remote(&wrong), "");
    let e = TestApp::start(options(&bad))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("component.files.source"), "{e}");
    assert!(
        e.contains("invalid content digest") && e.contains(&digest),
        "{e}"
    );

    // Offline: the cached download serves; a failing download is refused by key.
    let (missing_addr, _) = wasm_server(None).await;
    let (_dir, offline) = site_app(
        &remote(&digest).replace(&addr.to_string(), &missing_addr.to_string()),
        r#"files = [{ source = "site", destination = "/" }]"#,
    );
    let cached = TestApp::start(options(&offline)).await?;
    assert_eq!(cached.get("/static/").await?.status, 200);
    let (_dir, unknown) = site_app(
        &remote(&sha256_hex(b"something else"))
            .replace(&addr.to_string(), &missing_addr.to_string()),
        "",
    );
    let e = TestApp::start(options(&unknown))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("component.files.source") && e.contains("404"),
        "{e}"
    );
    Ok(())
}

#[tokio::test]
async fn route_parameters_reach_the_guest_as_spin_path_match_headers() -> anyhow::Result<()> {
    let manifest = repo_root().join("tests/guests/rc-probe/spin.toml");
    build_once(&manifest);
    let app = TestApp::start(AppOptions::new(manifest)).await?;
    let answer = app.get("/users/42/files/a/b.txt").await?;
    let text = answer.text();
    for line in [
        "spin-path-match-id: 42",
        "spin-path-info: /a/b.txt",
        "spin-matched-route: /users/:id/files/...",
        "spin-component-route: /users/:id/files",
        "spin-base-path: /",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    Ok(())
}

#[tokio::test]
async fn keys_spin_accepts_and_does_not_act_on_are_accepted() -> anyhow::Result<()> {
    let (_dir, manifest) = site_app(
        &local_source(),
        r#"files = [{ source = "site", destination = "/" }]
targets = ["spin-up:3.3"]
[component.files.tool.spin-test]
source = "tests/target/wasm32-wasip1/release/tests.wasm"
build = "cargo component build --release"
[component.files.profile.debug]
source = "debug.wasm"
"#,
    );
    let text = std::fs::read_to_string(&manifest)?.replace(
        "[[trigger.http]]",
        "authors = [\"a\"]\ndescription = \"d\"\n[application.tool.spin-test]\nx = 1\n\
         [application.trigger.http]\nbase = \"/\"\n\n[[trigger.http]]",
    );
    std::fs::write(&manifest, text)?;
    let app = TestApp::start(AppOptions::new(&manifest)).await?;
    assert_eq!(app.get("/static/").await?.status, 200);
    Ok(())
}

/// The key-value probe (its `/var/greeting` reads `greeting = "{{ greeting }}, world"`), in a
/// directory of its own with `dotenv` as its `.env`.
fn probe_with_dotenv(dotenv: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    let original = repo_root().join("tests/guests/kv-probe/spin.toml");
    build_once(&original);
    let text = std::fs::read_to_string(&original).unwrap().replace(
        "../../../target/",
        &format!("{}/target/", repo_root().display()),
    );
    std::fs::write(&manifest, text).unwrap();
    if let Some(dotenv) = dotenv {
        std::fs::write(dir.path().join(".env"), dotenv).unwrap();
    }
    (dir, manifest)
}

#[tokio::test]
async fn variables_come_from_dot_env_and_the_runtime_configs_providers() -> anyhow::Result<()> {
    let (dir, manifest) = probe_with_dotenv(Some("SPIN_VARIABLE_GREETING=bonjour\n"));
    let greeting = |app: TestApp| async move { app.get("/var/greeting").await.unwrap().text() };

    // A test app reads no environment unless asked; `runner up` does.
    let hermetic = TestApp::start(AppOptions::new(&manifest)).await?;
    assert_eq!(greeting(hermetic).await, "hello, world");
    let with_env = TestApp::builder(AppOptions::new(&manifest))
        .env_variables()
        .start()
        .await?;
    assert_eq!(greeting(with_env).await, "bonjour, world");

    // Providers in the runtime config come first, in order; --variable beats them all.
    let vars = dir.path().join("vars.env");
    std::fs::write(&vars, "MYAPP_GREETING=hola\n")?;
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[[variables_provider]]\ntype = \"env\"\nprefix = \"MYAPP\"\ndotenv_path = \"{}\"\n\
             [[variables_provider]]\ntype = \"static\"\nvalues = {{ greeting = \"ciao\" }}\n",
            vars.display()
        ),
    )?;
    let mut options = AppOptions::new(&manifest);
    options.runtime_config = Some(config.clone());
    assert_eq!(
        greeting(TestApp::start(options.clone()).await?).await,
        "hola, world"
    );
    let overridden = TestApp::start(options.variable("greeting", "hey")).await?;
    assert_eq!(greeting(overridden).await, "hey, world");

    std::fs::write(
        &config,
        "[[variables_provider]]\ntype = \"vault\"\nurl = \"http://127.0.0.1:1\"\ntoken = \"t\"\nmount = \"m\"\n",
    )?;
    let mut options = AppOptions::new(&manifest);
    options.runtime_config = Some(config);
    let e = TestApp::start(options)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("variables_provider[0].type") && e.contains("vault"),
        "{e}"
    );
    Ok(())
}
