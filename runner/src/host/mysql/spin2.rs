//! `fermyon:spin/mysql@2.0.0` (its types in `fermyon:spin/rdbms-types@2.0.0`): open a
//! connection, `execute` a statement, `query` for a row-set.

use super::{MysqlView, OpenConnection, conversions};
use crate::host::bindings::fermyon::spin::mysql;
use crate::host::bindings::fermyon::spin::rdbms_types::RowSet;
use wasmtime::component::Resource;

conversions!(crate::host::bindings::fermyon::spin::rdbms_types);

impl mysql::Host for MysqlView<'_> {}

impl mysql::HostConnection for MysqlView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        Ok(match self.opener().open(&address).await {
            Ok(connection) => Ok(self.table.push(connection)?),
            Err(message) => Err(Error::ConnectionFailed(message)),
        })
    }

    async fn query(
        &mut self,
        handle: Resource<OpenConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let result = query(self.connection(&handle), statement, params).await;
        Ok(result.map(|(columns, rows)| RowSet { columns, rows }))
    }

    async fn execute(
        &mut self,
        handle: Resource<OpenConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(execute(self.connection(&handle), statement, params).await)
    }

    async fn drop(&mut self, handle: Resource<OpenConnection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
