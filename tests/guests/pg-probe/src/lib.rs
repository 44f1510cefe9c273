//! A test guest for `spin:postgres@4.2.0` through spin-sdk 7 (`spin_sdk::pg`, whose calls are
//! the interface's `async func`s; `/sync/...` paths make the same calls through the plain
//! `func`s). The connection string comes in the `x-pg` header; answers are plain lines, `409`
//! with the error's `Debug` when a call fails.
//!
//! - `POST /execute`, `POST /query`: runs the body's SQL (no parameters); `execute` answers the
//!   number of rows affected, `query` a `columns:` line and one line per row.
//! - `GET /roundtrip` (`x-table` names a table to create): stores a row with a parameter of
//!   every type (limits, unicode, every byte) and a row of minimums and NULLs, reads both back
//!   and answers `columns: ...` and one `row.column: value` line per value.
//! - `POST /tls`: opens through a connection builder, with the body as CA root (none when
//!   empty); answers whether the server sees the session encrypted.

use http_body_util::BodyExt;
use spin_sdk::http::{IntoResponse, Request, Response, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::wit::postgres as wit;
use spin_sdk::pg::{Column, DbValue, Interval, ParameterValue, RangeBoundKind};

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let path = request.uri().path().to_string();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (address, table) = (header("x-pg"), header("x-table"));
    let body = match request.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("body: {e:?}")),
    };
    let (sync, route) = match path.strip_prefix("/sync") {
        Some(rest) => (true, rest.to_string()),
        None => (false, path),
    };
    if route == "/tls" {
        return answer(tls(&address, &body, sync).await);
    }
    let db = match Db::open(&address, sync).await {
        Ok(db) => db,
        Err(e) => return text(StatusCode::CONFLICT, e),
    };
    let result = match route.as_str() {
        "/open" => Ok("opened".to_string()),
        "/execute" => db.execute(&body, vec![]).await.map(|n| n.to_string()),
        "/query" => db
            .query(&body, vec![])
            .await
            .map(|(columns, rows)| listing(&columns, &rows)),
        "/roundtrip" => roundtrip(&db, &table).await,
        _ => Err(format!("no such probe {route}")),
    };
    answer(result)
}

fn answer(result: Result<String, String>) -> Response<String> {
    match result {
        Ok(body) => text(StatusCode::OK, body),
        Err(e) => text(StatusCode::CONFLICT, e),
    }
}

