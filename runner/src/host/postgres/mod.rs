//! PostgreSQL for guests (Spin's outbound PostgreSQL): what a component may connect to (every
//! host its connection string names must be in `allowed_outbound_hosts`, scheme `postgres`;
//! anything else is `connection-failed`, before anything connects, as in Spin), the
//! connections guests hold (taken from the app's pools, `pool`; back to the pool when the
//! guest drops them or its instance ends), and running statements on them. Values and errors
//! are `spin:postgres@4.2.0`'s here; one module per interface sits beside this one and converts:
//! `spin2` (`fermyon:spin/postgres@2.0.0`, Spin 2 SDKs), `spin3` (`spin:postgres@3.0.0`) and
//! `spin4` (`spin:postgres@4.2.0`, which also serves 4.0.0 and 4.1.0 imports).

// 4.x's `error` carries the server's error in its parts; it is what every call returns to the
// guest, so it travels as is rather than boxed.
#![allow(clippy::result_large_err)]

mod address;
mod pool;
mod spin2;
mod spin3;
mod spin4;
mod values;

pub use pool::PgPools;

use crate::allowed_hosts::AllowList;
use crate::host::bindings::spin::postgres4_2_0::postgres as v4;
use crate::host::logging::ComponentLog;
use crate::request_trace::RequestTrace;
use pool::CaRoot;
use std::sync::Arc;
use tracing::Instrument;
use values::Param;
use wasmtime::component::{HasData, Resource, ResourceTable};

/// The most a query's rows may hold in the host at once, as in Spin (128 MiB).
const MAX_RESULT_BYTES: usize = 128 << 20;

/// What one component may reach, and the app's pools it reaches it through.
pub struct PostgresCtx {
    pub allowed: Arc<AllowList>,
    pub pools: Arc<PgPools>,
    pub log: ComponentLog,
}

/// An open connection, as a guest resource: a pooled connection, back to its pool when the
/// last holder (the guest's handle, or a statement still running) lets go of it.
#[derive(Clone)]
pub struct PgConnection(Arc<deadpool_postgres::Object>);

/// A connection being set up (`connection-builder`, 4.1.0 on): its address and CA root.
pub struct PgConnectionBuilder {
    address: String,
    ca_root: Option<CaRoot>,
}

impl PostgresCtx {
    /// A connection to `address`: refused unless every host it names is allowed; then one
    /// from the pool for `address` (and `ca_root`).
    async fn connect(
        &self,
        address: &str,
        ca_root: Option<&CaRoot>,
    ) -> Result<PgConnection, v4::Error> {
        let config: tokio_postgres::Config = address
            .parse()
            .map_err(|e| v4::Error::ConnectionFailed(format!("invalid connection string: {e}")))?;
        let targets = address::targets(&config).map_err(v4::Error::ConnectionFailed)?;
        if let Some(target) = address::denied(&self.allowed, &targets) {
            self.log.warn(format_args!(
                "postgres connection to {target} denied: not in allowed_outbound_hosts"
            ));
            return Err(v4::Error::ConnectionFailed(format!(
                "address postgres://{target} is not permitted"
            )));
        }
        let object = self
            .pools
            .connection(address, config, ca_root)
            .await
            .map_err(v4::Error::ConnectionFailed)?;
        Ok(PgConnection(Arc::new(object)))
    }
}

impl PgConnection {
    /// Prepares `statement` (so the server types the parameters) and converts `params` to
    /// those types.
    async fn prepare(
        &self,
        statement: &str,
        params: Vec<v4::ParameterValue>,
    ) -> Result<(tokio_postgres::Statement, Vec<Param>), v4::Error> {
        let params = params
            .into_iter()
            .map(Param::from_wit)
            .collect::<Result<Vec<_>, _>>()
            .map_err(v4::Error::BadParameter)?;
        let prepared = self.0.prepare(statement).await.map_err(query_failed)?;
        if prepared.params().len() != params.len() {
            return Err(v4::Error::BadParameter(format!(
                "the statement takes {} parameters, {} given",
                prepared.params().len(),
                params.len()
            )));
        }
        Ok((prepared, params))
    }

    /// Starts a statement that returns rows: its columns, and its rows as the server sends
    /// them.
    async fn start_query(
        &self,
        statement: &str,
        params: Vec<v4::ParameterValue>,
    ) -> Result<(Vec<v4::Column>, tokio_postgres::RowStream), v4::Error> {
        let (prepared, params) = self.prepare(statement, params).await?;
        let columns = prepared
            .columns()
            .iter()
            .map(|c| v4::Column {
                name: c.name().to_string(),
                data_type: values::data_type(c.type_()),
            })
            .collect();
        let rows = self
            .0
            .query_raw(&prepared, params.iter())
            .await
            .map_err(query_failed)?;
        Ok((columns, rows))
    }

    /// Runs a statement that returns rows: its columns and every row.
    async fn query(
        &self,
        statement: &str,
        params: Vec<v4::ParameterValue>,
        trace: &RequestTrace,
    ) -> Result<v4::RowSet, v4::Error> {
        use futures::TryStreamExt;
        async {
            let (columns, rows) = self.start_query(statement, params).await?;
            let mut rows = std::pin::pin!(rows);
            let mut held = 0;
            let mut out = Vec::new();
            while let Some(row) = rows.try_next().await.map_err(query_failed)? {
                let values = row_values(&row)?;
                held += values.iter().map(values::size).sum::<usize>();
                if held > MAX_RESULT_BYTES {
                    return Err(v4::Error::QueryFailed(v4::QueryError::Text(format!(
                        "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
                    ))));
                }
                out.push(values);
            }
            Ok(v4::RowSet { columns, rows: out })
        }
        .instrument(trace.child("postgres.query"))
        .await
    }

