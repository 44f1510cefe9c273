//! `spin:postgres/postgres@3.0.0` (spin-sdk 5's `pg3`): open, query, execute. Its values are
//! 4.x's up to `timestamp`; the types 4.x added come back as `unsupported` (data type
//! `other`), and a server error as its text, as in Spin.

use super::{PgConnection, PostgresView, query_error_text, v4};
use crate::host::bindings::spin::postgres3_0_0::postgres as v3;
use v3::{Column, DbDataType, DbValue, Error, ParameterValue, RowSet};
use wasmtime::component::Resource;

impl From<v4::Error> for Error {
    fn from(e: v4::Error) -> Self {
        match e {
            v4::Error::ConnectionFailed(m) => Error::ConnectionFailed(m),
            v4::Error::BadParameter(m) => Error::BadParameter(m),
            v4::Error::QueryFailed(q) => Error::QueryFailed(query_error_text(q)),
            v4::Error::ValueConversionFailed(m) => Error::ValueConversionFailed(m),
            v4::Error::Other(m) => Error::Other(m),
        }
    }
}

fn parameter(value: ParameterValue) -> v4::ParameterValue {
    use v4::ParameterValue as P;
    match value {
        ParameterValue::Boolean(v) => P::Boolean(v),
        ParameterValue::Int8(v) => P::Int8(v),
        ParameterValue::Int16(v) => P::Int16(v),
        ParameterValue::Int32(v) => P::Int32(v),
        ParameterValue::Int64(v) => P::Int64(v),
        ParameterValue::Floating32(v) => P::Floating32(v),
        ParameterValue::Floating64(v) => P::Floating64(v),
        ParameterValue::Str(v) => P::Str(v),
        ParameterValue::Binary(v) => P::Binary(v),
        ParameterValue::Date(v) => P::Date(v),
        ParameterValue::Time(v) => P::Time(v),
        ParameterValue::Datetime(v) => P::Datetime(v),
        ParameterValue::Timestamp(v) => P::Timestamp(v),
        ParameterValue::DbNull => P::DbNull,
    }
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
        T::Date => DbDataType::Date,
        T::Time => DbDataType::Time,
        T::Datetime => DbDataType::Datetime,
        T::Timestamp => DbDataType::Timestamp,
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
        V::Date(v) => DbValue::Date(v),
        V::Time(v) => DbValue::Time(v),
        V::Datetime(v) => DbValue::Datetime(v),
        V::Timestamp(v) => DbValue::Timestamp(v),
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

impl v3::Host for PostgresView<'_> {}

impl v3::HostConnection for PostgresView<'_> {
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
        let params = params.into_iter().map(parameter).collect();
        let result = match self.connection(&connection) {
            Ok(c) => c.query(&statement, params, self.trace).await,
            Err(e) => Err(e),
        };
        Ok(result.map(row_set).map_err(Error::from))
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let params = params.into_iter().map(parameter).collect();
        let result = match self.connection(&connection) {
            Ok(c) => c.execute(&statement, params, self.trace).await,
            Err(e) => Err(e),
        };
        Ok(result.map_err(Error::from))
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}
