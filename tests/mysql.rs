//! Spin's outbound MySQL against a real MariaDB server, through two probe guests that run the
//! statements a test posts and answer what they got: `mysql-probe` (spin-sdk 7,
//! `spin:mysql/mysql@3.0.0`, rows read from a stream) and `mysql-probe-sdk5` (spin-sdk 5.2.0,
//! `fermyon:spin/mysql@2.0.0`). Both may reach only `mysql://127.0.0.1:<the server's port>`.

mod support;

use runner::testing::TestApp;
use serde_json::{Value as Json, json};
use std::path::PathBuf;
use support::mysql::{MysqlServer, PASSWORD, USER};
use support::{build_once, repo_root};

/// The two guests, one per interface version.
const SPIN3: &str = "tests/guests/mysql-probe/spin.toml";
const SPIN2: &str = "tests/guests/mysql-probe-sdk5/spin.toml";

async fn probe(guest: &str, server: &MysqlServer) -> TestApp {
    let manifest: PathBuf = repo_root().join(guest);
    build_once(&manifest);
    let options =
        runner::AppOptions::new(&manifest).variable("mysql_port", server.port.to_string());
    TestApp::builder(options)
        .real_network()
        .start()
        .await
        .unwrap()
}

/// Posts `steps` for `address` to the guest; its JSON answer.
async fn run(app: &TestApp, address: &str, steps: Json) -> Json {
    let body = json!({ "address": address, "steps": steps }).to_string();
    let request = runner::testing::http::Request::post("/")
        .body(body)
        .unwrap();
    let response = app.request(request).await.unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

/// The answers of the steps, when `open` succeeded.
fn steps(answer: &Json) -> &Vec<Json> {
    answer["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("open failed: {answer}"))
}

fn columns(step: &Json) -> Vec<(String, String)> {
    step["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("not a row set: {step}"))
        .iter()
        .map(|c| (c[0].as_str().unwrap().into(), c[1].as_str().unwrap().into()))
        .collect()
}

fn rows(step: &Json) -> &Vec<Json> {
    step["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("not a row set: {step}"))
}

/// `rows`, with each `floating32` as the f32 it is (JSON writes it as some f64 that rounds to
/// it, not necessarily the one `json!` makes of the f32).
fn as_f32s(rows: &[Json]) -> Json {
    fn normalize(value: &Json) -> Json {
        match value {
            Json::Array(items) => Json::Array(items.iter().map(normalize).collect()),
            Json::Object(o) if o.contains_key("floating32") => {
                json!({ "floating32": o["floating32"].as_f64().unwrap() as f32 })
            }
            other => other.clone(),
        }
    }
    normalize(&Json::Array(rows.to_vec()))
}

/// A guest error's variant and message.
fn error(outcome: &Json) -> (String, String) {
    let (variant, message) = outcome
        .as_object()
        .and_then(|o| o.iter().next())
        .unwrap_or_else(|| panic!("not an error: {outcome}"));
    (variant.clone(), message.as_str().unwrap_or_default().into())
}

const UNICODE: &str = "héllo wörld ✓ 🦀 \u{0} end";

const CREATE_TABLE: &str = "CREATE TABLE every_type (
    id INT PRIMARY KEY AUTO_INCREMENT,
    b BOOLEAN, i8 TINYINT, i16 SMALLINT, i24 MEDIUMINT, i32 INT, i64 BIGINT,
    u8 TINYINT UNSIGNED, u16 SMALLINT UNSIGNED, u24 MEDIUMINT UNSIGNED, u32 INT UNSIGNED,
    u64 BIGINT UNSIGNED, f32 FLOAT, f64 DOUBLE, s VARCHAR(100), txt TEXT, ch CHAR(3),
    bin VARBINARY(100), blb BLOB, bn BINARY(3), n INT NULL, dec_col DECIMAL(10,2), d DATE
) CHARACTER SET utf8mb4";

const INSERT: &str = "INSERT INTO every_type
    (b, i8, i16, i24, i32, i64, u8, u16, u24, u32, u64, f32, f64, s, txt, ch, bin, blb, bn, n,
     dec_col, d)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

const SELECT: &str = "SELECT b, i8, i16, i24, i32, i64, u8, u16, u24, u32, u64, f32, f64, s, txt,
    ch, bin, blb, bn, n FROM every_type ORDER BY id";

/// The lowest value of every type (and a DECIMAL and a DATE as text).
fn low_row() -> Json {
    json!([
        {"boolean": true}, {"int8": i8::MIN}, {"int16": i16::MIN}, {"int32": -8_388_608},
        {"int32": i32::MIN}, {"int64": i64::MIN}, {"uint8": 0}, {"uint16": 0}, {"uint32": 0},
        {"uint32": 0}, {"uint64": 0}, {"floating32": -1.5}, {"floating64": f64::MIN_POSITIVE},
        {"str": UNICODE}, {"str": ""}, {"str": "abc"}, {"binary": [0, 1, 255]}, {"binary": []},
        {"binary": [1, 2, 3]}, {"db-null": null}, {"str": "-12345.67"}, {"str": "2024-02-29"}
    ])
}

/// The highest value of every type (DECIMAL and DATE null).
fn high_row() -> Json {
    json!([
        {"boolean": false}, {"int8": i8::MAX}, {"int16": i16::MAX}, {"int32": 8_388_607},
        {"int32": i32::MAX}, {"int64": i64::MAX}, {"uint8": u8::MAX}, {"uint16": u16::MAX},
        {"uint32": 16_777_215}, {"uint32": u32::MAX}, {"uint64": u64::MAX},
        {"floating32": f32::MAX}, {"floating64": f64::MAX}, {"str": "x"}, {"str": "τέλος"},
        {"str": "z"}, {"binary": [255]}, {"binary": vec![7; 300]}, {"binary": [9, 9, 9]},
        {"int32": 42}, {"db-null": null}, {"db-null": null}
    ])
}

/// What SELECT brings back for `low_row` and `high_row`: BOOLEAN is TINYINT, so `int8`.
fn expected_rows() -> Json {
    json!([
        [
            {"int8": 1}, {"int8": i8::MIN}, {"int16": i16::MIN}, {"int32": -8_388_608},
            {"int32": i32::MIN}, {"int64": i64::MIN}, {"uint8": 0}, {"uint16": 0},
            {"uint32": 0}, {"uint32": 0}, {"uint64": 0}, {"floating32": -1.5},
            {"floating64": f64::MIN_POSITIVE}, {"str": UNICODE}, {"str": ""}, {"str": "abc"},
            {"binary": [0, 1, 255]}, {"binary": []}, {"binary": [1, 2, 3]}, {"db-null": null}
        ],
        [
            {"int8": 0}, {"int8": i8::MAX}, {"int16": i16::MAX}, {"int32": 8_388_607},
            {"int32": i32::MAX}, {"int64": i64::MAX}, {"uint8": u8::MAX}, {"uint16": u16::MAX},
            {"uint32": 16_777_215}, {"uint32": u32::MAX}, {"uint64": u64::MAX},
            {"floating32": f32::MAX}, {"floating64": f64::MAX}, {"str": "x"},
            {"str": "τέλος"}, {"str": "z"}, {"binary": [255]}, {"binary": vec![7; 300]},
            {"binary": [9, 9, 9]}, {"int32": 42}
        ]
    ])
}

/// Every parameter type goes in and comes back as Spin maps it, with the columns' names and
/// types; the server holds what was sent; DECIMAL and DATE columns are `other`, whose values
/// cannot be carried (`value-conversion-failed`) unless NULL or cast to text.
async fn round_trip(guest: &str) {
    let Some(server) = MysqlServer::start().await else {
        return;
    };
    let app = probe(guest, &server).await;
    let answer = run(
        &app,
        &server.address(),
        json!([
            {"execute": CREATE_TABLE},
            {"execute": INSERT, "params": low_row()},
            {"execute": INSERT, "params": high_row()},
            {"query": SELECT},
            {"query": "SELECT s FROM every_type WHERE u64 = ? AND i8 = ?",
             "params": [{"uint64": 0}, {"int8": -128}]},
            {"query": "SELECT dec_col, d FROM every_type WHERE id = 2"},
            {"query": "SELECT dec_col, d FROM every_type WHERE id = 1"},
            {"query": "SELECT CAST(dec_col AS CHAR) AS dec_text, CAST(d AS CHAR) AS d_text
                       FROM every_type WHERE id = 1"},
            {"query": "UPDATE every_type SET n = 7 WHERE id = 1"},
        ]),
    )
    .await;
    let steps = steps(&answer);
    assert_eq!(steps[0], json!("ok"), "create: {}", steps[0]);
    assert_eq!(steps[1], json!("ok"), "insert low: {}", steps[1]);
    assert_eq!(steps[2], json!("ok"), "insert high: {}", steps[2]);

    let expected_columns: Vec<(String, String)> = [
        ("b", "int8"),
        ("i8", "int8"),
        ("i16", "int16"),
        ("i24", "int32"),
        ("i32", "int32"),
        ("i64", "int64"),
        ("u8", "uint8"),
        ("u16", "uint16"),
        ("u24", "uint32"),
        ("u32", "uint32"),
        ("u64", "uint64"),
        ("f32", "floating32"),
        ("f64", "floating64"),
        ("s", "str"),
        ("txt", "str"),
        ("ch", "str"),
        ("bin", "binary"),
        ("blb", "binary"),
        ("bn", "binary"),
        ("n", "int32"),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), t.to_string()))
    .collect();
    assert_eq!(columns(&steps[3]), expected_columns);
    assert_eq!(as_f32s(rows(&steps[3])), expected_rows());

    assert_eq!(rows(&steps[4]), &vec![json!([{ "str": UNICODE }])]);

    assert_eq!(
        columns(&steps[5]),
        vec![
            ("dec_col".to_string(), "other".to_string()),
            ("d".to_string(), "other".to_string())
        ]
    );
    assert_eq!(
        rows(&steps[5]),
        &vec![json!([{"db-null": null}, {"db-null": null}])]
    );
    let (variant, message) = error(&steps[6]["error"]);
    assert_eq!(variant, "value-conversion-failed", "{message}");
    assert!(message.contains("dec_col"), "{message}");
    assert_eq!(
        rows(&steps[7]),
        &vec![json!([{"str": "-12345.67"}, {"str": "2024-02-29"}])]
    );
    assert_eq!(columns(&steps[8]), vec![], "a query without rows");
    assert_eq!(rows(&steps[8]), &Vec::<Json>::new());

    // What the server holds is what the guest sent (read as the binary protocol has it).
    use mysql_async::prelude::Queryable;
    let mut own = server.connect().await.unwrap();
    type Stored = (u64, i64, String, Vec<u8>, Option<i32>, String);
    let stored: Vec<Stored> = own
        .exec(
            "SELECT u64, i64, s, bin, n, CAST(dec_col AS CHAR) FROM every_type WHERE id = ?",
            (1,),
        )
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![(
            0,
            i64::MIN,
            UNICODE.to_string(),
            vec![0, 1, 255],
            Some(7),
            "-12345.67".to_string()
        )]
    );
    let high: Vec<(u64, f32, f64)> = own
        .exec("SELECT u64, f32, f64 FROM every_type WHERE id = ?", (2,))
        .await
        .unwrap();
    assert_eq!(high, vec![(u64::MAX, f32::MAX, f64::MAX)]);
    app.stop().await;
}

#[tokio::test]
async fn spin3_round_trips_every_parameter_type() {
    round_trip(SPIN3).await;
}

#[tokio::test]
async fn spin2_round_trips_every_parameter_type() {
    round_trip(SPIN2).await;
}

/// A statement the server refuses is `query-failed` with the server's message (and the
/// connection stays usable); an address the manifest does not allow is `connection-failed`
/// with Spin's wording and reaches nothing; wrong credentials are `connection-failed` and the
/// app goes on serving.
#[tokio::test]
async fn errors_are_the_interfaces_own_variants() {
    let Some(server) = MysqlServer::start().await else {
        return;
    };
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let elsewhere_port = elsewhere.local_addr().unwrap().port();
    for guest in [SPIN3, SPIN2] {
        let app = probe(guest, &server).await;
        let answer = run(
            &app,
            &server.address(),
            json!([
                {"query": "SELECT * FROM no_such_table"},
                {"execute": "INSERT INTO no_such_table VALUES (?)", "params": [{"int32": 1}]},
                {"execute": "THIS IS NOT SQL"},
                {"query": "SELECT CAST(? AS SIGNED) AS still_usable", "params": [{"int64": 5}]},
            ]),
        )
        .await;
        let outcomes = steps(&answer);
        for (step, expected) in [
            (0, "Table 'probe.no_such_table' doesn't exist"),
            (1, "Table 'probe.no_such_table' doesn't exist"),
            (2, "You have an error in your SQL syntax"),
        ] {
            let (variant, message) = error(&outcomes[step]["error"]);
            assert_eq!(variant, "query-failed", "{guest} step {step}: {message}");
            assert!(message.contains(expected), "{guest} step {step}: {message}");
        }
        assert_eq!(rows(&outcomes[3]), &vec![json!([{"int64": 5}])], "{guest}");

        // Not in allowed_outbound_hosts: another port, and the right port by another name.
        for address in [
            format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{elsewhere_port}/probe"),
            format!("mysql://{USER}:{PASSWORD}@localhost:{}/probe", server.port),
            format!("mysql://{USER}:{PASSWORD}@127.0.0.1/probe"),
        ] {
            let answer = run(&app, &address, json!([])).await;
            assert_eq!(
                answer["open"],
                json!({"connection-failed": format!("address {address} is not permitted")}),
                "{guest}"
            );
        }
        assert!(
            elsewhere.accept().is_err(),
            "{guest}: a denied address was connected to"
        );
        assert!(
            app.runner_logs()
                .iter()
                .any(|l| l.contains("mysql connection to mysql://127.0.0.1:")
                    && l.contains("denied")
                    && !l.contains(PASSWORD)),
            "{guest}: {:?}",
            app.runner_logs()
        );

        let answer = run(&app, &server.address_with(USER, "wrong"), json!([])).await;
        let (variant, message) = error(&answer["open"]);
        assert_eq!(variant, "connection-failed", "{guest}: {message}");
        assert!(message.contains("Access denied"), "{guest}: {message}");

        let answer = run(
            &app,
            &server.address(),
            json!([{"query": "SELECT 'fine' AS ok"}]),
        )
        .await;
        assert_eq!(
            rows(&steps(&answer)[0]),
            &vec![json!([{"str": "fine"}])],
            "{guest}"
        );
        app.stop().await;
    }
}

/// While the server is down, requests get an error (and the app keeps answering); once it is
/// back on the same port, the next request succeeds: the pool's dead connections are dropped.
#[tokio::test]
async fn a_server_killed_and_restarted_is_served_again() {
    let Some(mut server) = MysqlServer::start().await else {
        return;
    };
    let apps = [probe(SPIN3, &server).await, probe(SPIN2, &server).await];
    let ping = json!([{"query": "SELECT CAST(? AS SIGNED) AS n", "params": [{"int64": 1}]}]);
    for app in &apps {
        let answer = run(app, &server.address(), ping.clone()).await;
        assert_eq!(rows(&steps(&answer)[0]), &vec![json!([{"int64": 1}])]);
    }

    server.kill();
    for app in &apps {
        for _ in 0..3 {
            let answer = run(app, &server.address(), ping.clone()).await;
            let (variant, message) = error(&answer["open"]);
            assert_eq!(variant, "connection-failed", "{message}");
        }
    }

    server.restart().await;
    for app in &apps {
        let answer = run(app, &server.address(), ping.clone()).await;
        assert_eq!(
            rows(&steps(&answer)[0]),
            &vec![json!([{"int64": 1}])],
            "{answer}"
        );
    }
    for app in apps {
        app.stop().await;
    }
}

/// A thousand rows of about 200 bytes each arrive whole and in order: streamed to the Spin 3
/// guest, in the row-set to the Spin 2 one.
#[tokio::test]
async fn a_thousand_rows_arrive_whole() {
    let Some(server) = MysqlServer::start().await else {
        return;
    };
    use mysql_async::prelude::Queryable;
    let mut own = server.connect().await.unwrap();
    own.query_drop(
        "CREATE TABLE big (n INT PRIMARY KEY, label VARCHAR(255));
         INSERT INTO big SELECT seq, CONCAT('row-', seq, '-', REPEAT('x', 200))
         FROM seq_1_to_1000",
    )
    .await
    .unwrap();
    for guest in [SPIN3, SPIN2] {
        let app = probe(guest, &server).await;
        let answer = run(
            &app,
            &server.address(),
            json!([{"query": "SELECT n, label FROM big ORDER BY n"}]),
        )
        .await;
        let rows = rows(&steps(&answer)[0]);
        assert_eq!(rows.len(), 1000, "{guest}");
        for (i, row) in rows.iter().enumerate() {
            let n = i as i32 + 1;
            let label = format!("row-{n}-{}", "x".repeat(200));
            assert_eq!(row, &json!([{"int32": n}, {"str": label}]), "{guest}");
        }
        app.stop().await;
    }
}

/// TLS where the address asks for it: `require_ssl=true` (here with `verify_ca=false`, for
/// the test's self-signed certificate) gives an encrypted session, a plain address a plain
/// one; Spin's `ssl-mode=REQUIRED` checks the server's certificate, so a self-signed one is
/// refused with `connection-failed`.
#[tokio::test]
async fn tls_is_used_where_the_address_asks_for_it() {
    let Some(server) = MysqlServer::start_with_tls().await else {
        return;
    };
    let cipher = json!([{"query": "SHOW SESSION STATUS LIKE 'Ssl_cipher'"}]);
    for guest in [SPIN3, SPIN2] {
        let app = probe(guest, &server).await;
        let plain = run(&app, &server.address(), cipher.clone()).await;
        assert_eq!(
            rows(&steps(&plain)[0]),
            &vec![json!([{"str": "Ssl_cipher"}, {"str": ""}])],
            "{guest}"
        );

        let address = format!("{}?require_ssl=true&verify_ca=false", server.address());
        let encrypted = run(&app, &address, cipher.clone()).await;
        let row = &rows(&steps(&encrypted)[0])[0];
        let suite = row[1]["str"].as_str().unwrap_or_default();
        assert!(!suite.is_empty(), "{guest}: no TLS: {row}");

        let address = format!("{}?ssl-mode=REQUIRED", server.address());
        let refused = run(&app, &address, cipher.clone()).await;
        let (variant, message) = error(&refused["open"]);
        assert_eq!(variant, "connection-failed", "{guest}: {message}");
        assert!(
            message.to_lowercase().contains("certificate"),
            "{guest}: {message}"
        );
        app.stop().await;
    }
}
