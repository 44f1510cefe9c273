//! SQLite for guests, over the databases in `sql`: what a component may open (only the labels
//! its manifest grants in `sqlite_databases`; anything else is `access-denied`, as in Spin),
//! and the connection guests hold. One module per interface sits beside this one: `spin2`
//! (`fermyon:spin/sqlite@2.0.0`, Spin 2 SDKs) and `spin3` (`spin:sqlite/sqlite@3.1.0`, which
//! also serves 3.0.0 imports: Spin 3 and 4 SDKs).

mod spin2;
mod spin3;

use crate::request_trace::RequestTrace;
use crate::sql::{Connection, Databases};
use std::collections::HashSet;
use std::sync::Arc;
use wasmtime::component::{HasData, ResourceTable};

/// What one component may open.
pub struct SqliteCtx {
    pub granted: HashSet<String>,
    pub databases: Databases,
}

/// An open connection, as a guest resource.
pub struct OpenDatabase(Arc<Connection>);

/// Why `open` failed, in terms every version's `error` has.
enum OpenError {
    AccessDenied,
    NoSuchDatabase,
    Io(String),
}

impl SqliteCtx {
    fn open(&self, label: &str, trace: &RequestTrace) -> Result<OpenDatabase, OpenError> {
        if !self.granted.contains(label) {
            return Err(OpenError::AccessDenied);
        }
        let database = self.databases.get(label).ok_or(OpenError::NoSuchDatabase)?;
        let mut connection = database.connect().map_err(OpenError::Io)?;
        if crate::telemetry::enabled() {
            connection.trace_as(trace.clone());
        }
        Ok(OpenDatabase(Arc::new(connection)))
    }
}

pub struct SqliteView<'a> {
    pub table: &'a mut ResourceTable,
    pub ctx: &'a SqliteCtx,
    pub trace: &'a RequestTrace,
}

impl SqliteView<'_> {
    /// Opens a granted database and gives the guest a handle to it; a refusal goes back as the
    /// interface version's own error, a full resource table traps.
    fn open_handle<E: From<OpenError>>(
        &mut self,
        label: &str,
    ) -> wasmtime::Result<Result<wasmtime::component::Resource<OpenDatabase>, E>> {
        Ok(match self.ctx.open(label, self.trace) {
            Ok(open) => Ok(self.table.push(open)?),
            Err(e) => Err(e.into()),
        })
    }

    /// The connection behind a guest's handle (`None`: not a live connection).
    fn connection(
        &self,
        handle: &wasmtime::component::Resource<OpenDatabase>,
    ) -> Option<Arc<Connection>> {
        self.table.get(handle).ok().map(|open| open.0.clone())
    }
}

pub struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

/// Both interface versions declare the same `error`, `value`, `row-result` and
/// `query-result`, so bindgen makes two sets of identical Rust types; this writes their
/// conversions to and from `sql`'s once: `to_sql`, `from_sql`, `query_result`, and
/// `From<OpenError> for Error`, in the module that invokes it.
macro_rules! conversions {
    ($interface:path) => {
        use $interface::{Error, QueryResult, RowResult, Value};

        impl From<super::OpenError> for Error {
            fn from(e: super::OpenError) -> Self {
                match e {
                    super::OpenError::AccessDenied => Error::AccessDenied,
                    super::OpenError::NoSuchDatabase => Error::NoSuchDatabase,
                    super::OpenError::Io(message) => Error::Io(message),
                }
            }
        }

        fn to_sql(value: Value) -> crate::sql::Value {
            match value {
                Value::Integer(i) => crate::sql::Value::Integer(i),
                Value::Real(r) => crate::sql::Value::Real(r),
                Value::Text(t) => crate::sql::Value::Text(t),
                Value::Blob(b) => crate::sql::Value::Blob(b),
                Value::Null => crate::sql::Value::Null,
            }
        }

        fn from_sql(value: crate::sql::Value) -> Value {
            match value {
                crate::sql::Value::Integer(i) => Value::Integer(i),
                crate::sql::Value::Real(r) => Value::Real(r),
                crate::sql::Value::Text(t) => Value::Text(t),
                crate::sql::Value::Blob(b) => Value::Blob(b),
                crate::sql::Value::Null => Value::Null,
            }
        }

        fn rows(result: crate::sql::QueryResult) -> (Vec<String>, Vec<RowResult>) {
            let rows = result
                .rows
                .into_iter()
                .map(|row| RowResult {
                    values: row.into_iter().map(from_sql).collect(),
                })
                .collect();
            (result.columns, rows)
        }

        /// `execute` on a guest's connection (`None`: not a live one), the same in both versions.
        async fn execute(
            connection: Option<std::sync::Arc<crate::sql::Connection>>,
            statement: String,
            parameters: Vec<Value>,
        ) -> Result<QueryResult, Error> {
            let connection = connection.ok_or(Error::InvalidConnection)?;
            let parameters = parameters.into_iter().map(to_sql).collect();
            let result = connection
                .execute(statement, parameters)
                .await
                .map_err(Error::Io)?;
            let (columns, rows) = rows(result);
            Ok(QueryResult { columns, rows })
        }
    };
}
use conversions;
