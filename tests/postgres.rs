//! Outbound PostgreSQL against a real server (tests/support/postgres.rs), through probe
//! guests: tests/guests/pg-probe (spin-sdk 7, `spin:postgres@4.2.0`, its `async func`s and its
//! plain `func`s) and tests/guests/pg-probe-sdk5 (spin-sdk 5.2.0: `fermyon:spin/postgres@2.0.0`,
//! `spin:postgres@3.0.0`, `spin:postgres@4.0.0`). Each version's values go in as parameters and
//! come back as that version's variants; statement errors carry the server's message; the
//! allow-list is checked before anything connects; a refused login, a server that goes away
//! and comes back, pooling and TLS behave as a guest needs.

mod support;

use runner::testing::{TestApp, TestResponse, http};
use support::postgres::{DATABASE, PASSWORD, PgServer, ServerTls};
use support::{build_once, repo_root};

async fn probe(guest: &str, pg_port: u16) -> TestApp {
    let manifest = repo_root().join(format!("tests/guests/{guest}/spin.toml"));
    build_once(&manifest);
    let options = runner::AppOptions::new(&manifest).variable("pg_port", pg_port.to_string());
    TestApp::builder(options)
        .real_network()
        .start()
        .await
        .unwrap()
}

/// `method path` with the connection string `address`, table `table` and `body`.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    address: &str,
    table: &str,
    body: &str,
) -> TestResponse {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("x-pg", address)
        .header("x-table", table)
        .body(body.to_string())
        .unwrap();
    app.request(request).await.unwrap()
}

/// The body of a `200` answer.
fn ok(response: TestResponse) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

/// The body of a `409` answer (the guest's error).
fn refused(response: TestResponse) -> String {
    assert_eq!(response.status, 409, "{}", response.text());
    response.text()
}

/// Asserts `got` has exactly `expected`'s lines, in order, showing the first difference.
fn assert_lines(got: &str, expected: &[&str]) {
    let lines: Vec<&str> = got.lines().collect();
    for (i, (g, e)) in lines.iter().zip(expected).enumerate() {
        assert_eq!(g, e, "line {} differs; whole answer:\n{got}", i + 1);
    }
    assert_eq!(lines.len(), expected.len(), "whole answer:\n{got}");
}