    /// Runs a statement that returns rows, for `query-async`: its columns once it runs, then
    /// its rows as they arrive (through a small channel, so the server is read as fast as the
    /// guest reads, and no faster), then how it ended. A guest that stops reading ends it.
    async fn query_streamed(
        &self,
        statement: &str,
        params: Vec<v4::ParameterValue>,
        trace: &RequestTrace,
    ) -> Result<StreamedRows, v4::Error> {
        use futures::StreamExt;
        let span = trace.child("postgres.query");
        let (columns, rows) = self
            .start_query(statement, params)
            .instrument(span.clone())
            .await?;
        let (send, rows_out) = tokio::sync::mpsc::channel(16);
        let (ended, end) = tokio::sync::oneshot::channel();
        let connection = self.clone();
        let forward = async move {
            // The connection stays out of the pool until the last row is read.
            let _connection = connection;
            let mut rows = std::pin::pin!(rows);
            let outcome = loop {
                let next = tokio::select! {
                    next = rows.next() => next,
                    _ = send.closed() => break Ok(()),
                };
                let row = match next {
                    None => break Ok(()),
                    Some(Err(e)) => break Err(query_failed(e)),
                    Some(Ok(row)) => match row_values(&row) {
                        Ok(values) => values,
                        Err(e) => break Err(e),
                    },
                };
                if send.send(row).await.is_err() {
                    break Ok(());
                }
            };
            let _ = ended.send(outcome);
        };
        tokio::spawn(forward.instrument(span));
        Ok(StreamedRows {
            columns,
            rows: rows_out,
            end,
        })
    }

    /// Runs a statement for its effect: how many rows it affected.
    async fn execute(
        &self,
        statement: &str,
        params: Vec<v4::ParameterValue>,
        trace: &RequestTrace,
    ) -> Result<u64, v4::Error> {
        async {
            let (prepared, params) = self.prepare(statement, params).await?;
            self.0
                .execute_raw(&prepared, params.iter())
                .await
                .map_err(query_failed)
        }
        .instrument(trace.child("postgres.execute"))
        .await
    }
}

/// A row's values, or why one cannot be read.
fn row_values(row: &tokio_postgres::Row) -> Result<Vec<v4::DbValue>, v4::Error> {
    (0..row.len())
        .map(|i| values::value(row, i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(v4::Error::ValueConversionFailed)
}

/// A query whose rows are still coming (`query-async`).
struct StreamedRows {
    columns: Vec<v4::Column>,
    rows: tokio::sync::mpsc::Receiver<v4::Row>,
    /// How the query ended, once every row is sent.
    end: tokio::sync::oneshot::Receiver<Result<(), v4::Error>>,
}

/// A statement's failure: the server's error in its parts where there is one (4.x's
/// `db-error`, its extras named as Spin names them; older versions get `as-text`), else the
/// driver's words.
fn query_failed(e: tokio_postgres::Error) -> v4::Error {
    use tokio_postgres::error::ErrorPosition;
    let text = pool::error_chain(&e);
    v4::Error::QueryFailed(match e.as_db_error() {
        None => v4::QueryError::Text(text),
        Some(db) => {
            let mut extras = Vec::new();
            let mut extra = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    extras.push((name.to_string(), value));
                }
            };
            extra("column", db.column().map(str::to_string));
            extra("constraint", db.constraint().map(str::to_string));
            extra("routine", db.routine().map(str::to_string));
            extra("hint", db.hint().map(str::to_string));
            extra("table", db.table().map(str::to_string));
            extra("datatype", db.datatype().map(str::to_string));
            extra("schema", db.schema().map(str::to_string));
            extra("file", db.file().map(str::to_string));
            extra("line", db.line().map(|l| l.to_string()));
            extra("where_", db.where_().map(str::to_string));
            match db.position() {
                Some(ErrorPosition::Original(at)) => extra("position", Some(at.to_string())),
                Some(ErrorPosition::Internal { position, query }) => {
                    extra("internal_position", Some(position.to_string()));
                    extra("internal_query", Some(query.clone()));
                }
                None => {}
            }
            v4::QueryError::DbError(v4::DbError {
                as_text: text,
                severity: db.severity().to_string(),
                code: db.code().code().to_string(),
                message: db.message().to_string(),
                detail: db.detail().map(str::to_string),
                extras,
            })
        }
    })
}

/// A 4.x query error as the text older versions carry.
fn query_error_text(error: v4::QueryError) -> String {
    match error {
        v4::QueryError::Text(text) => text,
        v4::QueryError::DbError(db) => db.as_text,
    }
}

pub struct PostgresView<'a> {
    pub table: &'a mut ResourceTable,
    pub ctx: &'a Arc<PostgresCtx>,
    pub trace: &'a RequestTrace,
}

impl PostgresView<'_> {
    /// Connects and gives the guest a handle; a refusal or failure goes back as the version's
    /// error, a full resource table traps.
    async fn open<E: From<v4::Error>>(
        &mut self,
        address: &str,
        ca_root: Option<&CaRoot>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, E>> {
        Ok(match self.ctx.connect(address, ca_root).await {
            Ok(connection) => Ok(self.table.push(connection)?),
            Err(e) => Err(e.into()),
        })
    }

    /// The connection behind a guest's handle (an error, never a trap: every version's calls
    /// have an error to say it with).
    fn connection(&self, handle: &Resource<PgConnection>) -> Result<PgConnection, v4::Error> {
        self.table
            .get(handle)
            .cloned()
            .map_err(|_| v4::Error::ConnectionFailed("not a live connection".into()))
    }
}

pub struct Postgres;

impl HasData for Postgres {
    type Data<'a> = PostgresView<'a>;
}
