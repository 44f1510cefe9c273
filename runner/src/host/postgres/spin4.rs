//! `spin:postgres/postgres@4.2.0` (a 4.0.0 or 4.1.0 import is served by it): open (directly
//! or through a `connection-builder` with a CA root), query and execute, each also as an
//! `async func` (spin-sdk 7 calls those); `query-async`'s rows stream to the guest as the
//! server sends them, and an error midway ends the stream and fills its future.

use super::pool::CaRoot;
use super::{
    PgConnection, PgConnectionBuilder, Postgres, PostgresCtx, PostgresView, StreamedRows, v4,
};
use crate::request_trace::RequestTrace;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use v4::{Column, Error, ParameterValue, Row, RowSet};
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Accessor, Destination, FutureReader, Resource, StreamProducer, StreamReader, StreamResult,
};

impl v4::Host for PostgresView<'_> {}

impl v4::HostConnectionBuilder for PostgresView<'_> {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<PgConnectionBuilder>> {
        Ok(self.table.push(PgConnectionBuilder {
            address,
            ca_root: None,
        })?)
    }

    async fn set_ca_root(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
        certificate: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let ca_root = match CaRoot::from_pem(&certificate) {
            Ok(ca_root) => ca_root,
            Err(reason) => return Ok(Err(Error::Other(reason))),
        };
        self.table.get_mut(&builder)?.ca_root = Some(ca_root);
        Ok(Ok(()))
    }

    async fn build(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let builder = self.table.get(&builder)?;
        let (address, ca_root) = (builder.address.clone(), builder.ca_root.clone());
        self.open(&address, ca_root.as_ref()).await
    }

    async fn drop(&mut self, builder: Resource<PgConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

impl v4::HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        PostgresView::open(self, &address, None).await
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        Ok(match self.connection(&connection) {
            Ok(c) => c.query(&statement, params, self.trace).await,
            Err(e) => Err(e),
        })
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(match self.connection(&connection) {
            Ok(c) => c.execute(&statement, params, self.trace).await,
            Err(e) => Err(e),
        })
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// What an `async func` needs from the store, taken out so the store is free while the
/// database works.
fn context<U>(accessor: &Accessor<U, Postgres>) -> (Arc<PostgresCtx>, RequestTrace) {
    accessor.with(|mut view| {
        let view = view.get();
        (view.ctx.clone(), view.trace.clone())
    })
}

fn connection_of<U>(
    accessor: &Accessor<U, Postgres>,
    handle: &Resource<PgConnection>,
) -> Result<(PgConnection, RequestTrace), Error> {
    accessor.with(|mut view| {
        let view = view.get();
        Ok((view.connection(handle)?, view.trace.clone()))
    })
}

/// Connects outside the store, then gives the guest its handle.
async fn open_async<U>(
    accessor: &Accessor<U, Postgres>,
    address: &str,
    ca_root: Option<&CaRoot>,
) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
    let (ctx, _) = context(accessor);
    let connection = match ctx.connect(address, ca_root).await {
        Ok(connection) => connection,
        Err(e) => return Ok(Err(e)),
    };
    accessor.with(|mut view| Ok(Ok(view.get().table.push(connection)?)))
}

impl<U> v4::HostConnectionWithStore<U> for Postgres {
    async fn open_async(
        accessor: &Accessor<U, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        open_async(accessor, &address, None).await
    }

    async fn query_async(
        accessor: &Accessor<U, Self>,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<Column>,
                StreamReader<Row>,
                FutureReader<Result<(), Error>>,
            ),
            Error,
        >,
    > {
        let (connection, trace) = match connection_of(accessor, &connection) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let streamed = match connection.query_streamed(&statement, params, &trace).await {
            Ok(streamed) => streamed,
            Err(e) => return Ok(Err(e)),
        };
        let StreamedRows { columns, rows, end } = streamed;
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, Rows(rows))?;
            let done = FutureReader::new(&mut access, async move {
                Ok::<_, wasmtime::Error>(end.await.unwrap_or(Ok(())))
            })?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn execute_async(
        accessor: &Accessor<U, Self>,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let (connection, trace) = match connection_of(accessor, &connection) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        Ok(connection.execute(&statement, params, &trace).await)
    }
}

impl<U> v4::HostConnectionBuilderWithStore<U> for Postgres {
    async fn build_async(
        accessor: &Accessor<U, Self>,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let (address, ca_root) = accessor.with(|mut view| -> wasmtime::Result<_> {
            let builder = view.get().table.get(&builder)?;
            Ok((builder.address.clone(), builder.ca_root.clone()))
        })?;
        open_async(accessor, &address, ca_root.as_ref()).await
    }
}

/// A query's rows for the guest's stream, one at a time as they arrive.
struct Rows(tokio::sync::mpsc::Receiver<Row>);

impl<D> StreamProducer<D> for Rows {
    type Item = Row;
    type Buffer = Option<Row>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<'a, D>,
        mut destination: Destination<'a, Row, Option<Row>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        if destination.remaining(store) == Some(0) {
            // A guest asking whether a row is ready: say yes rather than hold one back.
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        match self.get_mut().0.poll_recv(cx) {
            Poll::Ready(Some(row)) => {
                destination.set_buffer(Some(row));
                Poll::Ready(Ok(StreamResult::Completed))
            }
            Poll::Ready(None) => Poll::Ready(Ok(StreamResult::Dropped)),
            Poll::Pending if finish => Poll::Ready(Ok(StreamResult::Cancelled)),
            Poll::Pending => Poll::Pending,
        }
    }
}
