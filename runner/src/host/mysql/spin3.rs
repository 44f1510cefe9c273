//! `spin:mysql/mysql@3.0.0`: the calls of 2.0.0 as `async func`s; a query's rows come as a
//! stream (read in full first, as SQLite's are), and its future says they all arrived.

use super::{Mysql, MysqlView, OpenConnection, conversions};
use crate::host::bindings::spin::mysql::mysql::{self, HostConnectionWithStore};
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

conversions!(crate::host::bindings::spin::mysql::mysql);

impl mysql::Host for MysqlView<'_> {}

impl mysql::HostConnection for MysqlView<'_> {
    async fn drop(&mut self, handle: Resource<OpenConnection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

fn connection_of<U>(
    accessor: &Accessor<U, Mysql>,
    handle: &Resource<OpenConnection>,
) -> Option<Shared> {
    accessor.with(|mut view| view.get().connection(handle))
}

impl<U> HostConnectionWithStore<U> for Mysql {
    async fn open(
        accessor: &Accessor<U, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        let opener = accessor.with(|mut view| view.get().opener());
        match opener.open(&address).await {
            Ok(connection) => {
                accessor.with(|mut view| Ok(Ok(view.get().table.push(connection)?)))
            }
            Err(message) => Ok(Err(Error::ConnectionFailed(message))),
        }
    }

    async fn query(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<Column>,
                StreamReader<Vec<DbValue>>,
                FutureReader<Result<(), Error>>,
            ),
            Error,
        >,
    > {
        let connection = connection_of(accessor, &handle);
        let (columns, rows) = match query(connection, statement, params).await {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, rows)?;
            let done = FutureReader::new(&mut access, async { Ok::<_, wasmtime::Error>(Ok(())) })?;
            Ok(Ok((columns, stream, done)))
        })
    }

    async fn execute(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let connection = connection_of(accessor, &handle);
        Ok(execute(connection, statement, params).await)
    }
}
