//! `fermyon:spin/sqlite@2.0.0`: open a granted database, run a statement, get its rows.

use super::{OpenDatabase, OpenError, SqliteView};
use crate::host::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::sql;
use wasmtime::component::Resource;

impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::AccessDenied => Error::AccessDenied,
            OpenError::NoSuchDatabase => Error::NoSuchDatabase,
            OpenError::Io(message) => Error::Io(message),
        }
    }
}

pub(super) fn to_sql(value: Value) -> sql::Value {
    match value {
        Value::Integer(i) => sql::Value::Integer(i),
        Value::Real(r) => sql::Value::Real(r),
        Value::Text(t) => sql::Value::Text(t),
        Value::Blob(b) => sql::Value::Blob(b),
        Value::Null => sql::Value::Null,
    }
}

fn from_sql(value: sql::Value) -> Value {
    match value {
        sql::Value::Integer(i) => Value::Integer(i),
        sql::Value::Real(r) => Value::Real(r),
        sql::Value::Text(t) => Value::Text(t),
        sql::Value::Blob(b) => Value::Blob(b),
        sql::Value::Null => Value::Null,
    }
}

impl sqlite::Host for SqliteView<'_> {}

impl sqlite::HostConnection for SqliteView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<OpenDatabase>, Error>> {
        Ok(match self.ctx.open(&database) {
            Ok(open) => Ok(self.table.push(open)?),
            Err(e) => Err(e.into()),
        })
    }

    async fn execute(
        &mut self,
        handle: Resource<OpenDatabase>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let Some(connection) = self.connection(&handle) else {
            return Ok(Err(Error::InvalidConnection));
        };
        let parameters = parameters.into_iter().map(to_sql).collect();
        Ok(connection
            .execute(statement, parameters)
            .await
            .map(|result| QueryResult {
                columns: result.columns,
                rows: result
                    .rows
                    .into_iter()
                    .map(|row| RowResult {
                        values: row.into_iter().map(from_sql).collect(),
                    })
                    .collect(),
            })
            .map_err(Error::Io))
    }

    async fn drop(&mut self, handle: Resource<OpenDatabase>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
