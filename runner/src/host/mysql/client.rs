//! The calls on a pooled connection, the same in every interface version: a statement run for
//! its effect, a query's rows read in full (up to `MAX_RESULT_BYTES`), and which Spin column
//! type each MySQL column is, as Spin decides it: integers by size and signedness, `FLOAT` and
//! `DOUBLE`, character and binary strings (binary when the column has MySQL's binary flag);
//! anything else (`DECIMAL`, dates and times, `YEAR`, `BIT`, ...) is `other`.

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Params, Row, Value};
use tokio::sync::Mutex;

/// Results larger than this are refused (guests would need that memory twice).
pub const MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;

/// The Spin column type of a MySQL column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Floating32,
    Floating64,
    Str,
    Binary,
    Other,
}

pub fn kind(column: &Column) -> Kind {
    let flags = column.flags();
    let signed = !flags.contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = flags.contains(ColumnFlags::BINARY_FLAG);
    let sized = |signed_kind, unsigned_kind| if signed { signed_kind } else { unsigned_kind };
    match column.column_type() {
        ColumnType::MYSQL_TYPE_TINY => sized(Kind::Int8, Kind::Uint8),
        ColumnType::MYSQL_TYPE_SHORT => sized(Kind::Int16, Kind::Uint16),
        ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG => {
            sized(Kind::Int32, Kind::Uint32)
        }
        ColumnType::MYSQL_TYPE_LONGLONG => sized(Kind::Int64, Kind::Uint64),
        ColumnType::MYSQL_TYPE_FLOAT => Kind::Floating32,
        ColumnType::MYSQL_TYPE_DOUBLE => Kind::Floating64,
        ColumnType::MYSQL_TYPE_STRING
        | ColumnType::MYSQL_TYPE_VAR_STRING
        | ColumnType::MYSQL_TYPE_BLOB => match binary {
            true => Kind::Binary,
            false => Kind::Str,
        },
        _ => Kind::Other,
    }
}

/// What a guest reads of a failure: the server's own error (`ERROR 1146 (42S02): Table ...
/// doesn't exist`), or the I/O one, without the wrapper's repeated prefix.
pub fn describe(error: mysql_async::Error) -> String {
    match error {
        mysql_async::Error::Server(e) => e.to_string(),
        mysql_async::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// Why a query brought no rows back.
pub enum Failure {
    /// The server refused the statement (or the connection failed sending it).
    Query(String),
    /// Reading its rows failed, or they are more than `MAX_RESULT_BYTES`.
    Read(String),
}

/// A query's columns and the rows of its first result set.
pub struct Fetched {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// Runs `statement` (a prepared statement, `?` placeholders) for its effect.
pub async fn execute(
    connection: &Mutex<Conn>,
    statement: String,
    parameters: Vec<Value>,
) -> Result<(), String> {
    let mut connection = connection.lock().await;
    connection
        .exec_drop(statement, Params::from(parameters))
        .await
        .map_err(describe)
}

/// Runs `statement` and reads its rows.
pub async fn fetch(
    connection: &Mutex<Conn>,
    statement: String,
    parameters: Vec<Value>,
) -> Result<Fetched, Failure> {
    let mut connection = connection.lock().await;
    let mut result = connection
        .exec_iter(statement, Params::from(parameters))
        .await
        .map_err(|e| Failure::Query(describe(e)))?;
    let columns = result.columns_ref().to_vec();
    let read = |e| Failure::Read(describe(e));
    let mut rows = Vec::new();
    let mut size = 0usize;
    while let Some(row) = result.next().await.map_err(read)? {
        size += (0..row.len())
            .map(|index| match row.as_ref(index) {
                Some(Value::Bytes(bytes)) => bytes.len(),
                _ => 8,
            })
            .sum::<usize>();
        if size > MAX_RESULT_BYTES {
            return Err(Failure::Read(format!(
                "the query's result is over {MAX_RESULT_BYTES} bytes"
            )));
        }
        rows.push(row);
    }
    // Result sets after the first (a procedure's) are read and left.
    result.drop_result().await.map_err(read)?;
    Ok(Fetched { columns, rows })
}
