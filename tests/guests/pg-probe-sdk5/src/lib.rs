//! A test guest for the PostgreSQL interfaces spin-sdk 5.2.0 imports: `/v2/...` through
//! `spin_sdk::pg` (`fermyon:spin/postgres@2.0.0`), `/v3/...` through `spin_sdk::pg3`
//! (`spin:postgres@3.0.0`), `/v4/...` through `spin_sdk::pg4` (`spin:postgres@4.0.0`). The
//! connection string comes in the `x-pg` header; answers are plain lines, `409` with the
//! error's `Debug` when a call fails.
//!
//! - `/V/open`: opens a connection.
//! - `/V/execute`, `/V/query`: runs the body's SQL (no parameters); `execute` answers the rows
//!   affected, `query` a `columns:` line and one line per row.
//! - `/V/roundtrip` (`x-table` names a table to create): stores a row with a parameter of each
//!   type the version has (limits, unicode, every byte) and a row of minimums and NULLs, plus
//!   a column of a type the version has no variant for; answers `columns: ...` and one
//!   `row.column: value` line per value.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    let header = |name: &str| {
        request
            .header(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (address, table) = (header("x-pg"), header("x-table"));
    let sql = String::from_utf8_lossy(request.body()).into_owned();
    let parts: Vec<&str> = request.path().trim_start_matches('/').split('/').collect();
    let result = match parts.as_slice() {
        ["v2", op] => v2::run(op, &address, &sql, &table),
        ["v3", op] => v3::run(op, &address, &sql, &table),
        ["v4", op] => v4::run(op, &address, &sql, &table),
        _ => Err(format!("no such probe {}", request.path())),
    };
    Ok(match result {
        Ok(body) => Response::new(200, body),
        Err(e) => Response::new(409, e),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What every version's module has: open, execute, query, and listing the results.
macro_rules! probe {
    ($sdk:path) => {
        use $sdk::{Connection, DbValue, ParameterValue, RowSet};

        pub fn run(op: &str, address: &str, sql: &str, table: &str) -> Result<String, String> {
            let db = Connection::open(address).map_err(|e| format!("{e:?}"))?;
            match op {
                "open" => Ok("opened".into()),
                "execute" => execute(&db, sql, &[]).map(|n| n.to_string()),
                "query" => query(&db, sql, &[]).map(|set| listing(&set)),
                "roundtrip" => roundtrip(&db, table),
                _ => Err(format!("no such probe {op}")),
            }
        }

        fn execute(db: &Connection, sql: &str, params: &[ParameterValue]) -> Result<u64, String> {
            db.execute(sql, params).map_err(|e| format!("{e:?}"))
        }

        fn query(db: &Connection, sql: &str, params: &[ParameterValue]) -> Result<RowSet, String> {
            db.query(sql, params).map_err(|e| format!("{e:?}"))
        }

        fn columns(set: &RowSet) -> String {
            let columns: Vec<String> = set
                .columns
                .iter()
                .map(|c| format!("{}:{:?}", c.name, c.data_type).replacen("DbDataType::", "", 1))
                .collect();
            format!("columns: {}\n", columns.join(", "))
        }

        fn listing(set: &RowSet) -> String {
            let mut out = columns(set);
            for row in &set.rows {
                out.push_str(&row.iter().map(show).collect::<Vec<_>>().join(" | "));
                out.push('\n');
            }
            out
        }

        /// Inserts `rows` into a new `table` of `columns` (with `extra` appended to each
        /// row's values in SQL), then lists what comes back.
        fn store_and_read(
            db: &Connection,
            table: &str,
            columns_sql: &str,
            extra: &str,
            rows: Vec<Vec<ParameterValue>>,
        ) -> Result<String, String> {
            execute(db, &format!("CREATE TABLE {table} ({columns_sql})"), &[])?;
            let mut out = String::new();
            for row in rows {
                let placeholders: Vec<String> = (1..=row.len()).map(|i| format!("${i}")).collect();
                let insert = format!(
                    "INSERT INTO {table} VALUES ({}, {extra})",
                    placeholders.join(", ")
                );
                out.push_str(&format!("inserted {}\n", execute(db, &insert, &row)?));
            }
            let set = query(db, &format!("SELECT * FROM {table} ORDER BY id"), &[])?;
            out.push_str(&columns(&set));
            for (n, row) in set.rows.iter().enumerate() {
                for (column, value) in set.columns.iter().zip(row) {
                    out.push_str(&format!("{}.{}: {}\n", n + 1, column.name, show(value)));
                }
            }
            Ok(out)
        }
    };
}

mod v2 {
    probe!(spin_sdk::pg);

    fn show(value: &DbValue) -> String {
        match value {
            DbValue::Binary(b) => format!("Binary({})", super::hex(b)),
            other => format!("{other:?}").replacen("DbValue::", "", 1),
        }
    }

    fn roundtrip(db: &Connection, table: &str) -> Result<String, String> {
        use ParameterValue as P;
        let first = vec![
            P::Int32(1),
            P::Boolean(true),
            P::Int8(i8::MIN),
            P::Int16(i16::MAX),
            P::Int32(i32::MAX),
            P::Int64(i64::MAX),
            P::Floating32(f32::MAX),
            P::Floating64(f64::MIN_POSITIVE),
            P::Str("héllo ✓ 🚀 日本語".into()),
            P::Binary((0..=255).collect()),
            P::DbNull,
        ];
        let second = vec![
            P::Int32(2),
            P::Boolean(false),
            P::Int8(i8::MAX),
            P::Int16(i16::MIN),
            P::Int32(i32::MIN),
            P::Int64(i64::MIN),
            P::Floating32(f32::MIN),
            P::Floating64(f64::MAX),
            P::DbNull,
            P::DbNull,
            P::DbNull,
        ];
        let mut out = store_and_read(
            db,
            table,
            "id int, b bool, i2w smallint, i2 smallint, i4 int, i8 bigint, f4 real, \
             f8 double precision, t text, by bytea, nul text, d date",
            "'2024-02-29'",
            vec![first, second],
        )?;
        let unsigned = execute(db, "SELECT $1", &[P::Uint32(7)]);
        out.push_str(&format!("uint32: {unsigned:?}\n"));
        Ok(out)
    }
}

mod v3 {
    probe!(spin_sdk::pg3);

    fn show(value: &DbValue) -> String {
        match value {
            DbValue::Binary(b) => format!("Binary({})", super::hex(b)),
            other => format!("{other:?}").replacen("DbValue::", "", 1),
        }
    }

    fn roundtrip(db: &Connection, table: &str) -> Result<String, String> {
        use ParameterValue as P;
        let first = vec![
            P::Int32(1),
            P::Boolean(true),
            P::Int16(i16::MAX),
            P::Int64(i64::MAX),
            P::Floating32(f32::MAX),
            P::Floating64(f64::MIN_POSITIVE),
            P::Str("héllo ✓ 🚀 日本語".into()),
            P::Binary((0..=255).collect()),
            P::Date((2024, 2, 29)),
            P::Time((23, 59, 59, 999_999_000)),
            P::Datetime((2024, 2, 29, 13, 14, 15, 123_456_000)),
            P::Timestamp(1_700_000_000),
            P::DbNull,
        ];
        let mut second = vec![
            P::Int32(2),
            P::Boolean(false),
            P::Int16(i16::MIN),
            P::Int64(i64::MIN),
        ];
        second.resize_with(first.len(), || P::DbNull);
        store_and_read(
            db,
            table,
            "id int, b bool, i2 smallint, i8 bigint, f4 real, f8 double precision, t text, \
             by bytea, d date, tm time, dt timestamp, tsz timestamptz, nul text, u uuid",
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
            vec![first, second],
        )
    }
}

mod v4 {
    probe!(spin_sdk::pg4);
    use spin_sdk::pg4::{Interval, RangeBoundKind};

    fn show(value: &DbValue) -> String {
        match value {
            DbValue::Binary(b) => format!("Binary({})", super::hex(b)),
            DbValue::Unsupported(b) => format!("Unsupported({})", super::hex(b)),
            DbValue::Jsonb(b) => format!("Jsonb({})", String::from_utf8_lossy(b)),
            other => format!("{other:?}").replacen("DbValue::", "", 1),
        }
    }

    fn roundtrip(db: &Connection, table: &str) -> Result<String, String> {
        use ParameterValue as P;
        let first = vec![
            P::Int32(1),
            P::Int64(i64::MAX),
            P::Str("héllo ✓ 🚀 日本語".into()),
            P::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            P::Jsonb(br#"{"k": [true, null]}"#.to_vec()),
            P::Decimal("79228162514264337593543950335".into()),
            P::RangeInt32((Some((-5, RangeBoundKind::Exclusive)), None)),
            P::ArrayStr(vec![Some("x".into()), None]),
            P::Interval(Interval {
                micros: -1,
                days: 0,
                months: 1,
            }),
            P::Datetime((2024, 2, 29, 13, 14, 15, 0)),
            P::DbNull,
        ];
        let mut second = vec![P::Int32(2), P::Int64(i64::MIN)];
        second.resize_with(first.len(), || P::DbNull);
        store_and_read(
            db,
            table,
            "id int, i8 bigint, t text, u uuid, j jsonb, n numeric, r4 int4range, at text[], \
             iv interval, dtz timestamptz, nul text, ip inet",
            "'127.0.0.1'",
            vec![first, second],
        )
    }
}
