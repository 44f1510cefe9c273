//! `spin:sqlite/sqlite@3.1.0` (a 3.0.0 import is served by it): the same calls as 2.0.0 plus
//! `last-insert-rowid` and `changes`, and their `async` forms, whose rows come as a stream.

use super::{OpenDatabase, Sqlite, SqliteView, conversions};
use crate::host::bindings::spin::sqlite::sqlite::{self, HostConnectionWithStore};
use crate::sql;
use std::sync::Arc;
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

conversions!(crate::host::bindings::spin::sqlite::sqlite);

/// A bad handle on the calls that have no error to report it with traps, as in Spin.
fn live(connection: Option<Arc<sql::Connection>>) -> wasmtime::Result<Arc<sql::Connection>> {
    connection.ok_or_else(|| wasmtime::format_err!("not a live sqlite connection"))
}

impl sqlite::Host for SqliteView<'_> {}

impl sqlite::HostConnection for SqliteView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<OpenDatabase>, Error>> {
        self.open_handle(&database)
    }

    async fn execute(
        &mut self,
        handle: Resource<OpenDatabase>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        Ok(execute(self.connection(&handle), statement, parameters).await)
    }

    async fn last_insert_rowid(&mut self, handle: Resource<OpenDatabase>) -> wasmtime::Result<i64> {
        let connection = live(self.connection(&handle))?;
        Ok(connection.last_insert_rowid().await.unwrap_or(0))
    }

    async fn changes(&mut self, handle: Resource<OpenDatabase>) -> wasmtime::Result<u64> {
        let connection = live(self.connection(&handle))?;
        Ok(connection.changes().await.unwrap_or(0))
    }

    async fn drop(&mut self, handle: Resource<OpenDatabase>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

fn connection_of<U>(
    accessor: &Accessor<U, Sqlite>,
    handle: &Resource<OpenDatabase>,
) -> Option<Arc<sql::Connection>> {
    accessor.with(|mut view| view.get().connection(handle))
}

impl<U> HostConnectionWithStore<U> for Sqlite {
    async fn open_async(
        accessor: &Accessor<U, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<OpenDatabase>, Error>> {
        accessor.with(|mut view| view.get().open_handle(&database))
    }

    async fn execute_async(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenDatabase>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<String>,
                StreamReader<RowResult>,
                FutureReader<Result<(), Error>>,
            ),
            Error,
        >,
    > {
        let Some(connection) = connection_of(accessor, &handle) else {
            return Ok(Err(Error::InvalidConnection));
        };
        let parameters = parameters.into_iter().map(to_sql).collect();
        let result = match connection.execute(statement, parameters).await {
            Ok(result) => result,
            Err(message) => return Ok(Err(Error::Io(message))),
        };
        let (columns, rows) = rows(result);
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, rows)?;
            let done = FutureReader::new(&mut access, async { Ok::<_, wasmtime::Error>(Ok(())) })?;
            Ok(Ok((columns, stream, done)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenDatabase>,
    ) -> wasmtime::Result<i64> {
        let connection = live(connection_of(accessor, &handle))?;
        Ok(connection.last_insert_rowid().await.unwrap_or(0))
    }

    async fn changes_async(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenDatabase>,
    ) -> wasmtime::Result<u64> {
        let connection = live(connection_of(accessor, &handle))?;
        Ok(connection.changes().await.unwrap_or(0))
    }
}