fn text(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// A connection, used through the `async func`s or the plain `func`s.
enum Db {
    Async(spin_sdk::pg::Connection),
    Sync(wit::Connection),
}

impl Db {
    async fn open(address: &str, sync: bool) -> Result<Self, String> {
        if sync {
            wit::Connection::open(address)
                .map(Db::Sync)
                .map_err(|e| format!("{e:?}"))
        } else {
            spin_sdk::pg::Connection::open(address)
                .await
                .map(Db::Async)
                .map_err(|e| format!("{e:?}"))
        }
    }

    async fn execute(&self, sql: &str, params: Vec<ParameterValue>) -> Result<u64, String> {
        match self {
            Db::Async(c) => c.execute(sql, params).await.map_err(|e| format!("{e:?}")),
            Db::Sync(c) => c.execute(sql, &params).map_err(|e| format!("{e:?}")),
        }
    }

    async fn query(
        &self,
        sql: &str,
        params: Vec<ParameterValue>,
    ) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), String> {
        match self {
            Db::Async(c) => {
                let mut result = c.query(sql, params).await.map_err(|e| format!("{e:?}"))?;
                let columns = result.columns().to_vec();
                let mut rows = Vec::new();
                while let Some(row) = result.rows().next().await {
                    rows.push(row);
                }
                result.result().await.map_err(|e| format!("{e:?}"))?;
                Ok((columns, rows))
            }
            Db::Sync(c) => c
                .query(sql, &params)
                .map(|set| (set.columns, set.rows))
                .map_err(|e| format!("{e:?}")),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value as a test reads it: `Debug`, but bytes in hex and JSON as its text.
fn show(value: &DbValue) -> String {
    match value {
        DbValue::Binary(b) => format!("Binary({})", hex(b)),
        DbValue::Unsupported(b) => format!("Unsupported({})", hex(b)),
        DbValue::Jsonb(b) => format!("Jsonb({})", String::from_utf8_lossy(b)),
        other => format!("{other:?}").replacen("DbValue::", "", 1),
    }
}

fn listing(columns: &[Column], rows: &[Vec<DbValue>]) -> String {
    let mut out = format!(
        "columns: {}\n",
        columns
            .iter()
            .map(|c| format!("{}:{:?}", c.name, c.data_type).replacen("DbDataType::", "", 1))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for row in rows {
        out.push_str(&row.iter().map(show).collect::<Vec<_>>().join(" | "));
        out.push('\n');
    }
    out
}

const COLUMNS: &str = "id int, b bool, i2 smallint, i2w smallint, i4 int, i8 bigint, f4 real, \
    f8 double precision, t text, vc varchar(40), by bytea, d date, tm time, dt timestamp, \
    dtz timestamptz, tsz timestamptz, tsi bigint, u uuid, j jsonb, n numeric, r4 int4range, \
    r8 int8range, rn numrange, a4 int[], a8 bigint[], an numeric[], at text[], iv interval, \
    nul text, ip inet";

async fn roundtrip(db: &Db, table: &str) -> Result<String, String> {
    use ParameterValue as P;
    use RangeBoundKind::{Exclusive, Inclusive};
    db.execute(&format!("CREATE TABLE {table} ({COLUMNS})"), vec![])
        .await?;
    let insert = format!(
        "INSERT INTO {table} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, \
         '127.0.0.1')"
    );
    let first = vec![
        P::Int32(1),
        P::Boolean(true),
        P::Int16(i16::MAX),
        P::Int8(i8::MIN),
        P::Int32(i32::MAX),
        P::Int64(i64::MAX),
        P::Floating32(f32::MAX),
        P::Floating64(f64::MIN_POSITIVE),
        P::Str("héllo ✓ 🚀 日本語".into()),
        P::Str("quote ' \" \\ done".into()),
        P::Binary((0..=255).collect()),
        P::Date((2024, 2, 29)),
        P::Time((23, 59, 59, 999_999_000)),
        P::Datetime((2024, 2, 29, 13, 14, 15, 123_456_000)),
        P::Datetime((1999, 12, 31, 23, 59, 59, 0)),
        P::Timestamp(1_700_000_000),
        P::Timestamp(1_700_000_000),
        P::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        P::Jsonb(r#"{"a": [1, 2.5, {"b": null}], "u": "✓"}"#.as_bytes().to_vec()),
        P::Decimal("-1234567890123456789.123456789".into()),
        P::RangeInt32((Some((1, Inclusive)), Some((10, Exclusive)))),
        P::RangeInt64((Some((i64::MIN, Inclusive)), None)),
        P::RangeDecimal((
            Some(("1.5".into(), Exclusive)),
            Some(("2.25".into(), Inclusive)),
        )),
        P::ArrayInt32(vec![Some(1), None, Some(i32::MIN)]),
        P::ArrayInt64(vec![Some(i64::MAX), None]),
        P::ArrayDecimal(vec![Some("1.10".into()), None, Some("-0.5".into())]),
        P::ArrayStr(vec![Some("a".into()), None, Some("ü,\"x\"".into())]),
        P::Interval(Interval {
            micros: 3_600_000_001,
            days: -2,
            months: 14,
        }),
        P::DbNull,
    ];
    let mut second = vec![
        P::Int32(2),
        P::DbNull,
        P::Int16(i16::MIN),
        P::Int8(i8::MAX),
        P::Int32(i32::MIN),
        P::Int64(i64::MIN),
        P::Floating32(f32::MIN),
        P::Floating64(f64::MAX),
    ];
    second.resize_with(first.len(), || P::DbNull);
    let mut out = String::new();
    for row in [first, second] {
        out.push_str(&format!("inserted {}\n", db.execute(&insert, row).await?));
    }
    let (columns, rows) = db
        .query(&format!("SELECT * FROM {table} ORDER BY id"), vec![])
        .await?;
    out.push_str(&format!(
        "columns: {}\n",
        columns
            .iter()
            .map(|c| format!("{}:{:?}", c.name, c.data_type).replacen("DbDataType::", "", 1))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (n, row) in rows.iter().enumerate() {
        for (column, value) in columns.iter().zip(row) {
            out.push_str(&format!("{}.{}: {}\n", n + 1, column.name, show(value)));
        }
    }
    Ok(out)
}

/// Opens through a connection builder (with `ca` as CA root unless empty) and asks the server
/// whether this session is encrypted.
async fn tls(address: &str, ca: &str, sync: bool) -> Result<String, String> {
    let builder = wit::ConnectionBuilder::new(address);
    if !ca.is_empty() {
        builder.set_ca_root(ca).map_err(|e| format!("{e:?}"))?;
    }
    let connection = if sync {
        builder.build()
    } else {
        builder.build_async().await
    }
    .map_err(|e| format!("{e:?}"))?;
    let db = Db::Sync(connection);
    let (_, rows) = db
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            vec![],
        )
        .await?;
    Ok(format!(
        "ssl: {}",
        rows.first().map(|r| show(&r[0])).unwrap_or_default()
    ))
}
