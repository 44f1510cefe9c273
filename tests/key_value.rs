//! The key-value and variables interfaces behave as in Spin, checked through a probe
//! guest (tests/guests/kv-probe) that calls each of them.

mod support;

use runner::testing::{TestApp, TestResponse};
use support::{build_once, repo_root};

fn probe_options() -> runner::AppOptions {
    let manifest = repo_root().join("tests/guests/kv-probe/spin.toml");
    build_once(&manifest);
    runner::AppOptions::new(&manifest)
}

async fn probe() -> TestApp {
    TestApp::start(probe_options()).await.unwrap()
}

async fn call(app: &TestApp, path: &str) -> TestResponse {
    app.get(path).await.unwrap()
}

#[tokio::test]
async fn spin_key_value_get_set_delete_exists_and_keys() {
    let state = tempfile::tempdir().unwrap();
    let app = TestApp::start(probe_options().state_dir(state.path()))
        .await
        .unwrap();
    assert_eq!(call(&app, "/get/a").await.text(), "absent");
    assert_eq!(call(&app, "/exists/a").await.text(), "false");
    assert_eq!(call(&app, "/set/a/one").await.text(), "set");
    assert_eq!(call(&app, "/set/b/two").await.text(), "set");
    assert_eq!(call(&app, "/get/a").await.text(), "one");
    assert_eq!(call(&app, "/exists/a").await.text(), "true");
    assert_eq!(call(&app, "/keys").await.text(), "a,b");
    assert_eq!(call(&app, "/delete/a").await.text(), "deleted");
    assert_eq!(call(&app, "/get/a").await.text(), "absent");
    assert_eq!(call(&app, "/keys").await.text(), "b");

    let db = rusqlite::Connection::open(state.path().join("sqlite_key_value.db")).unwrap();
    let stored: Vec<u8> = db
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'b'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        stored, b"two",
        "values are stored as given, in Spin's table"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_granted_stores_open() {
    let app = probe().await;
    assert_eq!(call(&app, "/open/default").await.text(), "opened");
    let denied = call(&app, "/open/secrets").await;
    assert_eq!(denied.status, 409);
    assert_eq!(denied.text(), "Error::AccessDenied");
    app.stop().await;
}

#[tokio::test]
async fn compare_and_swap() {
    let app = probe().await;
    assert_eq!(call(&app, "/cas/c/1").await.text(), "swapped from None");
    assert_eq!(
        call(&app, "/cas/c/2").await.text(),
        "swapped from Some(\"1\")"
    );
    assert_eq!(call(&app, "/get/c").await.text(), "2");
    app.stop().await;
}

#[tokio::test]
async fn component_variables_render_templates_and_refuse_unknown_names() {
    let app = probe().await;
    assert_eq!(call(&app, "/var/greeting").await.text(), "hello, world");
    let unknown = call(&app, "/var/nothing").await;
    assert_eq!(unknown.status, 409);
    assert!(
        unknown.text().starts_with("Error::Undefined"),
        "{}",
        unknown.text()
    );
    let invalid = call(&app, "/var/Bad-Name").await;
    assert!(
        invalid.text().starts_with("Error::InvalidName"),
        "{}",
        invalid.text()
    );
    app.stop().await;
}