const EVERY_BYTE: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
    202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
    404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\
    606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f\
    808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\
    a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\
    c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf\
    e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_4_2_type_round_trips_through_the_async_and_the_plain_calls() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let app = probe("pg-probe", server.port).await;
    let binary = format!("1.by: Binary({EVERY_BYTE})");
    let expected = [
        "inserted 1",
        "inserted 1",
        "columns: id:Int32, b:Boolean, i2:Int16, i2w:Int16, i4:Int32, i8:Int64, f4:Floating32, \
         f8:Floating64, t:Str, vc:Str, by:Binary, d:Date, tm:Time, dt:Datetime, dtz:Datetime, \
         tsz:Datetime, tsi:Int64, u:Uuid, j:Jsonb, n:Decimal, r4:RangeInt32, r8:RangeInt64, \
         rn:RangeDecimal, a4:ArrayInt32, a8:ArrayInt64, an:ArrayDecimal, at:ArrayStr, \
         iv:Interval, nul:Str, ip:Other(\"inet\")",
        "1.id: Int32(1)",
        "1.b: Boolean(true)",
        "1.i2: Int16(32767)",
        "1.i2w: Int16(-128)",
        "1.i4: Int32(2147483647)",
        "1.i8: Int64(9223372036854775807)",
        "1.f4: Floating32(3.4028235e38)",
        "1.f8: Floating64(2.2250738585072014e-308)",
        "1.t: Str(\"héllo ✓ 🚀 日本語\")",
        "1.vc: Str(\"quote ' \\\" \\\\ done\")",
        &binary,
        "1.d: Date((2024, 2, 29))",
        "1.tm: Time((23, 59, 59, 999999000))",
        "1.dt: Datetime((2024, 2, 29, 13, 14, 15, 123456000))",
        "1.dtz: Datetime((1999, 12, 31, 23, 59, 59, 0))",
        "1.tsz: Datetime((2023, 11, 14, 22, 13, 20, 0))",
        "1.tsi: Int64(1700000000)",
        "1.u: Uuid(\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\")",
        "1.j: Jsonb({\"a\":[1,2.5,{\"b\":null}],\"u\":\"✓\"})",
        "1.n: Decimal(\"-1234567890123456789.123456789\")",
        "1.r4: RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((10, RangeBoundKind::Exclusive))))",
        "1.r8: RangeInt64((Some((-9223372036854775808, RangeBoundKind::Inclusive)), None))",
        "1.rn: RangeDecimal((Some((\"1.5\", RangeBoundKind::Exclusive)), Some((\"2.25\", RangeBoundKind::Inclusive))))",
        "1.a4: ArrayInt32([Some(1), None, Some(-2147483648)])",
        "1.a8: ArrayInt64([Some(9223372036854775807), None])",
        "1.an: ArrayDecimal([Some(\"1.10\"), None, Some(\"-0.5\")])",
        "1.at: ArrayStr([Some(\"a\"), None, Some(\"ü,\\\"x\\\"\")])",
        "1.iv: Interval(Interval { micros: 3600000001, days: -2, months: 14 })",
        "1.nul: DbNull",
        "1.ip: Unsupported(022000047f000001)",
        "2.id: Int32(2)",
        "2.b: DbNull",
        "2.i2: Int16(-32768)",
        "2.i2w: Int16(127)",
        "2.i4: Int32(-2147483648)",
        "2.i8: Int64(-9223372036854775808)",
        "2.f4: Floating32(-3.4028235e38)",
        "2.f8: Floating64(1.7976931348623157e308)",
        "2.t: DbNull",
        "2.vc: DbNull",
        "2.by: DbNull",
        "2.d: DbNull",
        "2.tm: DbNull",
        "2.dt: DbNull",
        "2.dtz: DbNull",
        "2.tsz: DbNull",
        "2.tsi: DbNull",
        "2.u: DbNull",
        "2.j: DbNull",
        "2.n: DbNull",
        "2.r4: DbNull",
        "2.r8: DbNull",
        "2.rn: DbNull",
        "2.a4: DbNull",
        "2.a8: DbNull",
        "2.an: DbNull",
        "2.at: DbNull",
        "2.iv: DbNull",
        "2.nul: DbNull",
        "2.ip: Unsupported(022000047f000001)",
    ];
    let address = server.address();
    for (path, table) in [
        ("/roundtrip", "async_types"),
        ("/sync/roundtrip", "sync_types"),
    ] {
        let answer = ok(call(&app, "GET", path, &address, table, "").await);
        assert_lines(&answer, &expected);
    }

    // What the server stored is what the guest sent, as the server itself reads it.
    let client = server.client(DATABASE).await;
    let row = client
        .query_one(
            "SELECT t, n::text, j::text, dt::text, dtz AT TIME ZONE 'UTC', iv::text, r8::text, \
             encode(by, 'hex') FROM async_types WHERE id = 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "héllo ✓ 🚀 日本語");
    assert_eq!(row.get::<_, String>(1), "-1234567890123456789.123456789");
    assert_eq!(
        row.get::<_, String>(2),
        r#"{"a": [1, 2.5, {"b": null}], "u": "✓"}"#
    );
    assert_eq!(row.get::<_, String>(3), "2024-02-29 13:14:15.123456");
    assert_eq!(
        row.get::<_, chrono::NaiveDateTime>(4).to_string(),
        "1999-12-31 23:59:59"
    );
    assert_eq!(
        row.get::<_, String>(5),
        "1 year 2 mons -2 days +01:00:00.000001"
    );
    assert_eq!(row.get::<_, String>(6), "[-9223372036854775808,)");
    assert_eq!(row.get::<_, String>(7), EVERY_BYTE);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_sdk_5_interfaces_round_trip_their_own_types() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let app = probe("pg-probe-sdk5", server.port).await;
    let address = server.address();
    let binary = format!("1.by: Binary({EVERY_BYTE})");

    let v2 = ok(call(&app, "GET", "/v2/roundtrip", &address, "v2_types", "").await);
    assert_lines(
        &v2,
        &[
            "inserted 1",
            "inserted 1",
            "columns: id:Int32, b:Boolean, i2w:Int16, i2:Int16, i4:Int32, i8:Int64, \
             f4:Floating32, f8:Floating64, t:Str, by:Binary, nul:Str, d:Other",
            "1.id: Int32(1)",
            "1.b: Boolean(true)",
            "1.i2w: Int16(-128)",
            "1.i2: Int16(32767)",
            "1.i4: Int32(2147483647)",
            "1.i8: Int64(9223372036854775807)",
            "1.f4: Floating32(3.4028235e38)",
            "1.f8: Floating64(2.2250738585072014e-308)",
            "1.t: Str(\"héllo ✓ 🚀 日本語\")",
            &binary,
            "1.nul: DbNull",
            "1.d: Unsupported",
            "2.id: Int32(2)",
            "2.b: Boolean(false)",
            "2.i2w: Int16(127)",
            "2.i2: Int16(-32768)",
            "2.i4: Int32(-2147483648)",
            "2.i8: Int64(-9223372036854775808)",
            "2.f4: Floating32(-3.4028235e38)",
            "2.f8: Floating64(1.7976931348623157e308)",
            "2.t: DbNull",
            "2.by: DbNull",
            "2.nul: DbNull",
            "2.d: Unsupported",
            "uint32: Err(\"Error::ValueConversionFailed(\\\"Postgres does not support unsigned integers\\\")\")",
        ],
    );

    let v3 = ok(call(&app, "GET", "/v3/roundtrip", &address, "v3_types", "").await);
    assert_lines(
        &v3,
        &[
            "inserted 1",
            "inserted 1",
            "columns: id:Int32, b:Boolean, i2:Int16, i8:Int64, f4:Floating32, f8:Floating64, \
             t:Str, by:Binary, d:Date, tm:Time, dt:Datetime, tsz:Datetime, nul:Str, u:Other",
            "1.id: Int32(1)",
            "1.b: Boolean(true)",
            "1.i2: Int16(32767)",
            "1.i8: Int64(9223372036854775807)",
            "1.f4: Floating32(3.4028235e38)",
            "1.f8: Floating64(2.2250738585072014e-308)",
            "1.t: Str(\"héllo ✓ 🚀 日本語\")",
            &binary,
            "1.d: Date((2024, 2, 29))",
            "1.tm: Time((23, 59, 59, 999999000))",
            "1.dt: Datetime((2024, 2, 29, 13, 14, 15, 123456000))",
            "1.tsz: Datetime((2023, 11, 14, 22, 13, 20, 0))",
            "1.nul: DbNull",
            "1.u: Unsupported",
            "2.id: Int32(2)",
            "2.b: Boolean(false)",
            "2.i2: Int16(-32768)",
            "2.i8: Int64(-9223372036854775808)",
            "2.f4: DbNull",
            "2.f8: DbNull",
            "2.t: DbNull",
            "2.by: DbNull",
            "2.d: DbNull",
            "2.tm: DbNull",
            "2.dt: DbNull",
            "2.tsz: DbNull",
            "2.nul: DbNull",
            "2.u: Unsupported",
        ],
    );

    let v4 = ok(call(&app, "GET", "/v4/roundtrip", &address, "v4_types", "").await);
    assert_lines(
        &v4,
        &[
            "inserted 1",
            "inserted 1",
            "columns: id:Int32, i8:Int64, t:Str, u:Uuid, j:Jsonb, n:Decimal, r4:RangeInt32, \
             at:ArrayStr, iv:Interval, dtz:Datetime, nul:Str, ip:Other(\"inet\")",
            "1.id: Int32(1)",
            "1.i8: Int64(9223372036854775807)",
            "1.t: Str(\"héllo ✓ 🚀 日本語\")",
            "1.u: Uuid(\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\")",
            "1.j: Jsonb({\"k\":[true,null]})",
            "1.n: Decimal(\"79228162514264337593543950335\")",
            "1.r4: RangeInt32((Some((-4, RangeBoundKind::Inclusive)), None))",
            "1.at: ArrayStr([Some(\"x\"), None])",
            "1.iv: Interval(Interval { micros: -1, days: 0, months: 1 })",
            "1.dtz: Datetime((2024, 2, 29, 13, 14, 15, 0))",
            "1.nul: DbNull",
            "1.ip: Unsupported(022000047f000001)",
            "2.id: Int32(2)",
            "2.i8: Int64(-9223372036854775808)",
            "2.t: DbNull",
            "2.u: DbNull",
            "2.j: DbNull",
            "2.n: DbNull",
            "2.r4: DbNull",
            "2.at: DbNull",
            "2.iv: DbNull",
            "2.dtz: DbNull",
            "2.nul: DbNull",
            "2.ip: Unsupported(022000047f000001)",
        ],
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_counts_rows_and_sql_errors_carry_the_servers_message() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let sdk7 = probe("pg-probe", server.port).await;
    let sdk5 = probe("pg-probe-sdk5", server.port).await;
    let address = server.address();
    let apps = [
        (&sdk7, "/"),
        (&sdk7, "/sync/"),
        (&sdk5, "/v2/"),
        (&sdk5, "/v3/"),
        (&sdk5, "/v4/"),
    ];
    for (n, (app, prefix)) in apps.into_iter().enumerate() {
        let run = |op: &str, sql: String| {
            let path = format!("{prefix}{op}");
            let address = address.clone();
            async move { call(app, "POST", &path, &address, "", &sql).await }
        };
        let table = format!("counted_{n}");
        assert_eq!(
            ok(run("execute", format!("CREATE TABLE {table} (x int)")).await),
            "0"
        );
        assert_eq!(
            ok(run(
                "execute",
                format!("INSERT INTO {table} VALUES (1), (2), (3)")
            )
            .await),
            "3"
        );
        assert_eq!(
            ok(run(
                "execute",
                format!("UPDATE {table} SET x = x * 10 WHERE x > 1")
            )
            .await),
            "2"
        );
        assert_eq!(
            ok(run("execute", format!("DELETE FROM {table}")).await),
            "3"
        );
        let listed = ok(run("query", format!("SELECT x FROM {table}")).await);
        assert!(
            listed.starts_with("columns: x:Int32"),
            "an empty result still has its columns: {listed}"
        );

        let error = refused(run("query", "SELECT * FROM no_such_table".into()).await);
        assert!(
            error.contains(r#"relation \"no_such_table\" does not exist"#),
            "{prefix}: {error}"
        );
        if prefix.starts_with("/v2") || prefix.starts_with("/v3") {
            // Older versions: the server's error as text.
            assert!(
                error.starts_with(
                    r#"Error::QueryFailed("db error: ERROR: relation \"no_such_table\" does not exist"#
                ),
                "{prefix}: {error}"
            );
        } else {
            // 4.x: the server's error in its parts.
            assert!(
                error.contains("QueryFailed(QueryError::DbError(DbError {"),
                "{prefix}: {error}"
            );
            assert!(error.contains(r#"severity: "ERROR""#), "{error}");
            assert!(error.contains(r#"code: "42P01""#), "{error}");
            assert!(
                error.contains(r#"message: "relation \"no_such_table\" does not exist""#),
                "{error}"
            );
            assert!(error.contains(r#"("position", "15")"#), "{error}");
        }
        let error = refused(run("execute", format!("INSERT INTO {table} VALUES ('x')")).await);
        assert!(
            error.contains("invalid input syntax for type integer"),
            "{prefix}: {error}"
        );
    }
    sdk7.stop().await;
    sdk5.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_results_arrive_whole_and_an_error_midway_reaches_the_guest() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let app = probe("pg-probe", server.port).await;
    let address = server.address();
    // `/query` streams the rows (`query-async`); `/sync/query` gets them in one answer.
    for prefix in ["/", "/sync/"] {
        let path = format!("{prefix}query");
        let sql = "SELECT g, repeat('x', 50) AS pad FROM generate_series(1, 20000) g";
        let listed = ok(call(&app, "POST", &path, &address, "", sql).await);
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 20_001, "{prefix}");
        assert_eq!(lines[0], "columns: g:Int32, pad:Str");
        assert_eq!(lines[1], format!("Int32(1) | Str(\"{}\")", "x".repeat(50)));
        assert_eq!(
            lines[20_000],
            format!("Int32(20000) | Str(\"{}\")", "x".repeat(50))
        );

        // The server fails at row 15,000, after sending the rows before it.
        let sql = "SELECT 1 / (g - 15000) FROM generate_series(1, 20000) g";
        let error = refused(call(&app, "POST", &path, &address, "", sql).await);
        assert!(error.contains("QueryFailed("), "{prefix}: {error}");
        assert!(error.contains("division by zero"), "{prefix}: {error}");
    }
    // The connection is still good for the next guest.
    assert_eq!(
        ok(call(&app, "POST", "/query", &address, "", "SELECT 3 AS three").await),
        "columns: three:Int32\nInt32(3)\n"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_outside_allowed_outbound_hosts_are_refused_before_anything_connects() {
    // A listener the guest is not allowed to reach; it must see no connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let denied_port = listener.local_addr().unwrap().port();
    let allowed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sdk7 = probe("pg-probe", allowed_port).await;
    let sdk5 = probe("pg-probe-sdk5", allowed_port).await;
    let cases = [
        (
            format!("host=127.0.0.1 port={denied_port} user=postgres password=x dbname=d"),
            format!("address postgres://127.0.0.1:{denied_port} is not permitted"),
        ),
        (
            format!("postgres://postgres:x@127.0.0.1:{denied_port}/d"),
            format!("address postgres://127.0.0.1:{denied_port} is not permitted"),
        ),
        (
            // The manifest names 127.0.0.1, not localhost.
            format!("postgres://postgres:x@localhost:{allowed_port}/d"),
            format!("address postgres://localhost:{allowed_port} is not permitted"),
        ),
        (
            // No port: PostgreSQL's 5432, which is not the allowed one.
            "host=127.0.0.1 user=postgres".to_string(),
            "address postgres://127.0.0.1:5432 is not permitted".to_string(),
        ),
        (
            // hostaddr is where the driver would connect: it is checked too.
            format!("host=127.0.0.1 hostaddr=127.0.0.2 port={allowed_port} user=postgres"),
            format!("address postgres://127.0.0.2:{allowed_port} is not permitted"),
        ),
    ];
    for (address, message) in &cases {
        for (app, path) in [
            (&sdk7, "/open"),
            (&sdk7, "/sync/open"),
            (&sdk5, "/v2/open"),
            (&sdk5, "/v3/open"),
            (&sdk5, "/v4/open"),
        ] {
            let error = refused(call(app, "GET", path, address, "", "").await);
            assert!(
                error.contains(&format!("ConnectionFailed(\"{message}\")")),
                "{path} {address}: {error}"
            );
        }
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing connected to the denied address"
    );
    assert!(
        sdk7.runner_logs().iter().any(|line| line.contains(&format!(
            "postgres connection to 127.0.0.1:{denied_port} denied: not in allowed_outbound_hosts"
        ))),
        "{:?}",
        sdk7.runner_logs()
    );
    sdk7.stop().await;
    sdk5.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_the_guests_error_and_the_app_keeps_serving() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let app = probe("pg-probe", server.port).await;
    let wrong = server.address_with(DATABASE, "not-the-password", "disable");
    for path in ["/open", "/sync/open"] {
        let error = refused(call(&app, "GET", path, &wrong, "", "").await);
        assert!(error.contains("ConnectionFailed("), "{error}");
        assert!(
            error.contains(r#"password authentication failed for user \"postgres\""#),
            "{error}"
        );
    }
    let missing = server.address_with("no_such_database", PASSWORD, "disable");
    let error = refused(call(&app, "GET", "/open", &missing, "", "").await);
    assert!(
        error.contains(r#"database \"no_such_database\" does not exist"#),
        "{error}"
    );
    let answer = ok(call(
        &app,
        "POST",
        "/query",
        &server.address(),
        "",
        "SELECT 1 AS one",
    )
    .await);
    assert_eq!(answer, "columns: one:Int32\nInt32(1)\n");
    app.stop().await;
}

/// The backend process id of the connection the guest got.
async fn backend_pid(app: &TestApp, address: &str) -> String {
    ok(call(
        app,
        "POST",
        "/query",
        address,
        "",
        "SELECT pg_backend_pid()",
    )
    .await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_fails_requests_until_it_is_back() {
    let Some(mut server) = PgServer::start().await else {
        return;
    };
    let app = probe("pg-probe", server.port).await;
    let address = server.address();
    let before = backend_pid(&app, &address).await;

    server.kill();
    for _ in 0..2 {
        let error = refused(call(&app, "POST", "/query", &address, "", "SELECT 1").await);
        assert!(error.contains("ConnectionFailed("), "{error}");
        assert!(error.contains("error connecting to server"), "{error}");
    }
    // The app itself still answers.
    let open = refused(call(&app, "GET", "/open", &address, "", "").await);
    assert!(open.contains("ConnectionFailed("), "{open}");

    server.restart().await;
    let after = backend_pid(&app, &address).await;
    assert_ne!(before, after, "a new connection, not the broken one");
    assert_eq!(
        ok(call(&app, "POST", "/sync/query", &address, "", "SELECT 2 AS two").await),
        "columns: two:Int32\nInt32(2)\n"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_pooled_reused_and_reset_between_guests() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let sdk7 = probe("pg-probe", server.port).await;
    let sdk5 = probe("pg-probe-sdk5", server.port).await;
    let address = server.address();
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..12 {
        pids.insert(backend_pid(&sdk7, &address).await);
    }
    assert!(
        pids.len() <= 2,
        "12 requests one after another used {} connections: {pids:?}",
        pids.len()
    );
    // Another app has pools of its own; every version of the interface shares them.
    for version in ["v2", "v3", "v4"] {
        for _ in 0..4 {
            let path = format!("/{version}/query");
            ok(call(&sdk5, "POST", &path, &address, "", "SELECT 1").await);
        }
    }
    let client = server.client(DATABASE).await;
    let backends: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&DATABASE],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        (1..=4).contains(&backends),
        "24 requests from two apps left {backends} connections"
    );

    // What one guest sets on its session is gone when the next gets the connection.
    ok(call(
        &sdk7,
        "POST",
        "/execute",
        &address,
        "",
        "SET application_name = 'leaky'",
    )
    .await);
    let seen = ok(call(
        &sdk7,
        "POST",
        "/query",
        &address,
        "",
        "SELECT current_setting('application_name')",
    )
    .await);
    assert_eq!(seen, "columns: current_setting:Str\nStr(\"\")\n");
    sdk7.stop().await;
    sdk5.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_when_the_connection_string_asks_trusting_the_guests_ca_root() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let ca = certified.cert.pem();
    let tls = ServerTls {
        cert_pem: ca.clone(),
        key_pem: certified.signing_key.serialize_pem(),
    };
    let Some(server) = PgServer::start_with(Some(tls)).await else {
        return;
    };
    let app = probe("pg-probe", server.port).await;
    let require = server.address_with(DATABASE, PASSWORD, "require");
    for path in ["/tls", "/sync/tls"] {
        assert_eq!(
            ok(call(&app, "POST", path, &require, "", &ca).await),
            "ssl: Boolean(true)"
        );
    }
    // Without the CA root the server's certificate is not trusted.
    let error = refused(call(&app, "POST", "/tls", &require, "", "").await);
    assert!(error.contains("ConnectionFailed("), "{error}");
    assert!(error.contains("certificate"), "{error}");
    // `prefer` (the default) uses TLS where the server offers it; `disable` never does.
    let prefer = require.replace("sslmode=require", "sslmode=prefer");
    assert_eq!(
        ok(call(&app, "POST", "/tls", &prefer, "", &ca).await),
        "ssl: Boolean(true)"
    );
    let disable = require.replace("sslmode=require", "sslmode=disable");
    assert_eq!(
        ok(call(&app, "POST", "/tls", &disable, "", "").await),
        "ssl: Boolean(false)"
    );
    // A CA root that is not a certificate is the guest's error.
    let error = refused(call(&app, "POST", "/tls", &require, "", "not a certificate").await);
    assert!(
        error.contains("Other(\"invalid root certificate"),
        "{error}"
    );
    app.stop().await;
}
