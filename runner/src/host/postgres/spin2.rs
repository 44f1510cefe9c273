//! `fermyon:spin/postgres@2.0.0` (Spin 2 SDKs, spin-sdk 5's `pg`): open, query, execute, with
//! `fermyon:spin/rdbms-types@2.0.0`'s values. Unsigned integers, which PostgreSQL has none of,
//! are refused (`value-conversion-failed`); anything past the integers, floats, strings and
//! bytes comes back as `unsupported` (data type `other`), and a server error as its text, as in
//! Spin. (The conversions are functions, not `From`s: MySQL shares these types.)

use super::{PgConnection, PostgresView, query_error_text, v4};
use crate::host::bindings::fermyon::spin::postgres as v2;
use crate::host::bindings::fermyon::spin::rdbms_types::{
    Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use wasmtime::component::Resource;

fn error(e: v4::Error) -> Error {
    match e {
        v4::Error::ConnectionFailed(m) => Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => Error::BadParameter(m),
        v4::Error::QueryFailed(q) => Error::QueryFailed(query_error_text(q)),
        v4::Error::ValueConversionFailed(m) => Error::ValueConversionFailed(m),
        v4::Error::Other(m) => Error::Other(m),
    }
}

fn parameters(values: Vec<ParameterValue>) -> Result<Vec<v4::ParameterValue>, Error> {
    use v4::ParameterValue as P;
    values
        .into_iter()
        .map(|value| {
            Ok(match value {
                ParameterValue::Boolean(v) => P::Boolean(v),
                ParameterValue::Int8(v) => P::Int8(v),
                ParameterValue::Int16(v) => P::Int16(v),
                ParameterValue::Int32(v) => P::Int32(v),
                ParameterValue::Int64(v) => P::Int64(v),
                ParameterValue::Uint8(_)
                | ParameterValue::Uint16(_)
                | ParameterValue::Uint32(_)
                | ParameterValue::Uint64(_) => {
                    return Err(Error::ValueConversionFailed(
                        "Postgres does not support unsigned integers".into(),
                    ));
                }
                ParameterValue::Floating32(v) => P::Floating32(v),
                ParameterValue::Floating64(v) => P::Floating64(v),
                ParameterValue::Str(v) => P::Str(v),
                ParameterValue::Binary(v) => P::Binary(v),
                ParameterValue::DbNull => P::DbNull,
            })
        })
        .collect()
}

fn data_type(ty: v4::DbDataType) -> DbDataType {
    use v4::DbDataType as T;
    match ty {
        T::Boolean => DbDataType::Boolean,
        T::Int8 => DbDataType::Int8,
        T::Int16 => DbDataType::Int16,
        T::Int32 => DbDataType::Int32,
        T::Int64 => DbDataType::Int64,
        T::Floating32 => DbDataType::Floating32,
        T::Floating64 => DbDataType::Floating64,
        T::Str => DbDataType::Str,
        T::Binary => DbDataType::Binary,
        _ => DbDataType::Other,
    }
}

fn value(value: v4::DbValue) -> DbValue {
    use v4::DbValue as V;
    match value {
        V::Boolean(v) => DbValue::Boolean(v),
        V::Int8(v) => DbValue::Int8(v),
        V::Int16(v) => DbValue::Int16(v),
        V::Int32(v) => DbValue::Int32(v),
        V::Int64(v) => DbValue::Int64(v),
        V::Floating32(v) => DbValue::Floating32(v),
        V::Floating64(v) => DbValue::Floating64(v),
        V::Str(v) => DbValue::Str(v),
        V::Binary(v) => DbValue::Binary(v),
        V::DbNull => DbValue::DbNull,
        _ => DbValue::Unsupported,
    }
}

fn row_set(rows: v4::RowSet) -> RowSet {
    RowSet {
        columns: rows
            .columns
            .into_iter()
            .map(|c| Column {
                name: c.name,
                data_type: data_type(c.data_type),
            })
            .collect(),
        rows: rows
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value).collect())
            .collect(),
    }
}

impl v2::Host for PostgresView<'_> {}

impl v2::HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        Ok(match self.ctx.connect(&address, None).await {
            Ok(connection) => Ok(self.table.push(connection)?),
            Err(e) => Err(error(e)),
        })
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let params = match parameters(params) {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        let result = match self.connection(&connection) {
            Ok(c) => c.query(&statement, params, self.trace).await,
            Err(e) => Err(e),
        };
        Ok(result.map(row_set).map_err(error))
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let params = match parameters(params) {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        let result = match self.connection(&connection) {
            Ok(c) => c.execute(&statement, params, self.trace).await,
            Err(e) => Err(e),
        };
        Ok(result.map_err(error))
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}
