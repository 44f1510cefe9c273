//! SQLite for guests, over the databases in `sql`: what a component may open (only the labels
//! its manifest grants in `sqlite_databases`; anything else is `access-denied`, as in Spin),
//! and the connection guests hold. One module per interface sits beside this one: `spin2`
//! (`fermyon:spin/sqlite@2.0.0`, Spin 2 SDKs) and `spin3` (`spin:sqlite/sqlite@3.1.0`, which
//! also serves 3.0.0 imports: Spin 3 and 4 SDKs).

mod spin2;
mod spin3;

use crate::sql::{Connection, Databases};
use std::collections::HashSet;
use std::sync::Arc;
use wasmtime::component::{HasData, ResourceTable};

/// What one component may open.
pub struct SqliteCtx {
    pub granted: HashSet<String>,
    pub databases: Databases,
}

/// An open connection, as a guest resource.
pub struct OpenDatabase(Arc<Connection>);

/// Why `open` failed, in terms every version's `error` has.
enum OpenError {
    AccessDenied,
    NoSuchDatabase,
    Io(String),
}

impl SqliteCtx {
    fn open(&self, label: &str) -> Result<OpenDatabase, OpenError> {
        if !self.granted.contains(label) {
            return Err(OpenError::AccessDenied);
        }
        let database = self.databases.get(label).ok_or(OpenError::NoSuchDatabase)?;
        let connection = database.connect().map_err(OpenError::Io)?;
        Ok(OpenDatabase(Arc::new(connection)))
    }
}

pub struct SqliteView<'a> {
    pub table: &'a mut ResourceTable,
    pub ctx: &'a SqliteCtx,
}

impl SqliteView<'_> {
    /// The connection behind a guest's handle (`None`: not a live connection).
    fn connection(
        &self,
        handle: &wasmtime::component::Resource<OpenDatabase>,
    ) -> Option<Arc<Connection>> {
        self.table.get(handle).ok().map(|open| open.0.clone())
    }
}

pub struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}
