//! The key-value and variables interfaces behave as in Spin, checked through a probe
//! guest (tests/guests/kv-probe) that calls each of them.

mod support;

use support::{Answer, build_once, client, get, repo_root, start_with};

async fn probe() -> (support::TestApp, reqwest::Client) {
    let manifest = repo_root().join("tests/guests/kv-probe/spin.toml");
    build_once(&manifest);
    let state = tempfile::tempdir().unwrap();
    let mut options = runner::AppOptions::new(&manifest).state_dir(state.path());
    options.read_env_variables = false;
    (start_with(options, state).await, client())
}

async fn call(app: &support::TestApp, client: &reqwest::Client, path: &str) -> Answer {
    get(client, &format!("{}{path}", app.url)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_key_value_get_set_delete_exists_and_keys() {
    let (app, client) = probe().await;
    assert_eq!(call(&app, &client, "/get/a").await.text(), "absent");
    assert_eq!(call(&app, &client, "/exists/a").await.text(), "false");
    assert_eq!(call(&app, &client, "/set/a/one").await.text(), "set");
    assert_eq!(call(&app, &client, "/set/b/two").await.text(), "set");
    assert_eq!(call(&app, &client, "/get/a").await.text(), "one");
    assert_eq!(call(&app, &client, "/exists/a").await.text(), "true");
    assert_eq!(call(&app, &client, "/keys").await.text(), "a,b");
    assert_eq!(call(&app, &client, "/delete/a").await.text(), "deleted");
    assert_eq!(call(&app, &client, "/get/a").await.text(), "absent");
    assert_eq!(call(&app, &client, "/keys").await.text(), "b");

    let db = rusqlite::Connection::open(app.state.path().join("sqlite_key_value.db")).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_stores_open() {
    let (app, client) = probe().await;
    assert_eq!(call(&app, &client, "/open/default").await.text(), "opened");
    let denied = call(&app, &client, "/open/secrets").await;
    assert_eq!(denied.status, 409);
    assert_eq!(denied.text(), "Error::AccessDenied");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap() {
    let (app, client) = probe().await;
    assert_eq!(
        call(&app, &client, "/cas/c/1").await.text(),
        "swapped from None"
    );
    assert_eq!(
        call(&app, &client, "/cas/c/2").await.text(),
        "swapped from Some(\"1\")"
    );
    assert_eq!(call(&app, &client, "/get/c").await.text(), "2");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_variables_render_templates_and_refuse_unknown_names() {
    let (app, client) = probe().await;
    assert_eq!(
        call(&app, &client, "/var/greeting").await.text(),
        "hello, world"
    );
    let unknown = call(&app, &client, "/var/nothing").await;
    assert_eq!(unknown.status, 409);
    assert!(
        unknown.text().starts_with("Error::Undefined"),
        "{}",
        unknown.text()
    );
    let invalid = call(&app, &client, "/var/Bad-Name").await;
    assert!(
        invalid.text().starts_with("Error::InvalidName"),
        "{}",
        invalid.text()
    );
    app.stop().await;
}
