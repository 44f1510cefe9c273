//! `fermyon:spin/sqlite@2.0.0`: open a granted database, run a statement, get its rows.

use super::{OpenDatabase, SqliteView, conversions};
use crate::host::bindings::fermyon::spin2_0_0::sqlite;
use wasmtime::component::Resource;

conversions!(crate::host::bindings::fermyon::spin2_0_0::sqlite);

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

    async fn drop(&mut self, handle: Resource<OpenDatabase>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
