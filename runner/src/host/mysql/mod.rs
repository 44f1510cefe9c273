//! MySQL for guests (Spin's outbound MySQL): `open` checks the address against the
//! component's `allowed_outbound_hosts` (its scheme, host and port, 3306 by default) and takes
//! a connection from the app's pool for that address (`pools`), which the guest holds as a
//! resource until it drops it (the connection then goes back to the pool). Statements and
//! rows go through `client`; values and column types are Spin's (`conversions!`). Every
//! failure is the interface's own `error`: a refused address, an unreachable server or wrong
//! credentials are `connection-failed`, a statement the server rejects is `query-failed`.
//! One module per interface sits beside this one: `spin2` (`fermyon:spin/mysql@2.0.0`, Spin 2
//! and 3 SDKs) and `spin3` (`spin:mysql/mysql@3.0.0`, Spin 4 SDKs).

mod client;
mod pools;
mod spin2;
mod spin3;

pub use pools::MysqlPools;

use crate::allowed_hosts::AllowList;
use crate::host::logging::ComponentLog;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use wasmtime::component::{HasData, Resource, ResourceTable};

/// How long `open` waits for a connection (a new one, or a free one from a full pool).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A guest's open connection, taken from its address's pool.
pub struct OpenConnection(Arc<Mutex<mysql_async::Conn>>);

pub struct MysqlView<'a> {
    pub table: &'a mut ResourceTable,
    pub pools: &'a Arc<MysqlPools>,
    pub allowed: &'a Arc<AllowList>,
    pub log: &'a ComponentLog,
}

/// What `open` needs, apart from the view (an `async func` cannot hold the view across its
/// awaits).
struct Opener {
    pools: Arc<MysqlPools>,
    allowed: Arc<AllowList>,
    log: ComponentLog,
}

impl Opener {
    /// A connection to `address`, or the `connection-failed` message.
    async fn open(self, address: &str) -> Result<OpenConnection, String> {
        let denied = || format!("address {address} is not permitted");
        let url = url::Url::parse(address).map_err(|_| denied())?;
        let host = url.host_str().ok_or_else(denied)?;
        if !self.allowed.allows(url.scheme(), host, url.port()) {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            self.log.warn(format_args!(
                "mysql connection to {}://{host}{port} denied: not in allowed_outbound_hosts",
                url.scheme()
            ));
            return Err(denied());
        }
        let pool = self.pools.pool(&url)?;
        match tokio::time::timeout(OPEN_TIMEOUT, pool.get_conn()).await {
            Ok(Ok(connection)) => Ok(OpenConnection(Arc::new(Mutex::new(connection)))),
            Ok(Err(e)) => Err(client::describe(e)),
            Err(_) => Err(format!("no connection within {}s", OPEN_TIMEOUT.as_secs())),
        }
    }
}

impl MysqlView<'_> {
    fn opener(&self) -> Opener {
        Opener {
            pools: self.pools.clone(),
            allowed: self.allowed.clone(),
            log: self.log.clone(),
        }
    }

    /// The connection behind a guest's handle (`None`: not a live connection).
    fn connection(
        &self,
        handle: &Resource<OpenConnection>,
    ) -> Option<Arc<Mutex<mysql_async::Conn>>> {
        self.table.get(handle).ok().map(|open| open.0.clone())
    }
}

pub struct Mysql;

impl HasData for Mysql {
    type Data<'a> = MysqlView<'a>;
}

/// Both interface versions declare the same `error`, `parameter-value`, `db-value`,
/// `db-data-type` and `column` (2.0.0 in `rdbms-types`), so bindgen makes two sets of
/// identical Rust types; this writes, once, in the module that invokes it: `to_mysql` (a
/// parameter), `execute` and `query` on a guest's connection, and `From<client::Failure>`.
macro_rules! conversions {
    ($types:path) => {
        use super::client::{self, Kind};
        use $types::{Column, DbDataType, DbValue, Error, ParameterValue};

        type Shared = std::sync::Arc<tokio::sync::Mutex<mysql_async::Conn>>;

        impl From<client::Failure> for Error {
            fn from(failure: client::Failure) -> Self {
                match failure {
                    client::Failure::Query(message) => Error::QueryFailed(message),
                    client::Failure::Read(message) => Error::Other(message),
                }
            }
        }

        fn no_connection() -> Error {
            Error::ConnectionFailed("no connection found".into())
        }

        fn to_mysql(value: ParameterValue) -> mysql_async::Value {
            use mysql_async::Value;
            match value {
                ParameterValue::Boolean(v) => Value::from(v),
                ParameterValue::Int8(v) => Value::from(v),
                ParameterValue::Int16(v) => Value::from(v),
                ParameterValue::Int32(v) => Value::from(v),
                ParameterValue::Int64(v) => Value::from(v),
                ParameterValue::Uint8(v) => Value::from(v),
                ParameterValue::Uint16(v) => Value::from(v),
                ParameterValue::Uint32(v) => Value::from(v),
                ParameterValue::Uint64(v) => Value::from(v),
                ParameterValue::Floating32(v) => Value::from(v),
                ParameterValue::Floating64(v) => Value::from(v),
                ParameterValue::Str(v) => Value::from(v),
                ParameterValue::Binary(v) => Value::from(v),
                ParameterValue::DbNull => Value::NULL,
            }
        }

        fn data_type(kind: Kind) -> DbDataType {
            match kind {
                Kind::Int8 => DbDataType::Int8,
                Kind::Int16 => DbDataType::Int16,
                Kind::Int32 => DbDataType::Int32,
                Kind::Int64 => DbDataType::Int64,
                Kind::Uint8 => DbDataType::Uint8,
                Kind::Uint16 => DbDataType::Uint16,
                Kind::Uint32 => DbDataType::Uint32,
                Kind::Uint64 => DbDataType::Uint64,
                Kind::Floating32 => DbDataType::Floating32,
                Kind::Floating64 => DbDataType::Floating64,
                Kind::Str => DbDataType::Str,
                Kind::Binary => DbDataType::Binary,
                Kind::Other => DbDataType::Other,
            }
        }

        /// One value of a column of `kind`; NULL is `db-null` whatever the column.
        fn db_value(
            value: mysql_async::Value,
            kind: Kind,
            column: &mysql_async::Column,
        ) -> Result<DbValue, Error> {
            fn take<T: mysql_async::prelude::FromValue>(
                value: mysql_async::Value,
            ) -> Result<T, Error> {
                mysql_async::from_value_opt(value)
                    .map_err(|e| Error::ValueConversionFailed(e.to_string()))
            }
            if value == mysql_async::Value::NULL {
                return Ok(DbValue::DbNull);
            }
            Ok(match kind {
                Kind::Int8 => DbValue::Int8(take(value)?),
                Kind::Int16 => DbValue::Int16(take(value)?),
                Kind::Int32 => DbValue::Int32(take(value)?),
                Kind::Int64 => DbValue::Int64(take(value)?),
                Kind::Uint8 => DbValue::Uint8(take(value)?),
                Kind::Uint16 => DbValue::Uint16(take(value)?),
                Kind::Uint32 => DbValue::Uint32(take(value)?),
                Kind::Uint64 => DbValue::Uint64(take(value)?),
                Kind::Floating32 => DbValue::Floating32(take(value)?),
                Kind::Floating64 => DbValue::Floating64(take(value)?),
                Kind::Str => DbValue::Str(take(value)?),
                Kind::Binary => DbValue::Binary(take(value)?),
                Kind::Other => {
                    return Err(Error::ValueConversionFailed(format!(
                        "column `{}` is of MySQL type {:?}, which has no Spin value; \
                         convert it in the query (e.g. CAST({} AS CHAR))",
                        column.name_str(),
                        column.column_type(),
                        column.name_str(),
                    )));
                }
            })
        }

        /// `execute` on a guest's connection (`None`: not a live one).
        async fn execute(
            connection: Option<Shared>,
            statement: String,
            parameters: Vec<ParameterValue>,
        ) -> Result<(), Error> {
            let connection = connection.ok_or_else(no_connection)?;
            let parameters = parameters.into_iter().map(to_mysql).collect();
            client::execute(&connection, statement, parameters)
                .await
                .map_err(Error::QueryFailed)
        }

        /// `query` on a guest's connection: its columns and rows, read in full.
        async fn query(
            connection: Option<Shared>,
            statement: String,
            parameters: Vec<ParameterValue>,
        ) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), Error> {
            let connection = connection.ok_or_else(no_connection)?;
            let parameters = parameters.into_iter().map(to_mysql).collect();
            let fetched = client::fetch(&connection, statement, parameters).await?;
            let kinds: Vec<Kind> = fetched.columns.iter().map(client::kind).collect();
            let mut rows = Vec::with_capacity(fetched.rows.len());
            for row in fetched.rows {
                let values = row.unwrap();
                let mut converted = Vec::with_capacity(values.len());
                for ((value, kind), column) in values.into_iter().zip(&kinds).zip(&fetched.columns)
                {
                    converted.push(db_value(value, *kind, column)?);
                }
                rows.push(converted);
            }
            let columns = fetched
                .columns
                .iter()
                .zip(kinds)
                .map(|(column, kind)| Column {
                    name: column.name_str().into_owned(),
                    data_type: data_type(kind),
                })
                .collect();
            Ok((columns, rows))
        }
    };
}
use conversions;
